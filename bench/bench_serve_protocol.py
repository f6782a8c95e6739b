"""Load on a served app without a browser: N viewers speak Streamlit's own protocol.

The server's side of ``bench_serve_load.py``. That bench drives N Chromium sessions, and
on a small machine the wait there is for the N renderers; this one measures the server's
own latency. It starts ``catchscope serve --config`` the same way (a copy of the demo
workspace, one viewer account; ``bench_serve_load._serve``) and runs N concurrent
sessions that do what the browser's Streamlit frontend does, and nothing it renders: fetch
the page, ``/_stcore/health`` (which sets the XSRF cookie) and ``/_stcore/host-config``,
open the websocket ``/_stcore/stream`` (subprotocols ``streamlit`` and the XSRF token,
the page's Origin and cookie), send the first ``rerun_script`` BackMsg, and decode every
ForwardMsg. Each session fills in and submits the sign-in form (the widget states of
every widget on the page, as the frontend sends them), waits for the script run that has
the map (the ``st_folium`` component with its Leaflet ``L.map`` script) and the site's
header, then switches between the demo's sites for T seconds by sending the "Site"
selectbox's new value. The frontend's ForwardMsg cache is kept too (large elements come
back as references once the session holds them), so the server sends what it would send
a browser. A run ends at ``script_finished``; an exception element, a websocket error,
180 s without the run finishing, or a run without the expected map or header is an error.

Prints the errors, the time to the sign-in page, to the map after signing in, and to
the new site's map after a switch (p50 / p95 / max), the server's resident memory (idle,
after a one-session warm-up, at the end) and the CPU seconds of the server and of this
load client under the load.

    .venv/bin/python bench/bench_serve_protocol.py     # 20 viewers for 60 s, started over 10 s
    .venv/bin/python bench/bench_serve_protocol.py --sessions 2 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Block_pb2 import Block
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve_load import (  # (it puts the repository on sys.path: geo)
    PASSWORD,
    _cpu_s,
    _free_port,
    _rss_mib,
    _serve,
    _tree,
    _workspace,
    report,
)

from geo.core.workspace import open_workspace

TIMEOUT = 180.0  # s: as long as bench_serve_load.py gives a page
MAP_COMPONENT = "streamlit_folium.st_folium"
FINISHED = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
            ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}  # not FINISHED_EARLY_FOR_RERUN
# What the browser's frontend reports about itself (ClientState.context_info).
CONTEXT = {"timezone": "UTC", "timezone_offset": 0, "locale": "en-US",
           "is_embedded": False, "color_scheme": "light"}


class SessionError(Exception):
    """What makes a session count as failed."""


class MessageCache:
    """The frontend's ForwardMsg cache (ForwardMessageCache in Streamlit's frontend).

    Cacheable messages (large ``new_element`` deltas) are kept by hash, and their hashes
    go with every rerun request, so the server sends a ``ref_hash`` instead of a message
    the session holds. A message expires once more than ``max_age`` script runs
    finished since it was last sent or referred to.
    """

    def __init__(self) -> None:
        self.messages: dict[str, tuple[bytes, int]] = {}
        self.runs = 0
        self.max_age = 2  # until NewSession.config says otherwise

    def resolve(self, msg: ForwardMsg, raw: bytes) -> ForwardMsg:
        if msg.WhichOneof("type") == "ref_hash":
            entry = self.messages.get(msg.ref_hash)
            if entry is None:
                raise SessionError(f"cached ForwardMsg miss (hash {msg.ref_hash})")
            self.messages[msg.ref_hash] = (entry[0], self.runs)
            full = ForwardMsg()
            full.ParseFromString(entry[0])
            full.metadata.CopyFrom(msg.metadata)  # the reference's place on the page
            return full
        if msg.metadata.cacheable and msg.hash:
            self.messages[msg.hash] = (raw, self.runs)
        return msg

    def finished_run(self) -> None:
        self.runs += 1
        for key, (_, seen) in list(self.messages.items()):
            if self.runs - seen > self.max_age:
                del self.messages[key]


def _initial_state(kind: str, proto: Any) -> WidgetState | None:
    """The value the frontend gives a widget when it first shows it (None: no value)."""
    state = WidgetState(id=proto.id)
    if kind in ("selectbox", "radio"):
        if proto.set_value:
            state.string_value = proto.raw_value
        elif proto.HasField("default") and 0 <= proto.default < len(proto.options):
            state.string_value = proto.options[proto.default]
        else:
            return None
    elif kind == "multiselect":
        values = (list(proto.raw_values) if proto.set_value
                  else [proto.options[i] for i in proto.default])
        state.string_array_value.data.extend(values)
    elif kind == "checkbox":
        state.bool_value = proto.value if proto.set_value else proto.default
    elif kind in ("text_input", "text_area"):
        if proto.set_value and proto.HasField("value"):
            state.string_value = proto.value
        elif proto.HasField("default"):
            state.string_value = proto.default
        else:
            return None
    elif kind == "slider" and not proto.options:  # (a select_slider keeps its old state)
        state.double_array_value.data.extend(proto.value if proto.set_value else proto.default)
    elif kind == "number_input":
        value = proto.value if proto.set_value else proto.default
        if not (proto.HasField("value") if proto.set_value else proto.HasField("default")):
            return None
        if proto.data_type == type(proto).INT:
            state.int_value = int(value)
        else:
            state.double_value = value
    else:  # buttons (triggers), components (their own JavaScript), the rest: no value
        return None
    return state


def _block_state(block: Block) -> WidgetState | None:
    """The value of a stateful block (tabs, expander, popover with on_change / bind)."""
    kind = block.WhichOneof("type")
    if kind == "tab_container" and block.tab_container.HasField("id") \
            and block.tab_container.HasField("default_tab_label"):
        return WidgetState(id=block.tab_container.id,
                           string_value=block.tab_container.default_tab_label)
    if kind == "expandable" and block.expandable.HasField("id"):
        return WidgetState(id=block.expandable.id, bool_value=block.expandable.expanded)
    if kind == "popover" and block.popover.HasField("id"):
        return WidgetState(id=block.popover.id, bool_value=block.popover.open)
    return None


@dataclass
class Run:
    """What one script run sent (the last run of a request: st.rerun() starts another)."""

    elements: list[tuple[str, Any]] = field(default_factory=list)
    widgets: dict[str, WidgetState] = field(default_factory=dict)  # as first shown
    blocks: list[Block] = field(default_factory=list)
    map_hash: str | None = None
    map_args: str = ""

    def widget(self, kind: str, label: str) -> Any:
        found = [proto for k, proto in self.elements
                 if k == kind and getattr(proto, "label", None) == label]
        if not found:
            raise SessionError(f"no {kind} labelled {label!r} on the page")
        return found[-1]

    def headers(self) -> list[str]:
        return [proto.body.replace("\\", "") for kind, proto in self.elements
                if kind == "heading" and proto.tag == "h2"]


class Client:
    """One viewer's session: the page's HTTP requests, then the websocket."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.ws: ClientConnection | None = None
        self.cache = MessageCache()
        self.values: dict[str, WidgetState] = {}  # the frontend's widget manager
        self.query_string = ""
        self.page_hash = ""

    def _get(self, path: str, cookies: SimpleCookie) -> None:
        request = urllib.request.Request(self.base + path)
        if cookies:
            request.add_header("Cookie", "; ".join(f"{k}={m.value}" for k, m in cookies.items()))
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                cookies.load(header)

    async def open(self) -> None:
        """Load the page, ping the server as the frontend does, open the websocket."""
        cookies: SimpleCookie = SimpleCookie()
        await asyncio.to_thread(self._get, "/", cookies)
        for path in ("/_stcore/health", "/_stcore/host-config"):
            await asyncio.to_thread(self._get, path, cookies)
        xsrf = cookies["_streamlit_xsrf"].value if "_streamlit_xsrf" in cookies else None
        self.ws = await connect(
            self.base.replace("http", "ws", 1) + "/_stcore/stream",
            subprotocols=["streamlit", xsrf or "PLACEHOLDER_AUTH_TOKEN"],  # type: ignore[list-item]
            origin=self.base,  # type: ignore[arg-type]
            additional_headers={"Cookie": "; ".join(f"{k}={m.value}"
                                                    for k, m in cookies.items())},
            open_timeout=TIMEOUT, ping_interval=None,  # a browser sends no pings
            max_size=None, proxy=None)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def rerun(self, changes: dict[str, WidgetState] | None = None,
                    trigger: str | None = None) -> Run:
        """Send a rerun with every widget's value (``changes`` applied, ``trigger``
        pressed) and receive until the script run finishes."""
        assert self.ws is not None
        for state in (changes or {}).values():
            self.values[state.id] = state
        back = BackMsg()
        rerun = back.rerun_script
        rerun.query_string = self.query_string
        rerun.page_script_hash = self.page_hash
        rerun.widget_states.widgets.extend(self.values.values())
        if trigger is not None:
            rerun.widget_states.widgets.add(id=trigger, trigger_value=True)
        rerun.cached_message_hashes.extend(self.cache.messages)
        for name, value in CONTEXT.items():
            setattr(rerun.context_info, name, value)
        rerun.context_info.url = f"{self.base}/" + (
            f"?{self.query_string}" if self.query_string else "")
        await self.ws.send(back.SerializeToString())
        async with asyncio.timeout(TIMEOUT):
            return await self._receive()

    async def _receive(self) -> Run:
        assert self.ws is not None
        run = Run()
        while True:
            raw = await self.ws.recv(decode=False)
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            msg = self.cache.resolve(msg, raw)
            kind = msg.WhichOneof("type")
            if kind == "new_session":  # every script run starts with one
                run = Run()
                self.page_hash = msg.new_session.page_script_hash
                self.cache.max_age = msg.new_session.config.max_cached_message_age
            elif kind == "page_info_changed":  # the address bar follows the app
                self.query_string = msg.page_info_changed.query_string
            elif kind == "delta":
                self._delta(msg, run)
            elif kind == "script_finished":
                if msg.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue
                self.cache.finished_run()
                if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    raise SessionError("the script did not compile")
                self._widgets_shown(run)
                return run

    def _delta(self, msg: ForwardMsg, run: Run) -> None:
        delta = msg.delta
        if delta.WhichOneof("type") == "add_block":
            run.blocks.append(delta.add_block)
            state = _block_state(delta.add_block)
            if state is not None:
                run.widgets[state.id] = state
            return
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind is None:
            return
        proto = getattr(element, kind)
        run.elements.append((kind, proto))
        if kind == "exception":
            raise SessionError(f"exception shown: {proto.type}: {proto.message}".strip())
        if kind == "component_instance" and proto.component_name == MAP_COMPONENT:
            run.map_hash, run.map_args = msg.hash, proto.json_args
        if getattr(proto, "id", ""):
            state = _initial_state(kind, proto)
            if state is not None:
                run.widgets[proto.id] = state

    def _widgets_shown(self, run: Run) -> None:
        """Widgets keep the value the user gave them; new ones start from the element's;
        widgets no longer shown are forgotten (as the frontend's widget manager does)."""
        shown = {kind_proto[1].id for kind_proto in run.elements
                 if getattr(kind_proto[1], "id", "")} | set(run.widgets)
        values = {wid: state for wid, state in self.values.items() if wid in shown}
        for wid, state in run.widgets.items():
            element = next((p for _, p in run.elements if getattr(p, "id", "") == wid), None)
            if wid not in values or (element is not None and getattr(element, "set_value",
                                                                        False)):
                values[wid] = state
        self.values = values


