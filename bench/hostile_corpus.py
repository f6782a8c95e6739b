"""Counts of the hostile workspace corpus (tests/hostile/), for a closing note.

For every file of ``tests/hostile/MANIFEST.toml``: refused cleanly (a message naming
the file and the field, no traceback) or loaded; then, for the workspace of the inert
files: markup not ours in the prepared map's HTML fragments, KML placemark names read
back as the literal text (ElementTree, and ``ogrinfo`` when installed), and the
standalone HTML export opened in headless Chromium with every tooltip and popup open:
dialogs and injected elements.  The app itself is counted by
``tests/test_browser_hostile.py`` (run it with ``-s``).

    .venv/bin/python bench/hostile_corpus.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geo.core.markup import xml_text  # noqa: E402
from geo.core.workspace import open_workspace  # noqa: E402
from geo.export.site import export_bytes  # noqa: E402
from geo.maps.build import prepare_map  # noqa: E402
from geo.scope.assess import assess_site  # noqa: E402
from tests.hostile_corpus import (  # noqa: E402
    IMAGES_SETTLED_JS,
    INJECTED_JS,
    OPEN_ALL_JS,
    SITE,
    SSTI_MARK,
    audit_html,
    entries,
    inert_workspace,
    map_fragments,
    refusal,
)

CHROMIUM = "/usr/bin/chromium"
KML = "{http://www.opengis.net/kml/2.2}"


def _files() -> list[tuple[str, str, str]]:
    rows = []
    for entry in entries():
        if entry.expect == "refused":
            outcome = "refused cleanly" if refusal(entry).clean else "NOT refused cleanly"
        else:
            outcome = "loaded inert"
        rows.append((entry.kind, entry.expect, outcome))
    return rows


def _kml_names(ws: Any, kml: bytes) -> tuple[int, int]:
    names = {}
    for spec in ws.specs.values():
        if not spec.is_raster:
            frame = ws.load(spec.id)
            names.update({xml_text(f): xml_text(n) for f, n in zip(frame["fid"], frame["name"],
                                                                   strict=True)})
    literal = total = 0
    for placemark in ET.fromstring(kml).iter(f"{KML}Placemark"):
        fid = next(d.findtext(f"{KML}value") for d in placemark.iter(f"{KML}Data")
                   if d.get("name") == "fid")
        total += 1
        literal += placemark.findtext(f"{KML}name") == names[fid]
    return literal, total


def _ogrinfo_names(kml: bytes, folder: Path) -> str:
    if shutil.which("ogrinfo") is None:
        return "ogrinfo not installed"
    path = folder / "hostile.kml"
    path.write_bytes(kml)
    out = subprocess.run(["ogrinfo", "-ro", "-al", "-geom=NO", str(path)], capture_output=True,
                         text=True, check=True).stdout
    probes = ["<img src=x onerror=alert(1)>", "\"'><svg onload=alert(1)>",
              "</Placemark><Placemark><name>injected</name>"]
    found = sum(f"Name (String) = {p}\n" in out for p in probes)
    return f"{found}/{len(probes)} probe names read back literally"


def _chromium(page_file: Path) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    dialogs: list[str] = []
    external: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
            ("file:", "data:", "blob:")) else (external.append(route.request.url), route.abort()))
        page = context.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(page_file.as_uri())
        page.locator(".leaflet-overlay-pane path").first.wait_for(timeout=60_000)
        opened = page.evaluate(OPEN_ALL_JS)
        page.wait_for_function(IMAGES_SETTLED_JS, timeout=30_000)
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => "
                      "requestAnimationFrame(r)))")
        found = page.evaluate(INJECTED_JS)
        browser.close()
    injected = len(found["found"]) + (found["pwned"] is not None)
    return {**opened, "dialogs": len(dialogs), "injected": injected, "external": len(external)}


def main() -> None:
    rows = _files()
    by_kind = Counter((kind, outcome) for kind, _, outcome in rows)
    print(f"Hostile workspace corpus: {len(rows)} files (tests/hostile/MANIFEST.toml)\n")
    print(f"{'file kind':<10} {'refused cleanly':>16} {'loaded inert':>13} {'other':>6}")
    for kind in ("layer", "data", "record", "settings"):
        clean, inert = by_kind[(kind, "refused cleanly")], by_kind[(kind, "loaded inert")]
        other = sum(n for (k, o), n in by_kind.items() if k == kind) - clean - inert
        print(f"{kind:<10} {clean:>16} {inert:>13} {other:>6}")
    clean = sum(o == "refused cleanly" for *_, o in rows)
    inert = sum(o == "loaded inert" for *_, o in rows)
    print(f"{'total':<10} {clean:>16} {inert:>13} {len(rows) - clean - inert:>6}\n")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ws = open_workspace(inert_workspace(folder / "ws"))
        fragments = map_fragments(prepare_map(ws, assess_site(ws, SITE), for_export=True))
        foreign = sum(len(audit_html(f).problems) for f in fragments.values())
        print(f"Map fragments (legend, layer control, tooltips, popups, chain, pins, raster "
              f"legend): {len(fragments)}, markup not ours: {foreign}")
        kml = export_bytes(ws, SITE, "kml")[2]
        literal, total = _kml_names(ws, kml)
        print(f"KML: {literal}/{total} placemark names read back literally (ElementTree); "
              f"ogrinfo: {_ogrinfo_names(kml, folder)}")
        page = export_bytes(ws, SITE, "html")[2]
        print(f"HTML export: {len(page):,} bytes, template output {SSTI_MARK!r} present: "
              f"{SSTI_MARK.encode() in page}")
        page_file = folder / "map.html"
        page_file.write_bytes(page)
        if Path(CHROMIUM).exists():
            seen = _chromium(page_file)
            print(f"HTML export in Chromium: {seen['tooltips']} tooltips and {seen['popups']} "
                  f"popups opened; dialogs {seen['dialogs']}, injected elements "
                  f"{seen['injected']}, requests off the machine {seen['external']}")
        else:
            print(f"HTML export in Chromium: skipped ({CHROMIUM} not installed)")
    print("\nThe app: .venv/bin/pytest -s tests/test_browser_hostile.py prints its counts.")


if __name__ == "__main__":
    main()
