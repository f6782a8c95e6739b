"""Safe first contact with user bytes (part of :mod:`geo.ingest.read`).

Paths typed on the command line, size limits, format sniffing from the content, and
zip archives checked before anything is extracted (entry count, sizes, ratio, names).
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from pathlib import Path, PurePosixPath

from geo.core.errors import DataReadError, UnsafeInputError
from geo.ingest.model import Limits, SourceFormat

__all__ = ["read_user_file", "sniff_format", "user_path"]

# --- paths typed by a user (CLI) ------------------------------------------------------------

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_SYSTEM_DIRS = ("/etc", "/proc", "/sys", "/dev", "/boot", "/run", "/var/run", "/var/lib")


def user_path(path_text: str | Path) -> Path:
    """The plain file a user named on the command line, resolved; anything else refused.

    Raises
    ------
    UnsafeInputError
        For GDAL virtual paths (``/vsi…``), URLs and connection strings (``http://``,
        ``PG:``…), and files under system folders (``/etc``, ``/proc``, ``/dev``…).
    DataReadError
        If the file does not exist or is not a regular file.
    """
    text = str(path_text).strip()
    if text.startswith(("/vsi", "\\\\", "//")) or (_SCHEME.match(text) and not
                                                    re.match(r"^[A-Za-z]:[\\/]", text)):
        raise UnsafeInputError(
            f"{text!r} is not a plain file path (GDAL virtual path, URL or connection "
            "string); refusing to open it. Download the file first and give its path."
        )
    path = Path(text).expanduser().resolve()
    if any(path == Path(d) or path.is_relative_to(d) for d in _SYSTEM_DIRS):
        raise UnsafeInputError(
            f"{text!r} is a system file; refusing to read it. Give the path of your data file."
        )
    if not path.exists():
        raise DataReadError(f"{text}: no such file.")
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise DataReadError(f"{text}: not a regular file (a folder, device or pipe).")
    return path


def read_user_file(path_text: str | Path, *, limits: Limits | None = None) -> tuple[bytes, str]:
    """Read a file a user named on the command line, refusing anything but a plain file.

    Returns
    -------
    (bytes, str)
        The content and the file's base name.

    Raises
    ------
    UnsafeInputError
        For GDAL virtual paths (``/vsi…``), URLs and connection strings (``http://``,
        ``PG:``…), and files under system folders (``/etc``, ``/proc``, ``/dev``…).
    DataReadError
        If the file does not exist, is not a regular file, or is over the size limit.
    """
    limits = limits or Limits()
    path = user_path(path_text)
    size = path.stat().st_size
    _check_size(size, path.name, limits)
    with open(path, "rb") as handle:
        data = handle.read(limits.max_bytes + 1)
    _check_size(len(data), path.name, limits)
    return data, path.name


def _check_size(size: int, name: str, limits: Limits) -> None:
    if size == 0:
        raise DataReadError(f"{name} is empty (0 bytes); nothing to import.")
    if size > limits.max_bytes:
        raise UnsafeInputError(
            f"{name} is {size / 1e6:.1f} MB, over the upload limit of "
            f"{limits.max_bytes / 1e6:.0f} MB. Split it or simplify the geometries."
        )


def _display_name(filename: str) -> str:
    base = re.split(r"[\\/]", filename or "upload")[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip()[:120]
    return base or "upload"


# --- sniffing -------------------------------------------------------------------------------

_EXTENSION_FORMATS: dict[str, tuple[SourceFormat, ...]] = {
    ".geojson": (SourceFormat.GEOJSON,),
    ".json": (SourceFormat.GEOJSON,),
    ".zip": (SourceFormat.ZIP,),
    ".kmz": (SourceFormat.ZIP,),
    ".xlsx": (SourceFormat.ZIP,),
    ".kml": (SourceFormat.KML,),
    ".gpkg": (SourceFormat.GPKG,),
    ".csv": (SourceFormat.CSV,),
    ".tsv": (SourceFormat.CSV,),
    ".txt": (SourceFormat.CSV,),
    ".gpx": (SourceFormat.GPX,),
}

_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"II*\x00", "a TIFF/GeoTIFF raster"),
    (b"MM\x00*", "a TIFF/GeoTIFF raster"),
    (b"II+\x00", "a BigTIFF raster"),
    (b"MM\x00+", "a BigTIFF raster"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or Office file; save it as .xlsx or .csv"),
    (b"\x1f\x8b", "a gzip archive; upload a .zip"),
    (b"7z\xbc\xaf", "a 7-Zip archive; upload a .zip"),
    (b"Rar!", "a RAR archive; upload a .zip"),
    (b"\x00\x00'\n", "a bare .shp file; zip it with its .shx, .dbf and .prj"),
    (b"\x89HDF", "an HDF5/NetCDF file"),
    (b"CDF\x01", "a NetCDF file"),
)


def _xml_root(data: bytes) -> str | None:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"<"):
        return None
    text = head.decode("utf-8", errors="replace")
    for match in re.finditer(r"<\s*([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)", text):
        name = match.group(2)
        if not text[match.start():].startswith(("<?", "<!")):
            return name
    return "?"


def sniff_format(data: bytes, filename: str = "") -> SourceFormat:
    """Tell an upload's format from its content, cross-checked with its extension.

    Raises
    ------
    UnsafeInputError
        For formats that read other files or URLs (VRT, rasters) or that we refuse.
    DataReadError
        For content we cannot read, or content that contradicts the extension.
    """
    name = _display_name(filename)
    sniffed = _sniff_content(data, name)
    expected = _EXTENSION_FORMATS.get(PurePosixPath(name).suffix.lower())
    if expected and sniffed not in expected:
        claimed = expected[0].value
        raise DataReadError(
            f"{name} is not {claimed}: its content is {sniffed.value}. Rename it with the "
            "right extension if that is what it is, or export it again."
        )
    return sniffed


def _sniff_content(data: bytes, name: str) -> SourceFormat:
    if not data:
        raise DataReadError(f"{name} is empty (0 bytes); nothing to import.")
    for magic, what in _REFUSED_MAGIC:
        if data.startswith(magic):
            if "TIFF" in what:
                raise UnsafeInputError(
                    f"{name} is {what}. Rasters are not imported as features (a TIFF can "
                    "also point GDAL at other files); add rasters as layer files instead."
                )
            raise DataReadError(f"{name} is {what}, not a vector data file we import.")
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return SourceFormat.ZIP
    if data.startswith(b"SQLite format 3\x00"):
        return SourceFormat.GPKG
    root = _xml_root(data)
    if root is not None:
        lowered = root.lower()
        if lowered in ("ogrvrtdatasource", "vrtdataset", "gdal_wms", "wms_capabilities"):
            raise UnsafeInputError(
                f"{name} is a GDAL VRT/WMS description, which makes GDAL read other files "
                "or URLs; refusing it. Upload the data itself."
            )
        if lowered == "kml":
            return SourceFormat.KML
        if lowered == "gpx":
            return SourceFormat.GPX
        raise DataReadError(
            f"{name} is XML with root <{root}>, not KML or GPX. Export it as GeoJSON, "
            "GeoPackage, KML or a zipped Shapefile."
        )
    stripped = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith((b"{", b"[")):
        return SourceFormat.GEOJSON
    if b"\x00" in data[:8192]:
        raise DataReadError(f"{name} is a binary file of a kind we do not read.")
    return SourceFormat.CSV


# --- zip archives ---------------------------------------------------------------------------


def _open_zip(data: bytes, name: str, limits: Limits) -> zipfile.ZipFile:
    """Open a zip and refuse it *before extracting anything* if it looks hostile."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as err:
        raise DataReadError(f"{name} is not a readable zip archive ({err}); it may be "
                            "truncated. Zip the files again.") from err
    if len(entries) > limits.max_zip_entries:
        raise UnsafeInputError(
            f"{name} holds {len(entries)} entries, over the limit of "
            f"{limits.max_zip_entries}; refusing to open it (zip bomb guard)."
        )
    total = 0
    for info in entries:
        _check_member_name(info, name)
        if info.flag_bits & 0x1:
            raise DataReadError(f"{name}: {info.filename!r} is encrypted; upload it unencrypted.")
        total += info.file_size
        if (info.file_size > limits.ratio_floor_bytes
                and info.file_size > limits.max_ratio * max(info.compress_size, 1)):
            ratio = info.file_size / max(info.compress_size, 1)
            raise UnsafeInputError(
                f"{name}: {info.filename!r} expands {ratio:.0f} times (limit "
                f"{limits.max_ratio:.0f}); refusing it (zip bomb guard)."
            )
    if total > limits.max_unzipped_bytes:
        raise UnsafeInputError(
            f"{name} would expand to {total / 1e6:.0f} MB, over the limit of "
            f"{limits.max_unzipped_bytes / 1e6:.0f} MB; refusing it (zip bomb guard)."
        )
    if total > limits.ratio_floor_bytes and total > limits.max_ratio * len(data):
        raise UnsafeInputError(
            f"{name} expands {total / len(data):.0f} times (limit {limits.max_ratio:.0f}); "
            "refusing it (zip bomb guard)."
        )
    return archive