def _site_shown(run: Run, refs: list[str], previous_map: str | None = None) -> str:
    """The site whose map and header ``run`` shows; SessionError unless there is one."""
    if run.map_hash is None or "L.map(" not in run.map_args:
        alerts = [proto.body for kind, proto in run.elements if kind == "alert"]
        raise SessionError(f"the run finished without the map; alerts {alerts}")
    if previous_map is not None and run.map_hash == previous_map:
        raise SessionError("the run finished with the previous site's map")
    shown = [ref for ref in refs if any(ref in header for header in run.headers())]
    if len(shown) != 1:
        raise SessionError(f"the header names no single site: {run.headers()}")
    return shown[0]


async def _session(port: int, refs: list[str], seconds: float, results: dict[str, list],
                   turns: int = 0, delay: float = 0.0) -> None:
    """Sign in, wait for the map, then switch sites for ``seconds`` (at least ``turns``)."""
    client = Client(port)
    try:
        await asyncio.sleep(delay)  # people arrive over a few seconds, not in one instant
        started = time.perf_counter()
        await client.open()
        page = await client.rerun()  # what the frontend sends once connected
        results["page"].append(time.perf_counter() - started)
        user = page.widget("text_input", "User name")
        password = page.widget("text_input", "Password")
        button = page.widget("button", "Sign in")
        started = time.perf_counter()
        run = await client.rerun({user.id: WidgetState(id=user.id, string_value="viewer"),
                                  password.id: WidgetState(id=password.id,
                                                           string_value=PASSWORD)},
                                 trigger=button.id)
        shown = _site_shown(run, refs)
        results["first"].append(time.perf_counter() - started)
        until = time.monotonic() + seconds  # the switching begins once the map is there
        turn = 0
        while time.monotonic() < until or turn < turns:
            site = refs[turn % len(refs)]
            if site == shown:  # (the first turn when the default site is refs[0])
                site = refs[(turn + 1) % len(refs)]
            turn += 1
            box = run.widget("selectbox", "Site")
            option = next((o for o in box.options if o.split(" ")[0] == site), None)
            if option is None:
                raise SessionError(f"no option {site} in the Site selectbox: {box.options}")
            started = time.perf_counter()
            previous_map = run.map_hash
            run = await client.rerun({box.id: WidgetState(id=box.id, string_value=option)})
            shown = _site_shown(run, refs, previous_map)
            if shown != site:
                raise SessionError(f"asked for {site}, the page shows {shown}")
            results["switch"].append(time.perf_counter() - started)
    except TimeoutError:
        results["errors"].append(f"no script_finished within {TIMEOUT:.0f} s")
    except Exception as err:
        results["errors"].append(f"{type(err).__name__}: {err}".splitlines()[0][:300])
    finally:
        await client.close()


