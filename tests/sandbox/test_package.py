""".syp packages: deterministic packing, and hostile archives refused with a clear reason."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from pathlib import Path

import pytest

from sandbox import package as package_module
from sandbox.package import PackageError, open_package, pack
from tests.sandbox.helpers import EMPTY_WASM, make_package, manifest_text, plugin_folder


def write_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def good_entries() -> list[tuple[str | zipfile.ZipInfo, bytes]]:
    return [("plugin.toml", manifest_text().encode()), ("plugin.wasm", EMPTY_WASM)]


def test_pack_then_open_gives_back_the_sources(tmp_path: Path) -> None:
    path = make_package(tmp_path)
    assert path.name == "pii-redactor-0.1.0.syp"
    found = open_package(path)
    assert found.manifest.name == "pii-redactor" and found.wasm == EMPTY_WASM
    assert found.readme == "# PII\n" and found.manifest_text == manifest_text()
    assert found.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["README.md", "plugin.toml", "plugin.wasm"]


def test_pack_is_deterministic(tmp_path: Path) -> None:
    first = make_package(tmp_path / "a")
    folder = plugin_folder(tmp_path / "b")
    for f in folder.iterdir():  # other timestamps and permissions must not matter
        f.chmod(0o600)
        os.utime(f, (1_900_000_000, 1_900_000_000))
    second = pack(folder, tmp_path / "b" / "dist")
    assert first.read_bytes() == second.read_bytes()


def test_pack_writes_to_a_named_file_and_without_readme(tmp_path: Path) -> None:
    folder = plugin_folder(tmp_path, readme=None)
    path = pack(folder, tmp_path / "out" / "custom.syp")
    assert path == tmp_path / "out" / "custom.syp"
    assert open_package(path).readme is None


def test_pack_refuses_an_unbuilt_or_invalid_folder(tmp_path: Path) -> None:
    folder = plugin_folder(tmp_path)
    (folder / "plugin.wasm").unlink()
    with pytest.raises(
        PackageError, match=r"plugin.wasm: missing; build it first with `switchyard plugin build"
    ):
        pack(folder, tmp_path)
    (folder / "plugin.wasm").write_bytes(b"MZ\x90\x00 not wasm")
    with pytest.raises(PackageError, match=r"plugin.wasm: not a WebAssembly module"):
        pack(folder, tmp_path)
    (folder / "plugin.wasm").write_bytes(EMPTY_WASM)
    (folder / "plugin.toml").write_text(manifest_text().replace("abi = 1", "abi = 0"))
    with pytest.raises(PackageError, match=r"plugin.toml: abi: expected an integer >= 1"):
        pack(folder, tmp_path)
    assert not list(tmp_path.glob("*.syp"))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../plugin.wasm", r"entry '../plugin.wasm' points outside the package"),
        ("a/../../etc/passwd", r"entry 'a/../../etc/passwd' points outside the package"),
        ("/etc/passwd", r"entry '/etc/passwd' has an absolute path"),
        ("C:/evil.dll", r"entry 'C:/evil.dll' has an absolute path"),
        (
            "evil.so",
            r"unexpected entry 'evil.so'; a package holds only plugin.toml, plugin.wasm and README.md",
        ),
        ("lib/", r"entry 'lib/' is a folder"),
    ],
)
def test_hostile_entry_names_are_refused(tmp_path: Path, name: str, reason: str) -> None:
    path = write_zip(tmp_path / "x.syp", [*good_entries(), (name, b"boo")])
    with pytest.raises(PackageError, match=r"^x\.syp: " + reason):
        open_package(path)


def test_a_symlink_entry_is_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("README.md")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = write_zip(tmp_path / "x.syp", [*good_entries(), (link, b"/etc/shadow")])
    with pytest.raises(PackageError, match=r"entry 'README.md' is a symbolic link"):
        open_package(path)


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        path = write_zip(
            tmp_path / "x.syp", [*good_entries(), ("plugin.wasm", b"\0asm\x01\0\0\0\0")]
        )
    with pytest.raises(PackageError, match=r"entry 'plugin.wasm' appears twice"):
        open_package(path)


def test_a_zip_bomb_is_stopped_at_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 50 MiB of zeros deflate to ~50 KiB; a smaller limit keeps the test fast.
    monkeypatch.setitem(package_module.MAX_SIZES, "README.md", 1024 * 1024)
    bomb = b"\0" * (50 * 1024 * 1024)
    path = write_zip(tmp_path / "x.syp", [*good_entries(), ("README.md", bomb)])
    assert path.stat().st_size < 200 * 1024  # small archive, huge content
    with pytest.raises(PackageError, match=r"README.md is 52428800 bytes, over the 1 MiB limit"):
        open_package(path)


def test_a_bomb_that_lies_about_its_size_is_stopped_while_reading(tmp_path: Path) -> None:
    """The declared size is patched down to 10 bytes: reading stops there and the CRC fails."""
    buffer = io.BytesIO()
    payload = b"A" * (300 * 1024)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in good_entries():
            archive.writestr(name, data)
        archive.writestr("README.md", payload)
    raw = bytearray(buffer.getvalue())
    size = len(payload).to_bytes(4, "little")
    # Patch the uncompressed size in the local header and the central directory.
    for at in [i for i in range(len(raw) - 4) if raw[i : i + 4] == size]:
        raw[at : at + 4] = (10).to_bytes(4, "little")
    path = tmp_path / "x.syp"
    path.write_bytes(bytes(raw))
    with pytest.raises(PackageError, match=r"README.md is corrupt \(Bad CRC-32"):
        open_package(path)


def test_the_archive_itself_is_size_limited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(package_module, "MAX_ARCHIVE", 100)
    path = write_zip(tmp_path / "x.syp", good_entries())
    with pytest.raises(PackageError, match=r"x.syp: \d+ bytes, over the 0 KiB limit"):
        open_package(path)


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([("plugin.toml", manifest_text().encode())], "no plugin.wasm in the package"),
        ([("plugin.wasm", EMPTY_WASM)], "no plugin.toml in the package"),
        (
            [("plugin.toml", manifest_text().encode()), ("plugin.wasm", b"\x7fELF\x02\x01\x01")],
            r"plugin.wasm: not a WebAssembly module \(it does not start with \\0asm\)",
        ),
        (
            [("plugin.toml", manifest_text().encode()), ("plugin.wasm", b"\0asm\x0d\x00\x01\x00")],
            "plugin.wasm: a WebAssembly component",
        ),
        (
            [
                ("plugin.toml", manifest_text().encode()),
                ("plugin.wasm", EMPTY_WASM + b"\x01\xff\xff"),
            ],
            "plugin.wasm: not a valid WebAssembly module",
        ),
        (
            [("plugin.toml", b'name = "pii-redactor"\n'), ("plugin.wasm", EMPTY_WASM)],
            "plugin.toml: version: required key is missing",
        ),
        (
            [("plugin.toml", b"\xff\xfe"), ("plugin.wasm", EMPTY_WASM)],
            "plugin.toml: not UTF-8",
        ),
    ],
    ids=[
        "no-wasm",
        "no-manifest",
        "garbage-wasm",
        "component",
        "truncated-wasm",
        "bad-manifest",
        "binary",
    ],
)
def test_missing_or_bad_contents_are_refused(tmp_path: Path, entries: list, reason: str) -> None:
    path = write_zip(tmp_path / "x.syp", entries)
    with pytest.raises(PackageError, match=r"^x\.syp: " + reason):
        open_package(path)


def test_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.syp"
    path.write_bytes(b"just text")
    with pytest.raises(PackageError, match=r"^x\.syp: not a \.syp package \(not a zip archive"):
        open_package(path)
    with pytest.raises(PackageError, match=r"nope\.syp: No such file"):
        open_package(tmp_path / "nope.syp")


def test_the_file_name_must_match_the_manifest(tmp_path: Path) -> None:
    original = make_package(tmp_path)
    renamed = tmp_path / "pii-redactor-0.2.0.syp"
    renamed.write_bytes(original.read_bytes())
    with pytest.raises(
        PackageError,
        match=r"pii-redactor-0.2.0.syp: the file name says pii-redactor 0.2.0 but plugin.toml says pii-redactor 0.1.0",
    ):
        open_package(renamed)
    other = tmp_path / "other-tool-0.1.0.syp"
    other.write_bytes(original.read_bytes())
    with pytest.raises(PackageError, match="the file name says other-tool 0.1.0"):
        open_package(other)
    free = tmp_path / "download.syp"  # not NAME-VERSION shaped: nothing to compare
    free.write_bytes(original.read_bytes())
    assert open_package(free).manifest.version == "0.1.0"


def test_encrypted_entries_are_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "x.syp", good_entries())
    raw = bytearray(path.read_bytes())
    # Set the "encrypted" flag bit on every central directory record of the archive.
    at = 0
    while (at := raw.find(b"PK\x01\x02", at)) != -1:
        raw[at + 8] |= 0x01
        at += 4
    path.write_bytes(bytes(raw))
    with pytest.raises(PackageError, match=r"entry 'plugin.toml' is encrypted"):
        open_package(path)
