"""Digest of every file the demo sites' exports write: show a refactor changed nothing.

Run before and after a change and compare (``diff``): one line per exported file,
``<sha256>  <site>/<file>``. The export time is pinned; what still varies from run to run
by design is normalised before hashing: folium's random element ids in the HTML map, the
PDF's creation date and document id, GDAL's write timestamps in the GeoPackage (hashed as
an SQL dump) and the KMZ's zip dates (hashed by member contents).

    .venv/bin/python bench/export_digest.py > before.txt
    ... change ...
    .venv/bin/python bench/export_digest.py > after.txt && diff before.txt after.txt
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import sqlite3
import sys
import tempfile
import zipfile
from pathlib import Path

from geo import open_workspace
from geo.export.site import collect, render

_FIXED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_TIMESTAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def _stable(name: str, payload: bytes) -> bytes:
    """The bytes of an exported file with its by-design run-to-run variation removed."""
    if name.endswith(".html"):
        return re.sub(rb"[0-9a-f]{32}", b"ID", payload)
    if name.endswith(".pdf"):
        payload = re.sub(rb"/CreationDate \(D:[^)]*\)", b"", payload)
        return re.sub(rb"/ID \[<[0-9a-f]+> <[0-9a-f]+>\]", b"", payload)
    if name.endswith(".kmz"):
        with zipfile.ZipFile(io.BytesIO(payload)) as kmz:
            return b"".join(kmz.read(n) for n in sorted(kmz.namelist()))
    if name.endswith(".gpkg"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "x.gpkg"
            path.write_bytes(payload)
            connection = sqlite3.connect(path)
            dump = "\n".join(connection.iterdump()).encode()
            connection.close()
        return _TIMESTAMP.sub(b"T", dump)
    return payload


def main() -> int:
    ws = open_workspace()
    for aws_ref in ("AWS-000521", "AWS-000522"):
        for redaction in (None, "sensitive"):
            data = collect(ws, aws_ref, redact=redaction)
            data.generated = _FIXED
            label = f"{aws_ref}{'-' + redaction if redaction else ''}"
            parts = render(data, "bundle", paper="a4")
            for name, payload in sorted(parts.items()):
                with zipfile.ZipFile(io.BytesIO(payload)) as bundle:
                    for info in sorted(bundle.infolist(), key=lambda i: i.filename):
                        stable = _stable(info.filename, bundle.read(info))
                        digest = hashlib.sha256(stable).hexdigest()
                        sys.stdout.write(f"{digest}  {label}/{name}/{info.filename}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
