"""The install store: files and row together or not at all, grants across upgrades, and a
version that moves on every change (what running servers poll)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, select, update

from core.db import Database
from sandbox import store as store_module
from sandbox.models import sandbox_kv, sandbox_plugins
from sandbox.package import Package, open_package
from sandbox.store import PluginStore, StoreError
from tests.sandbox.helpers import make_package

pytestmark = pytest.mark.usefixtures("migrated_url")


def package(root: Path, version: str = "0.1.0", **kwargs: Any) -> Package:
    return open_package(make_package(root / version / str(len(kwargs)), version=version, **kwargs))


def files(home: Path) -> list[str]:
    """Everything under the plugins folder, relative, so leftovers show up in asserts."""
    base = home / "plugins"
    return sorted(str(p.relative_to(base)) for p in base.rglob("*")) if base.exists() else []


async def rows(db: Database) -> list[dict[str, Any]]:
    async with db.engine.connect() as connection:
        return [dict(r) for r in (await connection.execute(select(sandbox_plugins))).mappings()]


async def test_install_writes_files_then_row(
    store: PluginStore, home: Path, tmp_path: Path
) -> None:
    before = await store.version()
    pkg = package(tmp_path)
    installed = await store.install(pkg, granted=["log"], installed_by="cli:alice")
    assert installed.wasm_path == home / "plugins" / "pii-redactor" / "0.1.0" / "plugin.wasm"
    assert installed.wasm_path.read_bytes() == pkg.wasm
    assert (installed.wasm_path.parent / "plugin.toml").read_text() == pkg.manifest_text
    assert (installed.wasm_path.parent / "README.md").read_text() == "# PII\n"
    assert files(home) == [
        "pii-redactor",
        "pii-redactor/0.1.0",
        "pii-redactor/0.1.0/README.md",
        "pii-redactor/0.1.0/plugin.toml",
        "pii-redactor/0.1.0/plugin.wasm",
    ]
    assert (installed.granted, installed.enabled, installed.required, installed.signed) == (
        ("log",),
        True,
        False,
        False,
    )
    assert installed.sha256 == pkg.sha256 and installed.installed_by == "cli:alice"
    assert installed.manifest == pkg.manifest and installed.config == {"mask": "[redacted]"}
    assert [p.name for p in await store.installed()] == ["pii-redactor"]
    assert await store.version() != before


async def test_every_capability_must_be_granted(
    store: PluginStore, home: Path, tmp_path: Path
) -> None:
    pkg = package(tmp_path, capabilities=("log", "http"))
    with pytest.raises(
        StoreError, match="pii-redactor asks for http, which was not granted; nothing was installed"
    ):
        await store.install(pkg, granted=["log"])
    with pytest.raises(StoreError, match="pii-redactor does not ask for kv"):
        await store.install(pkg, granted=["log", "http", "kv"])
    assert await rows(store.db) == [] and files(home) == []


async def test_an_upgrade_keeps_grants_only_for_capabilities_it_had(
    store: PluginStore, tmp_path: Path
) -> None:
    await store.install(package(tmp_path, "0.1.0", capabilities=("log",)), granted=["log"])
    v2 = package(tmp_path, "0.2.0", capabilities=("log", "http"))
    with pytest.raises(StoreError, match="asks for http, which was not granted"):
        await store.install(v2)
    assert (await store.get("pii-redactor")).version == "0.1.0"  # type: ignore[union-attr]
    assert (await store.install(v2, granted=["http"])).granted == ("log", "http")
    # 0.3.0 drops log; 0.4.0 asks for it again, so it must be granted again.
    assert (await store.install(package(tmp_path, "0.3.0", capabilities=("http",)))).granted == (
        "http",
    )
    v4 = package(tmp_path, "0.4.0", capabilities=("log", "http"))
    with pytest.raises(StoreError, match="asks for log, which was not granted"):
        await store.install(v4)
    assert (await store.install(v4, granted=["log"])).granted == ("log", "http")


async def test_an_upgrade_keeps_settings_the_new_version_still_has(
    store: PluginStore, tmp_path: Path
) -> None:
    await store.install(package(tmp_path, "0.1.0", config='mask = "x"\nold = 1\n'), granted=["log"])
    async with store.db.engine.begin() as connection:
        await connection.execute(update(sandbox_plugins).values(settings={"mask": "***", "old": 2}))
    upgraded = await store.install(package(tmp_path, "0.2.0", config='mask = "x"\nnew = true\n'))
    assert upgraded.settings == {"mask": "***"}
    assert upgraded.config == {"mask": "***", "new": True}


async def test_a_database_failure_leaves_the_old_version_untouched(
    store: PluginStore, home: Path, tmp_path: Path
) -> None:
    old = await store.install(package(tmp_path, "0.1.0"), granted=["log"])
    old_files, old_rows, old_version = files(home), await rows(store.db), await store.version()

    def refuse(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE SANDBOX_PLUGINS"):
            raise RuntimeError("disk full")

    event.listen(store.db.engine.sync_engine, "before_cursor_execute", refuse)
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            await store.install(package(tmp_path, "0.2.0"))
    finally:
        event.remove(store.db.engine.sync_engine, "before_cursor_execute", refuse)
    assert files(home) == old_files  # no 0.2.0 folder, no temp folder
    assert await rows(store.db) == old_rows and await store.version() == old_version
    assert old.wasm_path.is_file()


async def test_a_failed_first_install_leaves_nothing(
    store: PluginStore, home: Path, tmp_path: Path
) -> None:
    def refuse(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO SANDBOX_PLUGINS"):
            raise RuntimeError("connection lost")

    event.listen(store.db.engine.sync_engine, "before_cursor_execute", refuse)
    try:
        with pytest.raises(RuntimeError, match="connection lost"):
            await store.install(package(tmp_path), granted=["log"])
    finally:
        event.remove(store.db.engine.sync_engine, "before_cursor_execute", refuse)
    assert await rows(store.db) == []
    assert files(home) == ["pii-redactor"]  # the empty name folder only
    assert await store.installed(enabled_only=False) == []


async def test_a_file_write_failure_leaves_no_temp_folder_and_no_row(
    store: PluginStore, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.install(package(tmp_path, "0.1.0"), granted=["log"])
    before = files(home)
    real_write = store_module._write

    def write(path: Path, data: bytes) -> None:
        if path.name == "plugin.wasm":
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(store_module, "_write", write)
    with pytest.raises(OSError, match="No space left"):
        await store.install(package(tmp_path, "0.2.0"))
    assert files(home) == before
    assert (await store.get("pii-redactor")).version == "0.1.0"  # type: ignore[union-attr]


async def test_a_crashed_install_leftover_is_replaced(
    store: PluginStore, home: Path, tmp_path: Path
) -> None:
    """A kill between the rename and the commit leaves a version folder without a row."""
    leftover = home / "plugins" / "pii-redactor" / "0.1.0"
    leftover.mkdir(parents=True)
    (leftover / "plugin.wasm").write_bytes(b"half a module")
    (leftover / "stray.txt").write_text("junk")
    installed = await store.install(package(tmp_path), granted=["log"])
    assert installed.wasm_path.read_bytes().startswith(b"\0asm")
    assert not (leftover / "stray.txt").exists()


async def test_the_previous_version_is_kept_until_the_next_install(
    store: PluginStore, home: Path, tmp_path: Path
) -> None:
    for version in ("0.1.0", "0.2.0"):
        await store.install(package(tmp_path, version), granted=["log"])
    assert {p.name for p in (home / "plugins" / "pii-redactor").iterdir()} == {"0.1.0", "0.2.0"}
    await store.install(package(tmp_path, "0.3.0"))
    assert {p.name for p in (home / "plugins" / "pii-redactor").iterdir()} == {"0.2.0", "0.3.0"}


async def test_same_version_same_package_reinstalls_and_restores_files(
    store: PluginStore, tmp_path: Path
) -> None:
    pkg = package(tmp_path)
    first = await store.install(pkg, granted=["log"])
    first.wasm_path.unlink()
    await store.set_enabled("pii-redactor", False, "disabled after 5 faults in 60 s")
    again = await store.install(pkg, required=True)
    assert again.wasm_path.read_bytes() == pkg.wasm
    assert (again.enabled, again.disabled_reason, again.required, again.granted) == (
        True,
        None,
        True,
        ("log",),
    )


async def test_same_version_other_contents_is_refused(store: PluginStore, tmp_path: Path) -> None:
    await store.install(package(tmp_path), granted=["log"])
    other = package(tmp_path / "other", config='mask = "changed"\n')
    with pytest.raises(
        StoreError, match="pii-redactor 0.1.0 is already installed from a different package"
    ):
        await store.install(other)
    assert (await store.get("pii-redactor")).config == {"mask": "[redacted]"}  # type: ignore[union-attr]


async def test_enable_disable_and_version(store: PluginStore, tmp_path: Path) -> None:
    await store.install(package(tmp_path), granted=["log"])
    seen = {await store.version()}
    off = await store.set_enabled("pii-redactor", False, "disabled after 5 faults in 60 s")
    assert (off.enabled, off.disabled_reason) == (False, "disabled after 5 faults in 60 s")
    assert await store.installed() == []
    assert [p.name for p in await store.installed(enabled_only=False)] == ["pii-redactor"]
    seen.add(await store.version())
    on = await store.set_enabled("pii-redactor", True)
    assert (on.enabled, on.disabled_reason) == (True, None)
    seen.add(await store.version())
    assert len(seen) == 3
    with pytest.raises(StoreError, match="no plugin named 'nope' is installed"):
        await store.set_enabled("nope", True)


async def test_another_process_sees_the_change(
    database: Database, home: Path, tmp_path: Path
) -> None:
    """The CLI and the server are separate processes with separate engines on one database."""
    server_db = Database(database.url)
    try:
        server = PluginStore(server_db, home)
        seen = await server.version()
        await PluginStore(database, home).install(package(tmp_path), granted=["log"])
        assert await server.version() != seen
        assert [p.name for p in await server.installed()] == ["pii-redactor"]
    finally:
        await server_db.dispose()


async def test_uninstall_removes_row_data_and_files(
    store: PluginStore, home: Path, tmp_path: Path
) -> None:
    await store.install(package(tmp_path), granted=["log"])
    async with store.db.engine.begin() as connection:
        await connection.execute(
            insert(sandbox_kv).values(
                plugin="pii-redactor", key="k", value=b"v", updated_at=datetime.now(UTC)
            )
        )
    before = await store.version()
    removed = await store.uninstall("pii-redactor")
    assert removed.version == "0.1.0"
    assert await rows(store.db) == [] and files(home) == []
    async with store.db.engine.connect() as connection:
        assert (await connection.execute(select(sandbox_kv))).all() == []
    assert await store.version() != before
    with pytest.raises(StoreError, match="no plugin named 'pii-redactor' is installed"):
        await store.uninstall("pii-redactor")
