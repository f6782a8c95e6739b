"""Serving Catchscope to people who are not us: the server config, accounts and roles.

``server.toml`` names the workspaces remote users may open and the accounts that may sign
in (hashed passwords, one role each: viewer, editor, admin). What a role may do is decided
here, once, for the app and the CLI alike; the Streamlit sign-in page is in ``ui/auth.py``.

May import: ``geo.core``.
"""

__all__: list[str] = []
