"""``.syp`` packages: a zip of ``plugin.toml``, ``plugin.wasm`` and an optional ``README.md``.

:func:`pack` is deterministic (sorted entries, fixed timestamps and permissions), so the
same sources always give the same bytes and the same sha256, which signatures and the
marketplace index pin. :func:`open_package` treats the archive as hostile: it reads only
the three known names, refuses links, traversal, duplicates and encryption, and never
trusts the sizes a zip declares (a small archive may expand to gigabytes): it stops
reading at the limit.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from sandbox.manifest import Manifest, ManifestError, load_manifest

__all__ = [
    "MANIFEST",
    "MAX_ARCHIVE",
    "MAX_SIZES",
    "MAX_TOTAL",
    "README",
    "WASM",
    "Package",
    "PackageError",
    "check_wasm",
    "open_package",
    "pack",
]

MANIFEST, WASM, README = "plugin.toml", "plugin.wasm", "README.md"
MAX_SIZES = {MANIFEST: 64 * 1024, WASM: 16 * 1024 * 1024, README: 256 * 1024}
MAX_TOTAL = 17 * 1024 * 1024  # every entry, uncompressed
MAX_ARCHIVE = 17 * 1024 * 1024  # the .syp file itself
_WASM_MAGIC = b"\0asm"
_CORE_MODULE = b"\x01\x00\x00\x00"  # version 1; components use another version/layer
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold
_FILE_NAME = re.compile(r"(?P<name>[a-z][a-z0-9-]*)-(?P<version>[0-9]+\.[0-9]+\.[0-9]+)\.syp")


class PackageError(ValueError):
    """A package (or a plugin folder to pack) cannot be used; the message says why."""


@dataclass(frozen=True)
class Package:
    """The validated contents of a ``.syp``; ``sha256`` is of the archive's bytes."""

    manifest: Manifest
    manifest_text: str  # as the author wrote it; the store keeps this, not a re-rendering
    wasm: bytes
    readme: str | None
    sha256: str
    source: str  # the file it came from, for messages


def check_wasm(wasm: bytes, where: str = WASM) -> None:
    """Refuse bytes that are not a core WebAssembly module (garbage, a component, truncated)."""
    if wasm[:4] != _WASM_MAGIC:
        raise PackageError(f"{where}: not a WebAssembly module (it does not start with \\0asm)")
    if wasm[4:8] != _CORE_MODULE:
        raise PackageError(
            f"{where}: a WebAssembly component or an unknown module version; "
            "the sandbox runs core modules (build with `switchyard plugin build`)"
        )
    import wasmtime

    try:
        wasmtime.Module.validate(wasmtime.Engine(), wasm)
    except wasmtime.WasmtimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid module"
        raise PackageError(f"{where}: not a valid WebAssembly module: {first}") from None


