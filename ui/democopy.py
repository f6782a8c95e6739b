"""The bundled demo is read-only: edits go to the user's own copy of it.

Trying the demo must never rewrite the checkout (its ``layers/*.toml`` and ``data/`` are
tracked files). Wherever the app would write — drawing and editing, *Add data*, *Import
report*, adding a delineated catchment — the bundled demo shows a message and a button
that copies it to the user's data folder (``$XDG_DATA_HOME/catchscope/demo``, by default
``~/.local/share/catchscope/demo``) and opens that copy, where everything can be
edited, undone and, with *Reset my copy*, started again from the bundled demo.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import streamlit as st

from geo.core.workspace import copy_workspace, default_workspace_path
from ui import auth, state

__all__ = ["demo_copy_path", "make_demo_copy", "writable"]

_FOLDER = "Folder on this machine"


def demo_copy_path() -> Path:
    """Where this user's copy of the demo lives."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "catchscope" / "demo"


def make_demo_copy(*, reset: bool = False) -> Path:
    """Copy the bundled demo (layers, data, settings) to :func:`demo_copy_path`.

    An existing copy is kept (it holds the user's edits) unless ``reset``. The copy is
    made in a sibling folder and renamed into place, so a half-made copy never opens.
    """
    target = demo_copy_path()
    if target.is_dir() and not reset:
        return target
    source = default_workspace_path()
    staging = target.with_name(f".{target.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    copy_workspace(source, staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return target


def _open_copy(reset: bool) -> None:
    """Button callback (runs before the next script run, so widgets may be set)."""
    path = make_demo_copy(reset=reset)
    st.session_state["ws_source"] = _FOLDER
    st.session_state["ws_path"] = str(path)
    st.session_state["demo_copy_flash"] = (
        f"Reset your copy of the demo at {path}." if reset else
        f"Opened your own copy of the demo at {path}: edit it freely.")


def writable(choice: state.Choice, where: str) -> bool:
    """True when ``choice``'s workspace may be written; else a message and a way out.

    ``where`` names the place asking (it keys the button), e.g. ``"edit"``.
    """
    flash = st.session_state.pop("demo_copy_flash", None)
    if flash:
        st.success(flash)
    if choice.path is not None:
        if Path(choice.path) == demo_copy_path():
            st.button("Reset my copy of the demo", key=f"demo_reset:{where}",
                      on_click=_open_copy, args=(True,),
                      help="Start again from the bundled demo (your edits to the copy go).")
        return True
    if not auth.current().local:
        st.info("This server shows the bundled demo read-only. Ask an admin for a workspace "
                "you can edit.")
        return False
    st.info("The bundled demo is read-only, so that trying it never changes the files it "
            "ships with. Make your own copy to draw, import and edit.")
    st.button("Make my own copy of the demo", key=f"demo_copy:{where}", type="primary",
              on_click=_open_copy, args=(False,),
              help=f"Copies the demo to {demo_copy_path()} (kept between sessions) and opens "
                   "it as a folder on this machine.")
    return False
