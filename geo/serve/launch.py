"""The Streamlit command that serves the app with a server's settings.

Streamlit's own settings for a server, set on the command line so no local
``.streamlit/config.toml`` can weaken them: XSRF protection on (CORS stays on, its
default), the upload limit equal to the server config's (the importer has its own
limits too), no file watcher (a server does not reload code), no usage statistics,
the viewer toolbar.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from geo.core.errors import ServerConfigError
from geo.serve.config import ServerConfig, ServerSettings, is_loopback, load_server_config

__all__ = ["APP", "SERVER_CONFIG_ENV", "server_command"]

#: The Streamlit script: app.py at the repository root (beside geo/).
APP = Path(__file__).resolve().parents[2] / "app.py"
#: How the app learns the server config (read by ui/auth.py).
SERVER_CONFIG_ENV = "CATCHSCOPE_SERVER_CONFIG"


def server_command(config_path: Path | None, *, host: str | None = None,
                   port: int | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that serve the app.

    Raises
    ------
    ServerConfigError
        The config is invalid, or the address reaches beyond this machine without
        accounts to sign in with.
    """
    config = load_server_config(config_path) if config_path is not None else ServerConfig()
    settings = config.server.model_copy(update={k: v for k, v in
                                                (("host", host), ("port", port)) if v})
    ServerSettings.model_validate(settings.model_dump())  # --host / --port checked too
    if not is_loopback(settings.host) and not any(
            not account.disabled for account in config.accounts.values()):
        raise ServerConfigError(
            f"Serving on {settings.host} reaches beyond this machine: give a server config "
            "with accounts (--config server.toml; README: Serving to a network), or serve on "
            "127.0.0.1.")
    if not APP.exists():
        raise ServerConfigError(f"The app script {APP} is missing; reinstall Catchscope from "
                                "its repository (pip install -e .).")
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", settings.host,
        "--server.port", str(settings.port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--server.enableXsrfProtection", "true",
        "--server.enableCORS", "true",
        "--server.maxUploadSize", str(settings.max_upload_mb),
        # no full collection after every run: it was a quarter of the server's CPU under
        # 20 viewers (bench/bench_serve_protocol.py); Python's own collector still runs
        "--runner.postScriptGC", "false",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
        "--client.showErrorDetails", "none",
    ]
    env = dict(os.environ)
    env.pop(SERVER_CONFIG_ENV, None)
    if config.source is not None:
        env[SERVER_CONFIG_ENV] = str(config.source)
    return command, env
