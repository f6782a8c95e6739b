"""The Admin tab (admins of a served app): the accounts and workspaces of this server.

Accounts are added, disabled and given roles or new passwords here; each change is
written to the server config (comments kept, validated first) and applies to the
account's open sessions at their next click. Workspaces are listed; adding one is a
line in the config file, kept out of the browser on purpose (it names a server path).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from geo.serve.accounts import Action, Identity, hash_password
from geo.serve.config import Role, update_account
from ui import auth

__all__ = ["panel"]


def panel(who: Identity) -> None:
    """Accounts (add, role, disable, new password) and the listed workspaces."""
    who.require(Action.ADMIN, "managing accounts")
    config = auth.server_config()
    if config is None or config.source is None:
        st.info("Local mode has no accounts: serve with `catchscope serve --config FILE`.")
        return
    st.markdown("**Accounts**")
    st.dataframe(pd.DataFrame([
        {"user": user, "name": account.name, "role": account.role.value,
         "disabled": account.disabled}
        for user, account in sorted(config.accounts.items())]),
        hide_index=True, width="stretch")
    with st.form("admin_account", clear_on_submit=True):
        st.markdown("Add an account, or change one (leave the password empty to keep it)")
        left, middle, right = st.columns(3)
        username = left.text_input("User name", key="admin_user").strip().lower()
        name = middle.text_input("Full name", key="admin_name").strip()
        role = right.selectbox("Role", [r.value for r in Role], key="admin_role")
        password = left.text_input("Password (10+ characters)", type="password",
                                   key="admin_password")
        disabled = middle.checkbox("Disabled (cannot sign in)", key="admin_disabled")
        submitted = st.form_submit_button("Save account")
    if submitted:
        _save(config.source, who, username, name, role, password, disabled)
    st.markdown("**Workspaces on this server**")
    st.dataframe(pd.DataFrame([{"name": e.name, "title": e.label, "folder": str(e.path)}
                               for e in config.workspaces]), hide_index=True, width="stretch")
    st.caption(f"Workspaces are listed in {config.source} ([[workspaces]] tables); users pick "
               "from them and can never type a server path.")


def _save(source: Path, who: Identity, username: str, name: str, role: str,
          password: str, disabled: bool) -> None:
    if username == who.username and (disabled or role != who.role.value):
        st.error("You cannot disable your own account or change your own role.")
        return
    try:
        password_hash = hash_password(password) if password else None
        config = update_account(source, username, name=name or None, role=role,
                                password_hash=password_hash, disabled=disabled)
    except ValueError as err:  # a GeoError for the config, a ValueError for the password
        st.error(f"Account {username!r} not saved: {err}")
        return
    account = config.accounts[username]
    st.success(f"Saved account {username} ({account.role.value}"
               f"{', disabled' if account.disabled else ''}).")