def pack(source_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Write ``NAME-VERSION.syp`` from a plugin folder; returns its path.

    ``out`` is a folder (default: the current one) or a file path ending in ``.syp``. The
    folder must hold ``plugin.toml`` and a built ``plugin.wasm``; ``README.md`` is added
    when present. Everything is checked as :func:`open_package` would, so a package that
    packs also installs.
    """
    folder = Path(source_dir)
    if not folder.is_dir():
        raise PackageError(f"{folder}: not a folder")
    manifest = _load_dir_manifest(folder)
    wasm_path = folder / WASM
    if not wasm_path.is_file():
        raise PackageError(
            f"{wasm_path}: missing; build it first with `switchyard plugin build {folder}`"
        )
    entries = {MANIFEST: (folder / MANIFEST).read_bytes(), WASM: wasm_path.read_bytes()}
    if (folder / README).is_file():
        entries[README] = (folder / README).read_bytes()
    for name, data in entries.items():
        if len(data) > MAX_SIZES[name]:
            raise PackageError(
                f"{folder / name}: {len(data)} bytes, over the {_size(MAX_SIZES[name])} limit"
            )
    check_wasm(entries[WASM], str(wasm_path))
    if README in entries:
        _text(entries[README], str(folder / README))

    target = Path(out) if out is not None else Path.cwd()
    if target.suffix != ".syp":
        target = target / manifest.package_name
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permission bits below mean the same everywhere
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, entries[name], compresslevel=9)
    if buffer.tell() > MAX_ARCHIVE:
        raise PackageError(
            f"{target.name}: {buffer.tell()} bytes, over the {_size(MAX_ARCHIVE)} limit"
        )
    _write_atomically(target, buffer.getvalue())
    return target


def read_package_file(path: str | os.PathLike[str]) -> bytes:
    """A package file's bytes, refusing an oversized one before reading it."""
    source = Path(path)
    try:
        size = source.stat().st_size
    except OSError as exc:
        raise PackageError(f"{source}: {exc.strerror or exc}") from None
    if size > MAX_ARCHIVE:
        raise PackageError(f"{source.name}: {size} bytes, over the {_size(MAX_ARCHIVE)} limit")
    return source.read_bytes()


def open_package(path: str | os.PathLike[str], data: bytes | None = None) -> Package:
    """Read and check a ``.syp``; ``data`` (the file's bytes, if already read) avoids a re-read.

    Raises :class:`PackageError` naming what is wrong; nothing is extracted to disk.
    """
    source = Path(path)
    if data is None:
        data = read_package_file(source)
    if len(data) > MAX_ARCHIVE:
        raise PackageError(f"{source.name}: {len(data)} bytes, over the {_size(MAX_ARCHIVE)} limit")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise PackageError(
            f"{source.name}: not a .syp package (not a zip archive: {exc})"
        ) from None
    with archive:
        contents = _read_entries(archive, source.name)
    if MANIFEST not in contents:
        raise PackageError(f"{source.name}: no {MANIFEST} in the package")
    if WASM not in contents:
        raise PackageError(f"{source.name}: no {WASM} in the package")
    manifest_text = _text(contents[MANIFEST], f"{source.name}: {MANIFEST}")
    try:
        manifest = load_manifest(contents[MANIFEST])  # bytes: always parsed as text
    except ManifestError as exc:
        raise PackageError(f"{source.name}: {exc}") from None
    check_wasm(contents[WASM], f"{source.name}: {WASM}")
    readme = _text(contents[README], f"{source.name}: {README}") if README in contents else None
    named = _FILE_NAME.fullmatch(source.name)
    if named and (named["name"], named["version"]) != (manifest.name, manifest.version):
        raise PackageError(
            f"{source.name}: the file name says {named['name']} {named['version']} but "
            f"{MANIFEST} says {manifest.name} {manifest.version}; the package was renamed or tampered with"
        )
    return Package(
        manifest=manifest,
        manifest_text=manifest_text,
        wasm=contents[WASM],
        readme=readme,
        sha256=hashlib.sha256(data).hexdigest(),
        source=str(source),
    )


def _read_entries(archive: zipfile.ZipFile, label: str) -> dict[str, bytes]:
    """Every entry's bytes, after refusing anything a well-formed package never holds."""
    infos = archive.infolist()
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
            raise PackageError(f"{label}: entry {name!r} has an absolute path")
        if "\\" in name or ".." in name.split("/"):
            raise PackageError(f"{label}: entry {name!r} points outside the package ('..' or '\\')")
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_ISLNK(mode):
            raise PackageError(f"{label}: entry {name!r} is a symbolic link")
        if info.is_dir():
            raise PackageError(f"{label}: entry {name!r} is a folder; a package holds only files")
        if name not in MAX_SIZES:
            raise PackageError(
                f"{label}: unexpected entry {name!r}; a package holds only {MANIFEST}, {WASM} and {README}"
            )
        if name in seen:
            raise PackageError(f"{label}: entry {name!r} appears twice")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise PackageError(f"{label}: entry {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise PackageError(f"{label}: entry {name!r} uses an unsupported compression method")
        if info.file_size > MAX_SIZES[name]:
            raise PackageError(
                f"{label}: {name} is {info.file_size} bytes, over the {_size(MAX_SIZES[name])} limit"
            )
    contents: dict[str, bytes] = {}
    total = 0
    for info in infos:
        limit = MAX_SIZES[info.filename]
        try:
            with archive.open(info) as stream:
                # The declared size may lie: read one byte past the limit to catch a bomb.
                body = stream.read(limit + 1)
                if len(body) > limit:
                    raise PackageError(
                        f"{label}: {info.filename} expands to more than {_size(limit)} (a zip bomb?)"
                    )
                if stream.read(1):
                    raise PackageError(f"{label}: {info.filename} is longer than its declared size")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise PackageError(f"{label}: {info.filename} is corrupt ({exc})") from None
        total += len(body)
        if total > MAX_TOTAL:
            raise PackageError(
                f"{label}: the entries expand to more than {_size(MAX_TOTAL)} in all"
            )
        contents[info.filename] = body
    return contents


def _load_dir_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST
    if not path.is_file():
        raise PackageError(f"{path}: missing; every plugin folder needs a {MANIFEST}")
    try:
        return load_manifest(path)
    except ManifestError as exc:
        raise PackageError(str(exc)) from None


def _text(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PackageError(f"{where}: not UTF-8 text") from None


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"


def _write_atomically(target: Path, data: bytes) -> None:
    """Readers never see a half-written package: write a sibling, then rename over."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
