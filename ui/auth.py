"""Who is using the app: local single-user mode, or a signed-in account of a server.

Local mode (``make app``: no server config) needs no sign-in: the person at the machine
may do everything, including opening any folder. Served mode (``catchscope serve
--config server.toml`` sets ``CATCHSCOPE_SERVER_CONFIG``) shows the sign-in page and
nothing else until a user signs in; a sign-in lasts ``session_minutes`` and ends at
*Sign out*, or as soon as the account is removed, disabled or given another role in the
config. The session lives on the server (Streamlit's session state): reloading the
page asks to sign in again, and no password or token is ever stored in the browser.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from geo.core.errors import GeoError
from geo.serve.accounts import Action, Identity, SignInThrottle, authenticate, local_identity
from geo.serve.config import ServerConfig, load_server_config
from geo.serve.launch import SERVER_CONFIG_ENV
from ui import i18n
from ui.i18n import _

__all__ = ["SERVER_CONFIG_ENV", "current", "identity", "require", "server_config",
           "sign_out_button"]

_KEY = "identity"


@st.cache_resource(show_spinner=False, max_entries=4)
def _load(path: str, mtime: float) -> ServerConfig:
    return load_server_config(path)


@st.cache_resource(show_spinner=False)
def _throttle() -> SignInThrottle:
    """One throttle per server process: failures count across sessions."""
    return SignInThrottle()


def server_config() -> ServerConfig | None:
    """The server config (re-read when the file changes), or None in local mode."""
    path = os.environ.get(SERVER_CONFIG_ENV)
    if not path:
        return None
    try:
        return _load(path, Path(path).stat().st_mtime)
    except (GeoError, OSError) as err:
        # Never fall back to local mode on a broken config: that would open everything.
        st.error(_("This server's configuration cannot be used: {error}").format(error=err))
        st.stop()
        raise  # unreachable: st.stop() ends the script run


def _still_valid(who: Identity, config: ServerConfig) -> str | None:
    """Why a signed-in session must end now (None when it may go on)."""
    account = config.accounts.get(who.username)
    if who.expired():
        return _("Your session has expired. Sign in again.")
    if account is None or account.disabled or account.role is not who.role:
        return _("Your account was changed on the server. Sign in again.")
    return None


def identity() -> Identity:
    """The current user; in served mode, shows the sign-in page and stops until signed in."""
    config = server_config()
    if config is None or not config.accounts:  # this machine only (the config says so)
        who = st.session_state.get(_KEY)
        if not isinstance(who, Identity) or not who.local:
            who = st.session_state[_KEY] = local_identity()
        return who
    who = st.session_state.get(_KEY)
    if isinstance(who, Identity) and not who.local:
        why = _still_valid(who, config)
        if why is None:
            return who
        _clear_session()
        st.session_state["signed_out_because"] = why
    _sign_in_page(config)
    st.stop()
    raise AssertionError("unreachable")  # st.stop() ends the script run


def current() -> Identity:
    """The identity :func:`identity` settled on for this script run."""
    who = st.session_state.get(_KEY)
    if isinstance(who, Identity):
        return who
    config = server_config()
    if config is None or not config.accounts:  # local mode: the person at this machine
        return local_identity()
    raise GeoError("Nobody is signed in; reload the page.")


def require(action: Action, what: str) -> None:
    """Refuse ``what`` (server-side) unless the current user's role allows ``action``."""
    current().require(action, what)


def _clear_session() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def _sign_in_page(config: ServerConfig) -> None:
    st.title("Catchscope")
    i18n.selector(st.sidebar)  # the sign-in page speaks the user's language too
    st.caption(_("Water-stewardship sites in their catchments. Sign in to continue."))
    why = st.session_state.pop("signed_out_because", None)
    if why:
        st.info(why)
    with st.form("sign_in", clear_on_submit=False):
        username = st.text_input(_("User name"), key="sign_in_user", autocomplete="username")
        password = st.text_input(_("Password"), type="password", key="sign_in_password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button(_("Sign in"), type="primary")
    if not submitted:
        return
    name = username.strip().lower()
    throttle = _throttle()
    wait = throttle.wait_s(name)
    if wait > 0:
        st.error(_("Too many failed sign-ins for this user name: try again in {seconds} s.")
                 .format(seconds=f"{wait:.0f}"))
        return
    who = authenticate(config, name, password)
    if who is None:
        throttle.failed(name)
        st.error(_("Wrong user name or password."))
        return
    throttle.succeeded(name)
    _clear_session()  # (the language stays: the URL has it, see ui.i18n.selector)
    st.session_state[_KEY] = who
    st.rerun()


def sign_out_button(who: Identity) -> None:
    """The sidebar's account line and *Sign out* (served mode only)."""
    if who.local:
        return
    sb = st.sidebar
    from ui.panels import md

    sb.caption(_("Signed in as {name} ({username}, {role})").format(
        name=f"**{md(who.name)}**", username=md(who.username), role=who.role.value))
    if sb.button(_("Sign out"), key="sign_out"):
        why = _("You have signed out.")  # (before the session, and its language, is cleared)
        _clear_session()
        st.session_state["signed_out_because"] = why
        st.rerun()

