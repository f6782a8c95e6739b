"""``catchscope serve-features``: the workspace as OGC API – Features, on pygeoapi.

The server is pygeoapi's own Flask app (``pygeoapi.flask_app``, the one pygeoapi
develops and tests first) under waitress, a production WSGI server; nothing here
speaks HTTP beyond two headers.  :func:`serve_features`:

1. refuses an address beyond this machine unless the service is public (redacted);
2. binds the socket first, so ``--port 0`` gets a free port and the links pygeoapi
   writes carry the real one;
3. writes the config generated from the catalogue (:mod:`geo.publish.config`) and its
   OpenAPI document into a private temporary folder (never into the workspace),
   removed when the server stops;
4. imports pygeoapi's app (which reads that config on import) and serves it.

Adjustments to what pygeoapi 0.21 declares and sends:

* It declares, for every feature collection, Parts 2 (CRS), 3 (queryables), 4 (create,
  replace, delete) and 5 (schemas) of OGC API – Features besides Part 1.  This service
  declares only what ``tests/test_publish_features.py`` exercises: OGC API – Common
  (core, landing page, collections, JSON, HTML, OpenAPI 3.0) and Features Part 1 (core,
  GeoJSON, HTML, OpenAPI 3.0) — :data:`DECLARED_FEATURES`.  Part 4 mattered most:
  QGIS offers editing to a server that declares it, and this one is read-only.
* Its conformance page *extends* the module's list on every request (a list that grows
  for as long as the server runs); the list is replaced by one that keeps each class
  once (:class:`_Classes`).
* Its ``bbox`` messages do not always name the parameter ("miny should be less than
  maxy"), and it lets NaN and infinity through: :func:`_validate_bbox` wraps its check.
* It sends the items of a collection as ``application/json``, while its own links and
  OpenAPI document (and Part 1's GeoJSON class) say ``application/geo+json``: the
  wrapper sets ``application/geo+json`` on the items and on single features.
* pygeoapi gives a provider no say over response headers (no ETag, no Last-Modified;
  checked in 0.21: the API builds every header itself).  A small WSGI wrapper
  (:class:`Validated`) adds ``ETag`` (the edit store's version of the layer, or its
  file's mtime) and ``Last-Modified`` to a collection's responses and answers a
  matching ``If-None-Match`` with 304.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import re
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

from geo.core.errors import GeoError, ServerConfigError
from geo.export.exportset import Redaction
from geo.publish.config import pygeoapi_config, write_yaml
from geo.publish.sources import LayerVersion, WorkspaceSource, source_for

__all__ = ["DECLARED_FEATURES", "Validated", "check_host", "serve_features"]

_SPEC = "http://www.opengis.net/spec"
#: The OGC API – Features conformance classes this service declares (see the docstring).
DECLARED_FEATURES = (f"{_SPEC}/ogcapi-features-1/1.0/conf/core",
                     f"{_SPEC}/ogcapi-features-1/1.0/conf/geojson",
                     f"{_SPEC}/ogcapi-features-1/1.0/conf/html",
                     f"{_SPEC}/ogcapi-features-1/1.0/conf/oas30")
_COLLECTION_PATH = re.compile(r"^/collections/([^/]+)(/items(?:/[^/]+)?)?/?$")

StartResponse = Callable[..., Any]


def check_host(host: str, *, public: bool) -> None:
    """Refuse to bind beyond this machine unless the service serves redacted copies only."""
    if public:
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ServerConfigError(
            f"Refusing to serve the unredacted workspace on {host}: without --public the "
            "service binds to this machine only (127.0.0.1). Pass --public to serve redacted "
            "copies (water intakes and outfalls coarsened to 1 km) to other machines.")


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as err:
        raise ServerConfigError(f"Cannot listen on {host}:{port}: {err.strerror or err}. "
                                "Choose another --port (0 picks a free one).") from None
    return sock


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding it
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


@contextlib.contextmanager
def _stopped_by_sigterm() -> Iterator[None]:
    """Let SIGTERM end the server like Ctrl-C, so the temporary config is removed."""

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve_features(
    workspace: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    redaction: Redaction | str | None = None,
    url: str | None = None,
    layer_version: LayerVersion | None = None,
    announce: Callable[[str], None] | None = None,
    threads: int = 4,
) -> None:
    """Serve ``workspace`` as OGC API – Features until interrupted.

    Parameters
    ----------
    workspace : Path or str
        The workspace folder.
    host, port : str, int
        Address to bind; beyond the loopback only with a ``redaction`` (public).
        Port 0 picks a free port.
    redaction : {"sensitive", "drop-sensitive"}, optional
        Serve public copies only (intakes and outfalls coarsened, or left out).
    url : str, optional
        The base URL clients use (behind a proxy); default ``http://host:port``.
    layer_version : callable, optional
        ``geo.store.gpkg.layer_version``, for ETags that carry the store's version.
    announce : callable, optional
        Called with the service's URL once it accepts connections.

    Raises
    ------
    ServerConfigError
        A refused or unusable address.
    WorkspaceError
        The workspace cannot be opened.
    """
    redaction = Redaction(redaction) if redaction else None
    check_host(host, public=redaction is not None)
    source = source_for(workspace, redaction, layer_version=layer_version)
    source.workspace()  # a broken workspace fails here, before anything listens
    sock = _bind(host, port)
    try:
        port = sock.getsockname()[1]
        base = (url or f"http://{_url_host(host)}:{port}").rstrip("/")
        with tempfile.TemporaryDirectory(prefix="catchscope-features-") as folder:
            catalogue = Catalogue(source, Path(folder), url=base, host=host, port=port)
            _run(Validated(catalogue.app, source, catalogue), sock, threads,
                 lambda: announce and announce(base))
    finally:
        sock.close()


class Catalogue:
    """pygeoapi's app over ``source``, its collections following the workspace's catalogue.

    pygeoapi reads its configuration once.  Before each request :meth:`refresh` stats the
    catalogue (``catchscope.toml``, ``layers/*.toml``, the site records); when a layer or
    a site was added, renamed or removed, the configuration and the OpenAPI document are
    generated again and pygeoapi's API object is replaced, so the new collections are
    served without a restart.  Requests under way finish on the API they started with.
    """

    def __init__(self, source: WorkspaceSource, folder: Path, *, url: str, host: str,
                 port: int) -> None:
        self.source, self.folder = source, folder
        self.url, self.host, self.port = url, host, port
        self._lock = threading.Lock()
        self.state = source.catalogue_state()
        self.app = _pygeoapi_app(source, folder, url=url, host=host, port=port)

    def refresh(self) -> None:
        """Rebuild pygeoapi's API if the catalogue changed since it was built."""
        state = self.source.catalogue_state()
        if state == self.state:
            return
        with self._lock:
            if state == self.state:
                return
            config, openapi = _write_config(self.source, self.folder, url=self.url,
                                            host=self.host, port=self.port)
            import pygeoapi.flask_app as flask_app
            from pygeoapi.api import API

            flask_app.CONFIG, flask_app.OPENAPI = config, openapi
            flask_app.api_ = API(config, openapi)
            self.state = state


def _write_config(source: WorkspaceSource, folder: Path, *, url: str, host: str,
                  port: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pygeoapi config and OpenAPI document of ``source``, also written into ``folder``."""
    config = pygeoapi_config(source, url=url, host=host, port=port)
    config_path = write_yaml(config, folder / "pygeoapi-config.yml")
    os.environ["PYGEOAPI_CONFIG"] = str(config_path)
    from pygeoapi.openapi import get_oas

    openapi = get_oas(config)
    openapi_path = write_yaml(openapi, folder / "pygeoapi-openapi.yml")
    os.environ["PYGEOAPI_OPENAPI"] = str(openapi_path)
    return config, openapi


def _pygeoapi_app(source: WorkspaceSource, folder: Path, *, url: str, host: str,
                  port: int) -> Any:
    """The pygeoapi Flask app over the config of ``source`` (written into ``folder``)."""
    _write_config(source, folder, url=url, host=host, port=port)
    import pygeoapi.api as api
    import pygeoapi.api.itemtypes as itemtypes
    from pygeoapi.flask_app import APP

    itemtypes.CONFORMANCE_CLASSES_FEATURES = list(DECLARED_FEATURES)
    if not isinstance(api.CONFORMANCE_CLASSES, _Classes):
        api.CONFORMANCE_CLASSES = _Classes(api.CONFORMANCE_CLASSES)
    if not getattr(itemtypes.validate_bbox, "checks_finite", False):
        itemtypes.validate_bbox = _validate_bbox(itemtypes.validate_bbox)
    return APP


class _Classes(list[str]):
    """A list of conformance classes that keeps each once, however often it is extended."""

    def extend(self, values: Iterable[str]) -> None:
        """Add the classes not listed yet."""
        super().extend(v for v in dict.fromkeys(values) if v not in self)


def _validate_bbox(check: Callable[[str | None], list[float]]) -> Callable[..., list[float]]:
    """Wrap pygeoapi's ``bbox`` check: messages that name the parameter, finite numbers only."""

    def validate(value: str | None = None) -> list[float]:
        try:
            bbox = check(value)
            if not all(math.isfinite(v) for v in bbox):
                raise ValueError("bbox values must be finite numbers")
        except ValueError as err:
            raise ValueError(f"Invalid bbox parameter: {err}. Give bbox=minx,miny,maxx,maxy "
                             "in degrees of longitude and latitude (WGS84).") from None
        return bbox

    validate.checks_finite = True  # type: ignore[attr-defined]
    return validate


def _run(app: Any, sock: socket.socket, threads: int, ready: Callable[[], Any]) -> None:
    from waitress.server import create_server

    server = create_server(app, sockets=[sock], threads=threads, ident="catchscope",
                           max_request_body_size=1_048_576, clear_untrusted_proxy_headers=True)
    ready()
    with _stopped_by_sigterm(), contextlib.suppress(KeyboardInterrupt):
        server.run()
    server.close()


class Validated:
    """WSGI wrapper: ``ETag`` and ``Last-Modified`` on a collection's responses, and 304s.

    The tag is taken *before* the app reads the data, so a save racing a request can
    only make the tag older than the body (the next request then gets the new body),
    never newer.  The response's media type is part of the tag: JSON and HTML of the
    same URL are different representations.
    """

    def __init__(self, app: Any, source: WorkspaceSource,
                 catalogue: Catalogue | None = None) -> None:
        self.app = app
        self.source = source
        self.catalogue = catalogue

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request (the WSGI interface)."""
        if self.catalogue is not None:
            # a layer file broken mid-edit: the last good catalogue is served meanwhile
            with contextlib.suppress(GeoError):
                self.catalogue.refresh()
        match = _COLLECTION_PATH.match(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD") or match is None:
            return self.app(environ, start_response)
        try:
            validators = self.source.validators(self.source.collection(match.group(1)))
        except GeoError:  # not a collection (any more): pygeoapi answers
            return self.app(environ, start_response)
        answer: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer.update(status=status, headers=headers, exc_info=exc_info)
            return lambda data: None  # pygeoapi's Flask app never calls write()

        body = self.app(environ, capture)
        status: str = answer["status"]
        headers = list(answer["headers"])
        if status.startswith("200"):
            kind = next((v for k, v in headers if k.lower() == "content-type"), "")
            if match.group(2) and kind.split(";")[0].strip() == "application/json":
                kind = "application/geo+json"
                headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
                headers.append(("Content-Type", kind))
            form = "html" if "html" in kind else ("ld" if "ld+json" in kind else "json")
            etag = f'W/"{validators.etag}-{form}"'
            headers += [("ETag", etag),
                        ("Last-Modified", formatdate(validators.modified, usegmt=True))]
            wanted = environ.get("HTTP_IF_NONE_MATCH", "")
            if etag in (t.strip() for t in wanted.split(",")) or wanted.strip() == "*":
                with contextlib.suppress(AttributeError):
                    body.close()
                keep = {"etag", "last-modified", "cache-control", "vary", "content-location"}
                start_response("304 Not Modified", [h for h in headers if h[0].lower() in keep])
                return []
        start_response(status, headers, answer.get("exc_info"))
        return body
