"""The app's language: picked in the sidebar, kept in the URL (``?lang=zh-CN``), per session.

:func:`start` settles the language of a script run before anything is drawn (the sign-in
page too): the selector's value once the user has touched it, else the URL's ``lang``,
else the browser's locale (``zh*`` → Chinese, anything else English).  :func:`_` then
translates a fixed text through the catalogue of :mod:`geo.core.i18n`; data (names,
titles, messages quoting data) is never passed through it.

The URL stays language-independent: ``tab`` is always the English tab name
(:func:`tabs`), the other view keys are ids, and only ``lang`` says the language.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from geo.core.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, language_of_locale, translator

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "N_", "_", "current", "gettext", "selector", "start",
           "tabs"]

#: The selector's widget key (its value: a key of :data:`LANGUAGES`).
LANG_KEY = "lang"
#: The language of this run and of the run before (a switch re-seeds the tabs).
_IN_USE = "lang_in_use"
_BEFORE = "lang_before"
#: The URL's query parameter.
URL_KEY = "lang"


def _browser_default() -> str:
    return language_of_locale(st.context.locale)


def _from_url() -> str | None:
    value = st.query_params.get(URL_KEY)
    if not value:
        return None
    return value if value in LANGUAGES else language_of_locale(value)


def start() -> str:
    """Settle (and return) the language of this script run."""
    chosen = st.session_state.get(LANG_KEY)
    if chosen not in LANGUAGES:
        chosen = _from_url() or _browser_default()
    st.session_state[_BEFORE] = st.session_state.get(_IN_USE, chosen)
    st.session_state[_IN_USE] = chosen
    return str(chosen)


def current() -> str:
    """The language of this run (English before :func:`start` has run)."""
    value = st.session_state.get(_IN_USE, DEFAULT_LANGUAGE)
    return str(value) if value in LANGUAGES else DEFAULT_LANGUAGE


def _(message: str) -> str:
    """``message`` (an English msgid) in the language of this run."""
    return translator(current())(message)


def gettext() -> Callable[[str], str]:
    """The translation function of this run's language, fixed: for a widget's ``format_func``.

    Streamlit (and AppTest) may call a ``format_func`` outside the script run, where the
    session's language cannot be read; this one does not need it.
    """
    return translator(current())


def selector(container: Any) -> str:
    """The "Language / 语言" selectbox in ``container``; keeps ``?lang=`` in the URL.

    The URL names the language whenever it is not English, and names English too when
    the browser would otherwise open the page in Chinese: a copied link opens in the
    language it was copied in.
    """
    language = current()
    options = list(LANGUAGES)
    container.selectbox("Language / 语言", options, index=options.index(language),
                        format_func=LANGUAGES.__getitem__, key=LANG_KEY)
    if language != DEFAULT_LANGUAGE or _browser_default() != DEFAULT_LANGUAGE:
        if st.query_params.get(URL_KEY) != language:
            st.query_params[URL_KEY] = language
    elif URL_KEY in st.query_params:
        del st.query_params[URL_KEY]
    return language


def tabs(names: Sequence[str], *, key: str = "tab") -> dict[str, Any]:
    """``st.tabs`` of ``names`` (English msgids) shown in this run's language.

    Returns name -> tab container.  In English the tabs are bound to the URL's ``key``
    by Streamlit itself, exactly as before; in another language they are labelled in
    it while the URL keeps the English name of the open tab (a shared ``?tab=Water
    chain`` opens the same tab in any language, and a switch of language keeps it).
    """
    names = list(names)
    language = current()
    switched = st.session_state.get(_BEFORE) != language
    wanted = st.query_params.get(key)
    if language == DEFAULT_LANGUAGE:
        if switched:  # back from another language: the URL's tab (none: the first)
            st.session_state[key] = wanted if wanted in names else names[0]
        containers = st.tabs(names, key=key, on_change="rerun", bind="query-params")
        return dict(zip(names, containers, strict=True))
    labels = [_(name) for name in names]
    name_of = dict(zip(labels, names, strict=True))
    widget = f"{key}:{language}"
    if switched or st.session_state.get(widget) not in name_of:
        st.session_state[widget] = labels[names.index(wanted)] if wanted in names else labels[0]
    containers = st.tabs(labels, key=widget, on_change="rerun")
    open_name = name_of.get(st.session_state.get(widget), names[0])
    if open_name == names[0]:
        if key in st.query_params:
            del st.query_params[key]
    elif st.query_params.get(key) != open_name:
        st.query_params[key] = open_name
    return dict(zip(names, containers, strict=True))
