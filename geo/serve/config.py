"""The server config: where Catchscope is served, which workspaces, which accounts.

A ``server.toml`` (any name; ``catchscope serve --config FILE``)::

    [server]
    host = "0.0.0.0"          # beyond 127.0.0.1: accounts are required
    port = 8501
    session_minutes = 480     # a sign-in lasts this long, then the user signs in again
    max_upload_mb = 50        # Streamlit's upload limit, kept equal to the import limit

    [[workspaces]]            # the only workspaces remote users can open
    name = "jinxi"            # a short id (letters, digits, - and _)
    title = "Jinxi demo"
    path = "/srv/catchscope/jinxi"   # relative paths are relative to this file

    [accounts.alice]          # the user name signs in; passwords are stored hashed only
    name = "Alice Auditor"
    role = "viewer"           # viewer, editor or admin
    password_hash = "$2b$12$…"   # catchscope hash-password

Validated when loaded (pydantic, frozen models): a bad file fails with the file, the
field and what is allowed, before anything is served.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import tomlkit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from geo.core.errors import ServerConfigError
from geo.core.io import atomic_write_bytes

__all__ = [
    "Account",
    "Role",
    "ServerConfig",
    "ServerSettings",
    "WorkspaceEntry",
    "is_loopback",
    "load_server_config",
    "update_account",
]

#: User names: what people type to sign in, and what the edit history records.
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_WORKSPACE_NAME_RE = r"^[a-z0-9][a-z0-9_-]{0,63}$"
#: A bcrypt hash as ``bcrypt.hashpw`` writes it ($2a/$2b/$2y, cost, 53 characters).
_BCRYPT_RE = r"^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$"


class Role(StrEnum):
    """What an account may do; each role may do everything the one before it may."""

    VIEWER = "viewer"  # maps, tables and public (redacted) exports
    EDITOR = "editor"  # + import, draw, edit, undo, report import, full exports
    ADMIN = "admin"  # + workspaces and accounts


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Account(_Model):
    """One account that may sign in."""

    name: Annotated[str, Field(min_length=1, max_length=120)]
    role: Role
    password_hash: Annotated[str, Field(pattern=_BCRYPT_RE)]
    disabled: bool = False


class WorkspaceEntry(_Model):
    """A workspace the server offers (users pick it by title, never type a path)."""

    name: Annotated[str, Field(pattern=_WORKSPACE_NAME_RE)]
    title: Annotated[str, Field(min_length=1, max_length=120)] = ""
    path: Path

    @property
    def label(self) -> str:
        """What the workspace picker shows."""
        return self.title or self.name


class ServerSettings(_Model):
    """The ``[server]`` table."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8501
    session_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 480
    max_upload_mb: Annotated[int, Field(ge=1, le=2000)] = 50

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if value != "localhost":
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError("give an IP address to bind to (127.0.0.1 for this machine "
                                 "only, 0.0.0.0 for every interface) or localhost") from None
        return value


class ServerConfig(_Model):
    """A whole server config file, with workspace paths resolved."""

    server: ServerSettings = ServerSettings()
    workspaces: list[WorkspaceEntry] = []
    accounts: dict[str, Account] = {}
    #: The file it was read from (set by :func:`load_server_config`).
    source: Path | None = None

    @field_validator("accounts")
    @classmethod
    def _usernames(cls, value: dict[str, Account]) -> dict[str, Account]:
        for username in value:
            if not USERNAME_RE.match(username):
                raise ValueError(f"user name {username!r}: use lower-case letters, digits, "
                                 "'.', '-' and '_' (at most 64)")
        return value

    @field_validator("workspaces")
    @classmethod
    def _unique(cls, value: list[WorkspaceEntry]) -> list[WorkspaceEntry]:
        names = [entry.name for entry in value]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"workspace name(s) used twice: {', '.join(duplicated)}")
        return value

    @property
    def needs_accounts(self) -> bool:
        """Serving beyond this machine: nobody may use it without signing in."""
        return not is_loopback(self.server.host)

    def workspace(self, name: str) -> WorkspaceEntry:
        """The listed workspace called ``name`` (users cannot name any other)."""
        for entry in self.workspaces:
            if entry.name == name:
                return entry
        known = ", ".join(e.name for e in self.workspaces) or "none"
        raise ServerConfigError(f"No workspace {name!r} on this server (listed: {known}).")


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _describe(path: Path, err: ValidationError) -> str:
    lines = []
    for problem in err.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(file)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "string_pattern_mismatch" and where.endswith("password_hash"):
            message = "not a bcrypt hash; make one with `catchscope hash-password`"
        elif problem["type"] == "extra_forbidden":
            message = "unknown field"
        lines.append(f"  - {where}: {message}")
    return f"{path}: invalid server config\n" + "\n".join(lines)


