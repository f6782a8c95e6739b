"""Benchmark the Export tab: what a rerun costs, and what preparing each format costs.

Usage: ``.venv/bin/python bench/bench_ui_exports.py [AWS-ref]``

Runs app.py headless (streamlit.testing AppTest, in this process) on the bundled demo.
Prints, per step, the whole script's server time (``last_run_ms``, timed inside app.py)
and the Export tab's own share (``ui.exports.site_downloads``, timed here): a rerun
with nothing prepared, preparing each format once, and a rerun with every format
prepared (the download buttons hand their bytes to Streamlit on each rerun).  The
machine's load average is printed: on a busy shared machine times are inflated.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from streamlit.testing.v1 import AppTest  # noqa: E402

import ui.exports  # noqa: E402

TAB_MS: list[float] = []
_real = ui.exports.site_downloads


def _timed(*args: Any, **kwargs: Any) -> None:
    started = time.perf_counter()
    try:
        _real(*args, **kwargs)
    finally:
        TAB_MS.append((time.perf_counter() - started) * 1000)


def _run(at: AppTest) -> tuple[float, float]:
    TAB_MS.clear()
    at.run()
    if at.exception:
        raise SystemExit(f"app failed: {at.exception}")
    return float(at.session_state["last_run_ms"]), sum(TAB_MS)


def main() -> None:
    ref = sys.argv[1] if len(sys.argv) > 1 else "AWS-000522"
    ui.exports.site_downloads = _timed  # panels.export calls it through the module
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
    started = time.perf_counter()
    at.run()
    print(f"first run (cold): {time.perf_counter() - started:.1f} s")
    next(s for s in at.selectbox if s.label == "Site").set_value(ref)
    _run(at)
    whole, tab = _run(at)
    print(f"rerun, nothing prepared:        app {whole:7.0f} ms   Export tab {tab:6.1f} ms")
    for fmt in ui.exports.FORMATS:
        at.selectbox(key="export_format").set_value(fmt)
        _run(at)
        at.button(key="export_prepare").click()
        whole, tab = _run(at)
        item = next(reversed(at.session_state["export_prepared"].values()))
        print(f"prepare {fmt:8s} {len(item.payload) / 1e3:7.0f} kB   app {whole:7.0f} ms   "
              f"Export tab {tab:6.0f} ms (export_bytes {item.seconds * 1000:6.0f} ms)")
    whole, tab = _run(at)
    print(f"rerun, 9 files prepared:        app {whole:7.0f} ms   Export tab {tab:6.1f} ms")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
