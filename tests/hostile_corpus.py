"""The hostile workspace corpus (``tests/hostile/``): manifest, workspace, audits.

Shared by ``tests/test_hostile.py`` (library: refusals, map fragments, KML),
``tests/test_browser_hostile.py`` (the app and the standalone HTML export in Chromium)
and ``bench/hostile_corpus.py`` (the counts for a closing note).  See
``tests/hostile/README.md`` for what the corpus is and ``MANIFEST.toml`` for each file.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from geo.core.styles import svg_dash

HOSTILE = Path(__file__).resolve().parent / "hostile"
SITE = "AWS-000001"
#: What a payload prints when a template engine evaluates it ({{ 'SSTI' ~ '-RAN' }}).
SSTI_MARK = "SSTI-RAN"

#: JavaScript run in a page (or frame): elements and attributes that can only come from
#: data, and the flag payloads set.  Our own pages use no inline handlers at all.
INJECTED_JS = r"""() => {
    const found = [];
    const describe = (el, why) => found.push(el.tagName.toLowerCase() + ' ' + why);
    for (const el of document.querySelectorAll('*')) {
        for (const attr of el.attributes) {
            const name = attr.name.toLowerCase(), value = attr.value.toLowerCase();
            if (name.startsWith('on')) describe(el, name);
            if ((name === 'href' || name === 'src' || name === 'action' || name === 'xlink:href')
                && value.replace(/[\s\u0000-\u001f]/g, '').startsWith('javascript:'))
                describe(el, name + '=javascript:');
            if (name === 'style' && /expression\(|javascript:|url\(\s*['"]?(?!data:)/.test(value))
                describe(el, 'style=' + value.slice(0, 40));
        }
    }
    for (const el of document.querySelectorAll('img, iframe[src^="javascript" i], object, embed'))
        if (el.tagName !== 'IMG' || /(^|\/)x$/.test(el.getAttribute('src') || '')
                || /^https?:\/\/(?!(localhost|127\.0\.0\.1)[:/])/.test(el.src))
            describe(el, 'from data');
    const pwned = (window.__pwned ?? null) ?? (window.top.__pwned ?? null);
    return {found, pwned};
}"""


#: JavaScript run in a page (or frame) with Leaflet maps: open every tooltip and popup at
#: once (popups kept open), so that markup in any of them would be parsed and run.
OPEN_ALL_JS = r"""() => {
    let maps = 0, tooltips = 0, popups = 0;
    for (const key of Object.keys(window)) {
        let map;
        try { map = window[key]; } catch (e) { continue; }
        if (!(window.L && map instanceof window.L.Map)) continue;
        maps++;
        map.eachLayer(layer => {
            if (layer.getTooltip && layer.getTooltip()) { layer.openTooltip(); tooltips++; }
            const popup = layer.getPopup && layer.getPopup();
            if (popup) {
                popup.options.autoClose = false;
                popup.options.closeOnClick = false;
                layer.openPopup();
                popups++;
            }
        });
    }
    return {maps, tooltips, popups};
}"""
#: Resolves once every image of the page has loaded or failed (an onerror has run).
IMAGES_SETTLED_JS = "() => [...document.images].every(image => image.complete)"


@dataclass(frozen=True)
class Entry:
    """One file of the corpus, as ``MANIFEST.toml`` lists it."""

    path: str
    expect: str  # "refused" or "inert"
    attacks: str
    field: str = ""

    @property
    def file(self) -> Path:
        """The file in ``tests/hostile/``."""
        return HOSTILE / self.path

    @property
    def kind(self) -> str:
        """``layer``, ``record``, ``data`` or ``settings``."""
        if self.path.startswith("layers/"):
            return "layer"
        if self.path.startswith("data/sites/"):
            return "record"
        return "settings" if self.path == "catchscope.toml" else "data"

    @property
    def id(self) -> str:
        """A short test id: the path."""
        return self.path


def entries() -> list[Entry]:
    """Every file the manifest lists, in its order."""
    manifest = tomllib.loads((HOSTILE / "MANIFEST.toml").read_text(encoding="utf-8"))
    return [Entry(**item) for item in manifest["file"]]


def inert_workspace(dest: Path) -> Path:
    """A workspace at ``dest`` made of every file the manifest expects to load (inert)."""
    for entry in entries():
        if entry.expect == "inert":
            target = dest / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(entry.file, target)
    return dest


@dataclass(frozen=True)
class Refusal:
    """How loading one file alone went: refused cleanly or not, and the message."""

    clean: bool
    message: str


def refusal(entry: Entry) -> Refusal:
    """Load ``entry``'s file alone; clean when refused by a GeoError naming file and field.

    A file that loads, a refusal that does not name the file (and the field, when the
    manifest gives one), or any other exception (a traceback for a user) is not clean.
    """
    from geo.core.catalogue import load_layer_spec
    from geo.core.errors import CatalogueError, GeoError
    from geo.core.records import load_record

    load = load_layer_spec if entry.kind == "layer" else load_record
    try:
        load(entry.file)
    except GeoError as err:
        message = str(err)
        named = entry.file.name in message
        if entry.field and entry.field != "(file)":
            if isinstance(err, CatalogueError):
                named = named and entry.field in [field for field, _ in err.fields] \
                    and f"  - {entry.field}: " in message
            else:
                named = named and f"{entry.field}: " in message
        return Refusal(named, message)
    except Exception as err:  # a traceback for a user: what this looks for
        return Refusal(False, f"{type(err).__name__}: {err}")
    return Refusal(False, "loaded")


# --- what an HTML fragment of ours may hold ------------------------------------------------

_TAGS = {"b", "i", "br", "div", "span", "table", "tr", "th", "td", "details", "summary",
         "svg", "line", "rect", "circle", "text", "label", "input"}
_NUMERIC = {"width", "height", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r",
            "stroke-width", "fill-opacity", "font-size", "min", "max", "value", "border",
            "cellpadding"}
_COLOUR_RE = re.compile(r"#[0-9a-fA-F]{3,8}|none")
_CLASS_RE = re.compile(r"[\w -]*")
_STYLE_PROPS = {"color", "background", "height", "width", "display", "justify-content",
                "font-size", "border-collapse"}
_STYLE_VALUE_RE = re.compile(r"[#0-9a-zA-Z ,.()%-]*")


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            self._attribute(tag, name, value or "")

    def _attribute(self, tag: str, name: str, value: str) -> None:
        bad = f"<{tag} {name}={value[:60]!r}>"
        if name in _NUMERIC:
            try:
                float(value)
            except ValueError:
                self.problems.append(bad)
        elif name in ("fill", "stroke"):
            if not _COLOUR_RE.fullmatch(value):
                self.problems.append(bad)
        elif name == "stroke-dasharray":
            if svg_dash(value) != value:
                self.problems.append(bad)
        elif name == "class":
            if not _CLASS_RE.fullmatch(value):
                self.problems.append(bad)
        elif name == "style":
            for declaration in filter(None, (d.strip() for d in value.split(";"))):
                prop, _, val = declaration.partition(":")
                if prop.strip() not in _STYLE_PROPS or not _STYLE_VALUE_RE.fullmatch(val.strip()) \
                        or re.search(r"url|expression|javascript", val, re.IGNORECASE):
                    self.problems.append(bad)
        elif name in ("open", "type", "stroke-linecap", "align", "aria-label"):
            pass
        else:
            self.problems.append(bad)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@dataclass(frozen=True)
class Fragment:
    """What an HTML fragment holds: markup not ours (problems) and its text as shown."""

    problems: list[str]
    text: str


def audit_html(fragment: str) -> Fragment:
    """Parse an HTML fragment we produced: list any tag or attribute ours never writes."""
    parser = _Audit()
    parser.feed(fragment)
    parser.close()
    return Fragment(parser.problems, "".join(parser.text))


def map_fragments(data: Any) -> dict[str, str]:
    """Every HTML fragment a prepared map (``geo.maps.build.MapData``) puts on a page."""
    from geo.maps.data import escape_text
    from geo.maps.draw import _layer_label, _legend_html
    from geo.maps.rasters import _legend_with_slider

    out = {"legend": _legend_html(data), "notes": " ".join(escape_text(n) for n in data.notes)}
    for layer in data.layers:
        out[f"layer control {layer.layer_id}"] = _layer_label(layer)
        for feature in layer.geojson["features"]:
            properties = feature["properties"]
            out[f"tooltip {layer.layer_id}/{feature['id']}"] = properties["tip"]
            if "popup" in properties:
                out[f"popup {layer.layer_id}/{feature['id']}"] = properties["popup"]
    for index, line in enumerate(data.chain):
        out[f"chain {index}"] = line.label
    for index, (_, _, label) in enumerate(data.pins):
        out[f"pin {index}"] = label
    for overlay in data.rasters:
        out[f"raster legend {overlay.layer_id}"] = _legend_with_slider(overlay)
        out[f"raster control {overlay.layer_id}"] = f"{overlay.title} (raster)"
    return out
