"""Load on a served app: N viewers in Chromium load the map and switch sites for T seconds.

Starts ``catchscope serve --config`` (127.0.0.1, a free port) on a copy of the demo
workspace with one viewer account, then N concurrent browser sessions (one Chromium,
N contexts) each sign in, wait for the map, and then switch between the demo's sites for
T seconds. Prints per-session errors, the time to map (sign-in to the map drawn,
and site switch to the new site's map drawn: p50 / p95 / max), the server's resident
memory at the start and the end (the Streamlit process and its children), and the CPU
seconds the server and the browser (Chromium and Playwright's driver) spent under the
load: both share this machine's cores, so this says which of them the wait is for.

    .venv/bin/python bench/bench_serve_load.py     # 20 viewers for 60 s, started over 10 s
    .venv/bin/python bench/bench_serve_load.py --sessions 5 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geo.core.workspace import copy_workspace, open_workspace  # noqa: E402
from geo.serve.accounts import hash_password  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
MAP = "iframe[src*='st_folium']"
PASSWORD = "viewer-load-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tree(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        found.append(current)
        pending += [int(c) for c in children]
    return found


def _rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants (Linux /proc), MiB."""
    total = 0
    for current in _tree(pid):
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines()
                          if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total / 1024


def _cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) of processes and of their reaped children."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def _browser_cpu_s(server: int) -> float:
    """CPU seconds of this process's descendants other than the server (the browser)."""
    own = set(_tree(server))
    return _cpu_s([pid for pid in _tree(os.getpid())[1:] if pid not in own])


def _workspace(base: Path) -> Path:
    return copy_workspace(REPO, base / "jinxi")


def _serve(base: Path, port: int) -> subprocess.Popen[bytes]:
    config = base / "server.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n\n'
        '[[workspaces]]\nname = "jinxi"\npath = "jinxi"\n\n'
        f'[accounts.viewer]\nname = "Load Viewer"\nrole = "viewer"\n'
        f'password_hash = "{hash_password(PASSWORD, rounds=4)}"\n', encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "geo.cli.main", "serve", "--config",
                             str(config)], cwd=base, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                        timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("catchscope serve did not start")


async def _idle(pg) -> None:
    await pg.wait_for_timeout(200)
    await pg.wait_for_function("!document.querySelector('[data-testid=stStatusWidget]')",
                               timeout=180_000)


async def _map_drawn(pg, title: str) -> None:
    """The header names ``title`` and the map shows its layers."""
    await pg.wait_for_function(
        "t => [...document.querySelectorAll('h2')].some(h => h.textContent.includes(t))",
        arg=title, timeout=180_000)
    await _idle(pg)
    # the old site's map stays (stale) beside the new one until the rerun has ended
    await pg.wait_for_function(f"document.querySelectorAll({MAP!r}).length === 1",
                               timeout=180_000)
    frame = pg.frame_locator(MAP).last  # the newest, should a rerun add one meanwhile
    # attached: the map is framed on the site, and Leaflet empties paths out of view
    await frame.locator(".leaflet-overlay-pane path").nth(19).wait_for(state="attached",
                                                                       timeout=180_000)


