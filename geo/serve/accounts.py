"""Signing in and what each role may do.

Passwords are checked with bcrypt (the hash in the server config; never the password).
An unknown user name costs the same time as a wrong password, and repeated failures for
one user name lock it for a while (:class:`SignInThrottle`), so guessing is slow.
"""

from __future__ import annotations

import functools
import getpass
import threading
import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import bcrypt

from geo.core.errors import NotPermittedError
from geo.serve.config import USERNAME_RE, Role, ServerConfig

__all__ = [
    "Action",
    "Identity",
    "SignInThrottle",
    "authenticate",
    "hash_password",
    "local_identity",
    "permitted",
    "verify_password",
]

#: bcrypt reads at most 72 bytes of a password; longer ones are refused, not truncated.
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_CHARS = 10


class Action(StrEnum):
    """Things a user can do that a role may or may not allow."""

    VIEW = "view"  # maps, tables, the checklist, public exports
    EXPORT_FULL = "export_full"  # unredacted exports (true intake and outfall positions)
    EDIT = "edit"  # import data, draw, edit, delete, undo, delineate into a layer
    IMPORT_REPORT = "import_report"  # save site records from AWS reports
    ADMIN = "admin"  # workspaces and accounts
    LOCAL_FOLDERS = "local_folders"  # open any folder on this machine (local mode only)


_VIEWER = frozenset({Action.VIEW})
_EDITOR = _VIEWER | {Action.EXPORT_FULL, Action.EDIT, Action.IMPORT_REPORT}
PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.VIEWER: _VIEWER,
    Role.EDITOR: _EDITOR,
    Role.ADMIN: _EDITOR | {Action.ADMIN},
}


@dataclass(frozen=True)
class Identity:
    """Who is using the app: a signed-in account, or the local user (no sign-in)."""

    username: str
    name: str
    role: Role
    #: Local single-user mode (``make app``): may open any folder of this machine.
    local: bool = False
    #: When the sign-in ends (``time.time()`` seconds); None in local mode.
    expires_at: float | None = None

    def can(self, action: Action) -> bool:
        """True when this user may do ``action``."""
        if action is Action.LOCAL_FOLDERS:
            return self.local
        return action in PERMISSIONS[self.role]

    def require(self, action: Action, what: str) -> None:
        """Refuse ``what`` (a sentence fragment) unless the role allows ``action``."""
        if not self.can(action):
            raise NotPermittedError(
                f"{self.name} signed in as {self.role.value}: {what} is not allowed for this "
                "role. Ask an admin of this server for an editor account.")

    @property
    def author(self) -> str:
        """What the edit history records as the author of a save."""
        if self.local:
            return f"{self.username} (local)"
        return f"{self.username} ({self.name})"

    def expired(self, now: float | None = None) -> bool:
        """True once the sign-in is past its end."""
        return self.expires_at is not None and (now or time.time()) >= self.expires_at


def permitted(role: Role) -> frozenset[Action]:
    """Everything ``role`` may do."""
    return PERMISSIONS[role]


def local_identity() -> Identity:
    """The person at this machine in local single-user mode: every right, no sign-in."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        user = "local"
    return Identity(username=user, name=user, role=Role.ADMIN, local=True)


def hash_password(password: str, *, rounds: int = 12) -> str:
    """The bcrypt hash to store in the server config for ``password``.

    Raises
    ------
    ValueError
        A password shorter than 10 characters or longer than bcrypt's 72 bytes.
    """
    data = password.encode("utf-8")
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"the password is shorter than {MIN_PASSWORD_CHARS} characters")
    if len(data) > MAX_PASSWORD_BYTES:
        raise ValueError(f"the password is longer than {MAX_PASSWORD_BYTES} bytes (bcrypt's "
                         "limit); choose a shorter one")
    return bcrypt.hashpw(data, bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """True when ``password`` matches the stored bcrypt hash."""
    data = password.encode("utf-8", "surrogatepass")
    if len(data) > MAX_PASSWORD_BYTES:
        return False
    try:
        return bcrypt.checkpw(data, password_hash.encode("ascii"))
    except ValueError:  # a malformed hash never matches
        return False


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the user name is unknown, so both cases take as long."""
    return bcrypt.hashpw(b"no such account", bcrypt.gensalt(12)).decode("ascii")


class SignInThrottle:
    """Lock a user name for ``lock_s`` after ``limit`` failed sign-ins within ``window_s``."""

    def __init__(self, limit: int = 5, window_s: float = 300.0, lock_s: float = 60.0) -> None:
        self.limit, self.window_s, self.lock_s = limit, window_s, lock_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, username: str, now: float | None = None) -> float:
        """Seconds before ``username`` may try again (0 when not locked)."""
        now = now or time.monotonic()
        with self._lock:
            failures = self._failures.get(username)
            if not failures or len(failures) < self.limit:
                return 0.0
            return max(0.0, failures[-1] + self.lock_s - now)

    def failed(self, username: str, now: float | None = None) -> None:
        """Record a failed sign-in."""
        now = now or time.monotonic()
        with self._lock:
            failures = self._failures.setdefault(username, deque(maxlen=self.limit))
            while failures and failures[0] < now - self.window_s:
                failures.popleft()
            failures.append(now)

    def succeeded(self, username: str) -> None:
        """Forget the failures of a user who signed in."""
        with self._lock:
            self._failures.pop(username, None)


def authenticate(config: ServerConfig, username: str, password: str,
                 now: float | None = None) -> Identity | None:
    """The identity of ``username`` when ``password`` is theirs, else None.

    Disabled accounts and unknown names fail like a wrong password (and take as long).
    """
    username = username.strip().lower()
    account = config.accounts.get(username) if USERNAME_RE.match(username) else None
    if account is None or account.disabled:
        verify_password(password, _dummy_hash())
        return None
    if not verify_password(password, account.password_hash):
        return None
    expires = (now or time.time()) + config.server.session_minutes * 60
    return Identity(username=username, name=account.name, role=account.role, expires_at=expires)