def _results() -> dict[str, list]:
    return {"page": [], "first": [], "switch": [], "errors": []}


async def _run(port: int, sessions: int, seconds: float, refs: list[str], pid: int,
               ramp: float) -> tuple[dict[str, list], dict[str, list], float, dict[str, float]]:
    """Warm the server up with one session (every site once), then run the load."""
    warm, results = _results(), _results()
    await _session(port, refs, 0.0, warm, turns=len(refs))
    rss_warm = _rss_mib(pid)
    cpu = {"server": -_cpu_s(_tree(pid)), "client": -time.process_time(),
           "wall": -time.perf_counter()}
    await asyncio.gather(*(_session(port, refs, seconds, results,
                                    delay=index * ramp / max(sessions, 1))
                           for index in range(sessions)))
    cpu["server"] += _cpu_s(_tree(pid))
    cpu["client"] += time.process_time()
    cpu["wall"] += time.perf_counter()
    return warm, results, rss_warm, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--ramp", type=float, default=10.0,
                        help="seconds over which the sessions start (default 10)")
    args = parser.parse_args(argv)
    refs = sorted(open_workspace().records)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        _workspace(base)
        port = _free_port()
        proc = _serve(base, port)
        try:
            rss_idle = _rss_mib(proc.pid)
            began = time.perf_counter()
            warm, results, rss_start, cpu = asyncio.run(
                _run(port, args.sessions, args.seconds, refs, proc.pid, args.ramp))
            wall = time.perf_counter() - began
            rss_end = _rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    return report(args, wall, len(refs), warm, results, (rss_idle, rss_start, rss_end), cpu,
                  client="client", how="; Streamlit protocol, no browser")


if __name__ == "__main__":
    raise SystemExit(main())
