"""A throwaway PostgreSQL + PostGIS server for the tests of the shared edit store.

``postgis_server`` (session scope) initdb's a cluster in a temporary folder with Debian's
``postgresql`` and ``postgresql-postgis`` packages (``make system-deps`` installs them),
starts it on a free port of 127.0.0.1 (password logins over TCP, as a team's server has;
the superuser only over the cluster's own Unix socket), waits until it accepts connections
(a connect loop with a deadline), creates a login role and a database with PostGIS, and
stops the server at the end.  As root (CI), the server runs as Debian's ``postgres`` user,
since PostgreSQL refuses to run as root.  Only when no server can start does a test skip,
saying why; under CI (``CI`` set) it fails instead: there it must run.

``postgis_store`` gives each test its own schema in that database: the lines to put in a
workspace's ``catchscope.toml``.  ``tests/conftest.py`` makes both fixtures available to
every test module.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ADMIN = "catchscope_admin"
USER = "catchscope"
#: The test role's password; tests check that it never shows in a message or log.
PASSWORD = "s3cret-Pa55-word"  # a throwaway cluster's test role
DATABASE = "catchscope"
START_DEADLINE_S = 90.0


@dataclass(frozen=True)
class PostgisServer:
    """A running test server."""

    port: int
    socket_dir: Path
    data_dir: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        """The test role's URL, password included (as a user would write it)."""
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def admin_connect(self, dbname: str = DATABASE):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=ADMIN,
                               dbname=dbname, autocommit=True)


class ServerUnavailable(Exception):
    """No PostgreSQL with PostGIS can start here (the message says why)."""


def _binaries() -> Path:
    """The bin folder of the newest PostgreSQL that has PostGIS installed."""
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        version = Path(initdb).parents[1].name
        control = Path(f"/usr/share/postgresql/{version}/extension/postgis.control")
        found.append((control.exists(), version, Path(initdb).parent))
    with_postgis = sorted((float(v), b) for ok, v, b in found if ok)
    if with_postgis:
        return with_postgis[-1][1]
    if found:
        raise ServerUnavailable("PostgreSQL is installed but PostGIS is not "
                                "(apt-get install postgresql-postgis; make system-deps does)")
    raise ServerUnavailable("PostgreSQL is not installed (apt-get install postgresql "
                            "postgresql-postgis; make system-deps does)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root: then run it as Debian's ``postgres`` user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ServerUnavailable("running as root and there is no 'postgres' user to run "
                                "the server as") from None
    return "postgres"


def start_server() -> PostgisServer:
    """Initialise, start and set up a server; wait until it is ready (with a deadline).

    On any failure nothing is left behind: no process, no folder.
    """
    bindir = _binaries()
    user = _run_as()
    base = Path(tempfile.mkdtemp(prefix="catchscope-pg-"))
    server: PostgisServer | None = None
    try:
        _initdb(bindir, base, user)
        server = _start(bindir, base, user)
        with server.admin_connect("postgres") as con:
            con.execute(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
            con.execute(f"CREATE DATABASE {DATABASE} OWNER {USER}")
        with server.admin_connect() as con:  # PostGIS needs a superuser to install
            con.execute("CREATE EXTENSION postgis")
    except BaseException:
        if server is not None:
            _stop(server)
        shutil.rmtree(base, ignore_errors=True)
        raise
    return server


def _initdb(bindir: Path, base: Path, user: str | None) -> None:
    """A new cluster in ``base/data``: the superuser over the Unix socket only."""
    socket_dir = base / "run"
    socket_dir.mkdir()
    password_file = base / "admin-password"  # initdb wants one for password logins
    password_file.write_text("unused-admin-password\n")
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (base, socket_dir, password_file):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    init = subprocess.run(
        [str(bindir / "initdb"), "-D", str(base / "data"), "-U", ADMIN, "-E", "UTF8",
         "--no-locale", "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256",
         f"--pwfile={password_file}"],
        capture_output=True, text=True, user=user, cwd=base, timeout=120)
    if init.returncode != 0:
        raise ServerUnavailable(f"initdb failed: {init.stderr.strip()[-500:]}")


def _start(bindir: Path, base: Path, user: str | None) -> PostgisServer:
    """Start the server on a free port of 127.0.0.1 and wait until it answers."""
    log_path = base / "server.log"
    for _attempt in range(5):  # a port taken between probe and bind: try another
        port = _free_port()
        with open(log_path, "ab") as log:  # the server keeps its own copy of the descriptor
            process = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(base / "data"), "-p", str(port),
                 "-k", str(base / "run"), "-c", "listen_addresses=127.0.0.1",
                 # the tests kill clients, never the server: its crash safety is not at stake
                 "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=60"],
                stdout=log, stderr=log, user=user, cwd=base, preexec_fn=_stop_with_parent)
        server = PostgisServer(port, base / "run", base / "data", process)
        if _wait_ready(server):
            return server
        _stop(server)
    raise ServerUnavailable("the server did not start: "
                            + log_path.read_text(errors="replace")[-800:])


def _stop_with_parent() -> None:
    """In the server's process before exec: a fast shutdown when the test process dies
    (killed by a timeout, say), so that no server outlives its session."""
    pr_set_pdeathsig = 1  # Linux; after the switch to the server's user, which clears it
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGINT)) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")


def _wait_ready(server: PostgisServer) -> bool:
    """Connect until the server answers (True), dies or the deadline passes (False)."""
    import psycopg

    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            with server.admin_connect("postgres") as con:
                con.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            time.sleep(0.05)  # poll interval of the readiness loop
    return False


def _stop(server: PostgisServer) -> None:
    """Fast shutdown (SIGINT: roll back, disconnect, stop); kill if it hangs."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="session")
def postgis_server() -> Iterator[PostgisServer]:
    """A running PostgreSQL + PostGIS server for this test session (see the module)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        reason = "psycopg is not installed (pip install -e '.[test]')"
        if os.environ.get("CI"):
            pytest.fail(f"PostGIS store tests must run in CI: {reason}")
        pytest.skip(reason)
    try:
        server = start_server()
    except ServerUnavailable as err:
        if os.environ.get("CI"):
            pytest.fail(f"PostGIS store tests must run in CI, but no server starts: {err}")
        pytest.skip(f"no PostgreSQL + PostGIS server can start here: {err}")
    try:
        yield server
    finally:
        _stop(server)
        with contextlib.suppress(OSError):
            shutil.rmtree(server.data_dir.parent, ignore_errors=True)


@dataclass(frozen=True)
class PostgisStore:
    """One test's store: a fresh schema in the test server's database."""

    server: PostgisServer
    schema: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def settings(self) -> str:
        """The ``catchscope.toml`` lines that put a workspace's edit store here."""
        return f'store = "{self.url}"\nstore_schema = "{self.schema}"\n'


@pytest.fixture
def postgis_store(postgis_server: PostgisServer) -> Iterator[PostgisStore]:
    """A schema of its own in the session's server, ``t_<hex>``; it and the test's other
    schemas named ``t_<hex>_…`` (one per copy of a workspace) are dropped afterwards."""
    store = PostgisStore(postgis_server, f"t_{uuid.uuid4().hex[:12]}")
    yield store
    with postgis_server.admin_connect() as con:
        names = con.execute("SELECT nspname FROM pg_namespace WHERE nspname = %s "
                            "OR nspname LIKE %s", (store.schema, f"{store.schema}\\_%")
                            ).fetchall()
        for (name,) in names:
            con.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