def _resolve_workspaces(raw: dict[str, Any], base: Path) -> None:
    for entry in raw.get("workspaces", []) if isinstance(raw.get("workspaces"), list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            entry["path"] = (base / Path(entry["path"]).expanduser()).resolve()


def load_server_config(path: Path | str) -> ServerConfig:
    """Read and validate a server config file.

    Workspace paths are resolved (relative to the file, symlinks followed) and each must
    be a workspace folder (with ``layers/``); the user names must be unique and valid.

    Raises
    ------
    ServerConfigError
        The file is missing, not TOML, or has an invalid field (named with what to do).
    """
    path = Path(path).expanduser()
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ServerConfigError(f"Server config {path} does not exist; see README.md "
                                "(Serving to a network) for an example.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ServerConfigError(f"Server config {path} cannot be read ({err}).") from err
    except tomllib.TOMLDecodeError as err:
        raise ServerConfigError(f"{path}: not valid TOML ({err}).") from err
    _resolve_workspaces(raw, path.resolve().parent)
    try:
        config = ServerConfig.model_validate({**raw, "source": path.resolve()})
    except ValidationError as err:
        raise ServerConfigError(_describe(path, err)) from err
    for entry in config.workspaces:
        if not (entry.path / "layers").is_dir():
            raise ServerConfigError(
                f"{path}: workspace {entry.name!r}: {entry.path} is not a workspace folder "
                "(no layers/ in it); create one with `catchscope init` or fix path.")
    if config.needs_accounts and not any(not a.disabled for a in config.accounts.values()):
        raise ServerConfigError(
            f"{path}: server.host = {config.server.host!r} serves beyond this machine, so "
            "accounts are required: add [accounts.<user>] tables (catchscope hash-password "
            "makes the password hash), or bind to 127.0.0.1.")
    return config


def update_account(path: Path | str, username: str, *, name: str | None = None,
                   role: Role | str | None = None, password_hash: str | None = None,
                   disabled: bool | None = None) -> ServerConfig:
    """Add an account to the config file or change one (the Admin tab, by an admin).

    The file keeps its comments and layout; the new content is validated as a whole
    before it replaces the file (atomically), so a bad value never lands on disk.

    Raises
    ------
    ServerConfigError
        The file is invalid, or the change would make it so (named with the field).
    """
    path = Path(path)
    load_server_config(path)  # the file as it is must be valid to be edited
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    accounts = document.setdefault("accounts", tomlkit.table())
    if username not in accounts:
        if name is None or role is None or password_hash is None:
            raise ServerConfigError(f"A new account ({username!r}) needs a name, a role and a "
                                    "password.")
        accounts[username] = tomlkit.table()
    table = accounts[username]
    for key, value in (("name", name), ("role", role), ("password_hash", password_hash),
                       ("disabled", disabled)):
        if value is not None:
            table[key] = str(value) if isinstance(value, StrEnum) else value
    text = tomlkit.dumps(document)
    check = path.with_name(f".{path.name}.check")
    try:
        check.write_text(text, encoding="utf-8")
        load_server_config(check)
    except ServerConfigError as err:
        raise ServerConfigError(str(err).replace(str(check), str(path))) from None
    finally:
        check.unlink(missing_ok=True)
    atomic_write_bytes(path, text.encode("utf-8"), overwrite=True)
    return load_server_config(path)