async def _session(browser, url: str, sites: list[str], seconds: float,
                   results: dict[str, list], turns: int = 0, delay: float = 0.0) -> None:
    """Sign in, wait for the map, then switch sites for ``seconds`` (at least ``turns``)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    pg = await context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        await asyncio.sleep(delay)  # people arrive over a few seconds, not in one instant
        started = time.perf_counter()
        # a person waits for the page rather than 30 s (Playwright's default): 180 s
        await pg.goto(url, wait_until="domcontentloaded", timeout=180_000)
        await pg.get_by_label("User name").fill("viewer", timeout=180_000)
        await pg.get_by_label("Password", exact=True).fill(PASSWORD, timeout=180_000)
        await pg.get_by_role("button", name="Sign in").click()
        await pg.frame_locator(MAP).last.locator(".leaflet-overlay-pane path").nth(19) \
            .wait_for(state="attached", timeout=180_000)
        await _idle(pg)
        results["first"].append(time.perf_counter() - started)
        until = time.monotonic() + seconds  # the switching begins once the map is there
        turn = 0
        while time.monotonic() < until or turn < turns:
            site = sites[turn % len(sites)]
            turn += 1
            started = time.perf_counter()
            box = pg.get_by_role("combobox", name="Site")
            await box.click()
            await pg.get_by_role("option", name=site).first.click()
            await _map_drawn(pg, site.split(" ")[0])
            results["switch"].append(time.perf_counter() - started)
        if await pg.locator("[data-testid=stException]").count():
            errors.append("a Streamlit exception was shown")
    except Exception as err:
        errors.append(f"{type(err).__name__}: {err}".splitlines()[0])
    finally:
        results["errors"].extend(errors)
        await context.close()


def _pcts(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"n={len(values)} p50={statistics.median(values):.2f} s p95={p95:.2f} s "
            f"max={ordered[-1]:.2f} s")


async def _run(url: str, sessions: int, seconds: float, sites: list[str],
               pid: int, ramp: float = 10.0
               ) -> tuple[dict[str, list], dict[str, list], float, dict[str, float]]:
    """Warm the server up with one session (every site once), then run the load."""
    from playwright.async_api import async_playwright

    warm: dict[str, list] = {"first": [], "switch": [], "errors": []}
    results: dict[str, list] = {"first": [], "switch": [], "errors": []}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        await _session(browser, url, sites, 0.0, warm, turns=len(sites))
        rss_warm = _rss_mib(pid)
        cpu = {"server": -_cpu_s(_tree(pid)), "browser": -_browser_cpu_s(pid),
               "wall": -time.perf_counter()}
        await asyncio.gather(*(_session(browser, url, sites, seconds, results,
                                        delay=index * ramp / max(sessions, 1))
                               for index in range(sessions)))
        cpu["server"] += _cpu_s(_tree(pid))
        cpu["browser"] += _browser_cpu_s(pid)
        cpu["wall"] += time.perf_counter()
        await browser.close()
    return warm, results, rss_warm, cpu


def report(args: argparse.Namespace, wall: float, n_sites: int, warm: dict[str, list],
           results: dict[str, list], rss: tuple[float, float, float], cpu: dict[str, float],
           *, client: str = "browser", how: str = "") -> int:
    """Print a load run's figures (this bench's and bench_serve_protocol.py's); exit code.

    ``rss``: idle, after the warm-up, at the end (MiB); ``cpu[client]``: the load's own
    CPU seconds; ``results["page"]``, when given, the time to the sign-in page.
    """
    rss_idle, rss_start, rss_end = rss
    print(f"sessions {args.sessions} (started over {args.ramp:.0f} s) for {args.seconds:.0f} s "
          f"(wall {wall:.0f} s), sites {n_sites}{how}")
    print(f"warm-up (one session, cold server): sign-in to map {_pcts(warm['first'])}; "
          f"each site once {_pcts(warm['switch'])}; errors {len(warm['errors'])}"
          + "".join(f"\n  {e}" for e in warm["errors"]))
    print(f"errors {len(results['errors'])}" + "".join(f"\n  {e}" for e in results["errors"]))
    if "page" in results:
        print(f"time to the sign-in page (HTTP, websocket, first run): {_pcts(results['page'])}")
    print(f"time to map after sign-in: {_pcts(results['first'])}")
    print(f"time to map after a site switch: {_pcts(results['switch'])}")
    print(f"server RSS idle {rss_idle:.0f} MiB; after warm-up (start) {rss_start:.0f} MiB, "
          f"end {rss_end:.0f} MiB (x{rss_end / max(rss_start, 1):.2f})")
    cores = os.cpu_count() or 1
    print(f"CPU under the load ({cpu['wall']:.0f} s on {cores} cores = "
          f"{cpu['wall'] * cores:.0f} core-s): server {cpu['server']:.0f} s, "
          f"{'load client' if client == 'client' else client} {cpu[client]:.0f} s")
    return 1 if results["errors"] or warm["errors"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--ramp", type=float, default=10.0,
                        help="seconds over which the sessions start (default 10)")
    args = parser.parse_args(argv)
    labels = {ref: record.label for ref, record in sorted(open_workspace().records.items())}
    sites = list(labels.values())
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        _workspace(base)
        port = _free_port()
        proc = _serve(base, port)
        try:
            rss_idle = _rss_mib(proc.pid)
            began = time.perf_counter()
            warm, results, rss_start, cpu = asyncio.run(_run(
                f"http://127.0.0.1:{port}", args.sessions, args.seconds, sites, proc.pid,
                args.ramp))
            wall = time.perf_counter() - began
            rss_end = _rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    return report(args, wall, len(sites), warm, results, (rss_idle, rss_start, rss_end), cpu)


if __name__ == "__main__":
    raise SystemExit(main())
