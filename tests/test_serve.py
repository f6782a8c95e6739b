"""The server config, accounts, roles and ``catchscope serve`` (without a browser)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geo.cli.main import app
from geo.core.errors import NotPermittedError, ServerConfigError, WorkspaceError
from geo.core.workspace import open_workspace
from geo.serve.accounts import (
    Action,
    SignInThrottle,
    authenticate,
    hash_password,
    local_identity,
    verify_password,
)
from geo.serve.config import Role, load_server_config, update_account
from geo.serve.launch import SERVER_CONFIG_ENV, server_command

runner = CliRunner()
HASH = hash_password("a long passphrase", rounds=4)


def _config(tmp_path: Path, body: str, *, workspace: bool = True) -> Path:
    if workspace:
        (tmp_path / "ws" / "layers").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "server.toml"
    path.write_text(body, encoding="utf-8")
    return path


ACCOUNTS = f'''
[[workspaces]]
name = "ws"
path = "ws"

[accounts.vera]
name = "Vera Viewer"
role = "viewer"
password_hash = "{HASH}"

[accounts.eddie]
name = "Eddie Editor"
role = "editor"
password_hash = "{HASH}"
'''


def test_a_valid_config_resolves_workspaces_relative_to_the_file(tmp_path: Path) -> None:
    config = load_server_config(_config(tmp_path, '[server]\nhost = "0.0.0.0"\n' + ACCOUNTS))
    assert config.workspace("ws").path == (tmp_path / "ws").resolve()
    assert config.needs_accounts and config.accounts["vera"].role is Role.VIEWER
    with pytest.raises(ServerConfigError, match=r"No workspace 'other'.*listed: ws"):
        config.workspace("other")


@pytest.mark.parametrize(("body", "message"), [
    ('[server]\nhost = "0.0.0.0"\n', "accounts are required"),
    ('[server]\nport = 0\n', "server.port"),
    ('[server]\nhost = "my server"\n', "give an IP address"),
    ('[accounts.Vera]\nname = "V"\nrole = "viewer"\npassword_hash = "' + HASH + '"\n',
     "user name 'Vera'"),
    ('[accounts.vera]\nname = "V"\nrole = "boss"\npassword_hash = "' + HASH + '"\n',
     "accounts.vera.role"),
    ('[accounts.vera]\nname = "V"\nrole = "viewer"\npassword_hash = "secret"\n',
     "not a bcrypt hash; make one with `catchscope hash-password`"),
    ('[[workspaces]]\nname = "x"\npath = "nowhere"\n', "is not a workspace folder"),
    ('[server\n', "not valid TOML"),
    ('[server]\nsecret = 1\n', "server.secret: unknown field"),
])
def test_a_bad_config_names_the_field(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ServerConfigError, match=re_escape(message)):
        load_server_config(_config(tmp_path, body))


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


def test_sign_in_checks_the_hash_and_fails_alike_for_unknown_names(tmp_path: Path) -> None:
    config = load_server_config(_config(tmp_path, ACCOUNTS))
    who = authenticate(config, " Vera ", "a long passphrase", now=1000.0)
    assert who is not None and who.role is Role.VIEWER and who.author == "vera (Vera Viewer)"
    assert who.expires_at == 1000.0 + 480 * 60 and who.expired(now=1000.0 + 480 * 60)
    assert authenticate(config, "vera", "a wrong passphrase") is None
    assert authenticate(config, "nobody", "a long passphrase") is None
    assert authenticate(config, "../etc", "a long passphrase") is None
    assert not verify_password("x" * 100, HASH)  # past bcrypt's 72 bytes: never matches


def test_roles_allow_what_they_say() -> None:
    from geo.serve.accounts import Identity

    viewer = Identity("v", "V", Role.VIEWER)
    editor = Identity("e", "E", Role.EDITOR)
    assert viewer.can(Action.VIEW) and not viewer.can(Action.EDIT)
    assert not viewer.can(Action.EXPORT_FULL) and not viewer.can(Action.LOCAL_FOLDERS)
    assert editor.can(Action.EDIT) and editor.can(Action.IMPORT_REPORT)
    assert not editor.can(Action.ADMIN) and not editor.can(Action.LOCAL_FOLDERS)
    with pytest.raises(NotPermittedError, match="signed in as viewer: saving an edit is not"):
        viewer.require(Action.EDIT, "saving an edit")
    local = local_identity()
    assert local.local and local.can(Action.LOCAL_FOLDERS) and local.author.endswith("(local)")


def test_passwords_too_short_or_too_long_are_refused() -> None:
    with pytest.raises(ValueError, match="shorter than 10"):
        hash_password("short")
    with pytest.raises(ValueError, match="72 bytes"):
        hash_password("密码" * 20)


def test_repeated_failures_lock_the_user_name_for_a_while() -> None:
    throttle = SignInThrottle(limit=3, window_s=60, lock_s=30)
    for t in (0.0, 1.0, 2.0):
        assert throttle.wait_s("vera", now=t) == 0
        throttle.failed("vera", now=t)
    assert throttle.wait_s("vera", now=3.0) == pytest.approx(29.0)
    assert throttle.wait_s("eddie", now=3.0) == 0
    assert throttle.wait_s("vera", now=40.0) == 0
    throttle.succeeded("vera")
    assert throttle.wait_s("vera", now=3.0) == 0


def test_admin_changes_keep_the_file_valid_and_its_comments(tmp_path: Path) -> None:
    path = _config(tmp_path, "# our accounts\n" + ACCOUNTS)
    config = update_account(path, "olga", name="Olga Observer", role="viewer",
                            password_hash=HASH)
    assert config.accounts["olga"].name == "Olga Observer"
    assert path.read_text(encoding="utf-8").startswith("# our accounts\n")
    update_account(path, "vera", disabled=True)
    assert load_server_config(path).accounts["vera"].disabled
    before = path.read_bytes()
    with pytest.raises(ServerConfigError, match=r"accounts\.vera\.role"):
        update_account(path, "vera", role="boss")
    with pytest.raises(ServerConfigError, match="needs a name, a role and a password"):
        update_account(path, "newbie", role="viewer")
    assert path.read_bytes() == before  # a refused change writes nothing
    assert not list(tmp_path.glob(".server.toml*"))


def test_serve_refuses_a_network_without_accounts(tmp_path: Path) -> None:
    with pytest.raises(ServerConfigError, match="reaches beyond this machine"):
        server_command(None, host="0.0.0.0")
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--dry-run"])
    assert result.exit_code == 1 and "reaches beyond this machine" in result.output


def test_serve_runs_streamlit_with_the_server_settings(tmp_path: Path) -> None:
    path = _config(tmp_path, '[server]\nhost = "0.0.0.0"\nmax_upload_mb = 25\n' + ACCOUNTS)
    command, env = server_command(path, port=8600)
    flags = dict(zip(command[5::2], command[6::2], strict=False))
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("app.py")
    assert flags["--server.address"] == "0.0.0.0" and flags["--server.port"] == "8600"
    assert flags["--server.enableXsrfProtection"] == "true"
    assert flags["--server.enableCORS"] == "true"
    assert flags["--server.maxUploadSize"] == "25"
    assert flags["--server.fileWatcherType"] == "none"
    assert flags["--browser.gatherUsageStats"] == "false"
    assert env[SERVER_CONFIG_ENV] == str(path.resolve())
    local, local_env = server_command(None)
    assert dict(zip(local[5::2], local[6::2], strict=False))["--server.address"] == "127.0.0.1"
    assert SERVER_CONFIG_ENV not in local_env


def test_hash_password_from_stdin_prints_a_hash_only() -> None:
    done = subprocess.run([sys.executable, "-m", "geo.cli.main", "hash-password", "--stdin"],
                          input="correct horse battery\n", capture_output=True, text=True,
                          timeout=60, check=False, env={**os.environ})
    assert done.returncode == 0, done.stderr
    assert verify_password("correct horse battery", done.stdout.strip())
    short = subprocess.run([sys.executable, "-m", "geo.cli.main", "hash-password", "--stdin"],
                           input="short\n", capture_output=True, text=True, timeout=60,
                           check=False)
    assert short.returncode == 1 and "Password refused" in short.stderr
    assert "Traceback" not in short.stderr


def test_a_symlink_out_of_the_workspace_is_refused(demo_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.toml"
    outside.write_text((demo_copy / "layers" / "rivers.toml").read_text(), encoding="utf-8")
    link = demo_copy / "layers" / "stolen.toml"
    link.symlink_to(outside)
    with pytest.raises(WorkspaceError, match=r"layers/stolen\.toml leads out of the workspace"):
        open_workspace(demo_copy)
    link.unlink()
    (demo_copy / "data" / "sites" / "AWS-000521.json").rename(tmp_path / "r.json")
    (demo_copy / "data" / "sites" / "AWS-000521.json").symlink_to(tmp_path / "r.json")
    with pytest.raises(WorkspaceError, match=r"AWS-000521\.json leads out of the workspace"):
        open_workspace(demo_copy)
