"""Build-time script: copy the Leaflet files the maps need from npm tarballs into here.

Nothing is downloaded at run time: the app and the standalone HTML export load
these committed files (served by Streamlit or inlined into the HTML).  Images a
stylesheet refers to are embedded as ``data:`` URIs so each CSS file stands alone.

Usage (needs ``npm`` and the npm registry; run from the repository root)::

    python geo/maps/static/vendor.py

See ``README.md`` beside this file for packages, versions and licences.
"""

from __future__ import annotations

import base64
import mimetypes
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: npm package@version -> [(path inside the tarball, file name here)]
PACKAGES: dict[str, list[tuple[str, str]]] = {
    "leaflet@1.9.3": [
        ("package/dist/leaflet.js", "leaflet.js"),
        ("package/dist/leaflet.css", "leaflet.css"),
        ("package/LICENSE", "LICENSE.leaflet"),
        ("package/dist/images/marker-icon.png", "marker-icon.png"),
        ("package/dist/images/marker-icon-2x.png", "marker-icon-2x.png"),
        ("package/dist/images/marker-shadow.png", "marker-shadow.png"),
    ],
    "leaflet.markercluster@1.1.0": [
        ("package/dist/leaflet.markercluster.js", "leaflet.markercluster.js"),
        ("package/dist/MarkerCluster.css", "MarkerCluster.css"),
        ("package/dist/MarkerCluster.Default.css", "MarkerCluster.Default.css"),
        ("package/MIT-LICENCE.txt", "LICENSE.markercluster"),
    ],
    "leaflet-measure@2.1.7": [
        ("package/dist/leaflet-measure.min.js", "leaflet-measure.min.js"),
        ("package/dist/leaflet-measure.css", "leaflet-measure.css"),
        ("package/LICENSE", "LICENSE.leaflet-measure"),
    ],
    "leaflet.fullscreen@3.0.0": [
        ("package/Control.FullScreen.js", "Control.FullScreen.js"),
        ("package/Control.FullScreen.css", "Control.FullScreen.css"),
        ("package/LICENSE", "LICENSE.fullscreen"),
    ],
    "leaflet-mouse-position@1.2.0": [
        ("package/src/L.Control.MousePosition.js", "L.Control.MousePosition.js"),
        ("package/src/L.Control.MousePosition.css", "L.Control.MousePosition.css"),
        ("package/MIT-LICENCE.txt", "LICENSE.mouse-position"),
    ],
    "leaflet-textpath@1.2.3": [
        ("package/leaflet.textpath.js", "leaflet.textpath.js"),
        ("package/LICENSE", "LICENSE.textpath"),
    ],
    # The Draw toolbar of the app's "Draw and edit" map mode (the version folium asks for).
    # The tarball has no licence file; package.json says MIT: LICENSE.draw is written below.
    "leaflet-draw@1.0.2": [
        ("package/dist/leaflet.draw.js", "leaflet.draw.js"),
        ("package/dist/leaflet.draw.css", "leaflet.draw.css"),
    ],
}

#: Licence texts for packages whose tarball ships none (taken from their package.json
#: "license" field and source header).
LICENCES: dict[str, str] = {
    "LICENSE.draw": (
        "Leaflet.draw 1.0.2 - MIT licence (package.json \"license\": \"MIT\")\n"
        "Copyright (c) 2012-2017, Jacob Toye, Jon West, Smartrak, Leaflet\n\n"
        "Permission is hereby granted, free of charge, to any person obtaining a copy of this "
        "software and associated documentation files (the \"Software\"), to deal in the "
        "Software without restriction, including without limitation the rights to use, copy, "
        "modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, "
        "and to permit persons to whom the Software is furnished to do so, subject to the "
        "following conditions:\n\nThe above copyright notice and this permission notice shall "
        "be included in all copies or substantial portions of the Software.\n\n"
        "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, "
        "INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A "
        "PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT "
        "HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF "
        "CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE "
        "OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.\n"
    ),
}

_URL_RE = re.compile(r"url\((['\"]?)([^)'\"#]+)\1\)")


def _inline_css_images(css: str, base: Path) -> str:
    def replace(match: re.Match[str]) -> str:
        target = (base / match.group(2)).resolve()
        if not target.is_file():
            return match.group(0)
        mime = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        payload = base64.b64encode(target.read_bytes()).decode("ascii")
        return f'url("data:{mime};base64,{payload}")'

    return _URL_RE.sub(replace, css)


def main() -> None:
    """Fetch each package with ``npm pack`` and copy the listed files here."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for package, files in PACKAGES.items():
            out = subprocess.run(
                ["npm", "pack", package, "--silent"], cwd=workdir, check=True,
                capture_output=True, text=True,
            ).stdout.strip().splitlines()[-1]
            unpacked = workdir / package.replace("@", "-")
            with tarfile.open(workdir / out) as archive:
                archive.extractall(unpacked, filter="data")
            for inner, name in files:
                source = unpacked / inner
                if name.endswith(".css"):
                    css = _inline_css_images(source.read_text(encoding="utf-8"), source.parent)
                    (HERE / name).write_text(css, encoding="utf-8")
                else:
                    shutil.copyfile(source, HERE / name)
                print(f"{package}: {inner} -> geo/maps/static/{name}")
    for name, text in LICENCES.items():
        (HERE / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