def _check_member_name(info: zipfile.ZipInfo, name: str) -> None:
    member = info.filename
    parts = re.split(r"[\\/]", member)
    if (member.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", member)
            or ".." in parts or "\x00" in member):
        raise UnsafeInputError(
            f"{name}: entry {member!r} points outside the archive (absolute path, drive "
            "letter or '..'); refusing it (zip-slip guard)."
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UnsafeInputError(f"{name}: entry {member!r} is a symbolic link; refusing it.")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    try:
        with archive.open(info) as handle:
            payload = handle.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise DataReadError(f"{name}: entry {info.filename!r} cannot be read ({err}).") from err
    if len(payload) > info.file_size:
        raise UnsafeInputError(f"{name}: entry {info.filename!r} is larger than declared.")
    return payload


def _files(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [i for i in archive.infolist() if not i.is_dir()
            and not PurePosixPath(i.filename).name.startswith(".")
            and "__MACOSX" not in i.filename]


def _classify_zip(archive: zipfile.ZipFile, name: str) -> SourceFormat:
    names = [i.filename.replace("\\", "/") for i in _files(archive)]
    lowered = [n.lower() for n in names]
    if "xl/workbook.xml" in lowered:
        return SourceFormat.XLSX
    if any(n.endswith(".shp") for n in lowered):
        return SourceFormat.SHAPEFILE_ZIP
    if any(n.endswith(".kml") for n in lowered):
        return SourceFormat.KMZ
    if any(n.endswith((".dbf", ".shx")) for n in lowered):
        raise DataReadError(
            f"{name} has shapefile parts but no .shp file. A shapefile needs .shp, .shx and "
            ".dbf (and .prj for its CRS); zip all of them together."
        )
    listing = ", ".join(names[:8]) or "nothing"
    raise DataReadError(
        f"{name} holds no shapefile, KML or spreadsheet (it contains: {listing}). "
        "Zip a shapefile's .shp, .shx, .dbf and .prj, or upload the file itself."
    )
