"""Installed wasm plugins: files under ``$SWITCHYARD_HOME/plugins`` plus one row each.

An install never leaves a half state. The files of a version are written to a temporary
folder and renamed into ``plugins/<name>/<version>/`` (a rename is atomic), then the row is
committed; if the database refuses, the new folder is removed. So there is never a row
without its files, and a failed upgrade never touches the files the current row points
to. The previous version's files are kept until the next install, so a host that read the
old row a moment before the upgrade can still load it.

Running servers notice changes by polling :meth:`PluginStore.version`, which changes with
every install, upgrade, enable, disable and uninstall, whichever process made it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from sandbox.manifest import Manifest, from_builtins, to_builtins
from sandbox.models import metadata, sandbox_kv, sandbox_plugins
from sandbox.package import MANIFEST, README, WASM, Package

if TYPE_CHECKING:
    from core.configurator import Configurator
    from core.db import Database

__all__ = [
    "MIGRATIONS",
    "InstalledPlugin",
    "PluginStore",
    "StoreError",
    "includeme_storage",
    "plugin_dir",
]

MIGRATIONS = str(Path(__file__).resolve().parent / "migrations")
_STALE_TMP_SECONDS = 3600  # a temp folder older than this belongs to a crashed install


def includeme_storage(config: Configurator) -> None:
    """Register the sandbox's tables (Alembic branch ``sandbox``) and the ``plugin`` command.

    Called by the sandbox plugin's ``includeme``; kept here so the packaging side owns
    its schema and CLI without editing the host's module.
    """
    from sandbox.cli import plugin

    config.add_metadata(metadata, migrations=MIGRATIONS)
    config.add_cli_command(plugin)


class StoreError(Exception):
    """An install, enable or uninstall was refused; nothing was changed."""


@dataclass(frozen=True)
class InstalledPlugin:
    """One installed plugin as the host loads it (and the CLI lists it)."""

    name: str
    version: str
    manifest: Manifest
    wasm_path: Path
    granted: tuple[str, ...]
    settings: dict[str, Any]  # the admin's values; the manifest's [config] supplies the rest
    required: bool
    signed: bool
    enabled: bool
    sha256: str
    installed_at: datetime
    installed_by: str
    disabled_reason: str | None
    updated_at: datetime

    @property
    def config(self) -> dict[str, Any]:
        """The plugin's effective settings: manifest defaults overridden by the admin's."""
        return {**self.manifest.config, **self.settings}

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "summary": self.manifest.summary,
            "category": self.manifest.category,
            "hooks": list(self.manifest.hooks),
            "capabilities": list(self.manifest.capabilities),
            "granted": list(self.granted),
            "enabled": self.enabled,
            "required": self.required,
            "signed": self.signed,
            "disabled_reason": self.disabled_reason,
            "sha256": self.sha256,
            "installed_at": self.installed_at.isoformat(),
            "installed_by": self.installed_by,
            "updated_at": self.updated_at.isoformat(),
            "path": str(self.wasm_path.parent),
        }


def plugin_dir(home: str | os.PathLike[str], name: str, version: str | None = None) -> Path:
    """``$SWITCHYARD_HOME/plugins/<name>[/<version>]``."""
    folder = Path(home) / "plugins" / name
    return folder / version if version else folder


class PluginStore:
    """Install, list, enable, disable and uninstall wasm plugins on one database and home."""

    def __init__(self, db: Database, home: str | os.PathLike[str]) -> None:
        self.db = db
        self.home = Path(home)

    # -- reading ---------------------------------------------------------------------------

    async def installed(self, enabled_only: bool = True) -> list[InstalledPlugin]:
        """Installed plugins by name; only the enabled ones unless ``enabled_only=False``."""
        query = select(sandbox_plugins).order_by(sandbox_plugins.c.name)
        if enabled_only:
            query = query.where(sandbox_plugins.c.enabled.is_(True))
        async with self.db.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [self._plugin(row) for row in rows]

    async def get(self, name: str) -> InstalledPlugin | None:
        async with self.db.engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(sandbox_plugins).where(sandbox_plugins.c.name == name)
                    )
                )
                .mappings()
                .first()
            )
        return self._plugin(row) if row is not None else None

    async def version(self) -> str:
        """A fingerprint of everything installed; differs after any change by any process."""
        table = sandbox_plugins
        query = select(table.c.name, table.c.version, table.c.sha256, table.c.updated_at).order_by(
            table.c.name
        )
        async with self.db.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        digest = hashlib.sha256()
        for name, version, sha256, updated_at in rows:
            digest.update(f"{name}\0{version}\0{sha256}\0{updated_at.isoformat()}\n".encode())
        return digest.hexdigest()[:16]

    # -- changing --------------------------------------------------------------------------

    async def install(
        self,
        package: Package,
        *,
        granted: Iterable[str] = (),
        required: bool | None = None,
        signed: bool = False,
        installed_by: str = "cli",
    ) -> InstalledPlugin:
        """Install ``package`` or replace the installed version of the same plugin.

        ``granted`` are the capabilities the admin grants now. On an upgrade the grants of
        capabilities the plugin already had carry over; every capability it asks for must
        end up granted, otherwise StoreError and nothing changes. ``required=None`` keeps
        the current setting (False for a new plugin). The plugin is enabled afterwards.
        """
        manifest = package.manifest
        granted = set(granted)
        extra = granted - set(manifest.capabilities)
        if extra:
            raise StoreError(
                f"{manifest.name} does not ask for {', '.join(sorted(extra))}; "
                f"it asks for {', '.join(manifest.capabilities) or 'no capabilities'}"
            )
        current = await self.get(manifest.name)
        kept = set(current.granted) & set(manifest.capabilities) if current else set()
        final = tuple(c for c in manifest.capabilities if c in kept | granted)
        missing = [c for c in manifest.capabilities if c not in final]
        if missing:
            raise StoreError(
                f"{manifest.name} asks for {', '.join(missing)}, which "
                f"{'was' if len(missing) == 1 else 'were'} not granted; nothing was installed"
            )
        if current is not None and current.version == manifest.version:
            if current.sha256 != package.sha256:
                raise StoreError(
                    f"{manifest.name} {manifest.version} is already installed from a different "
                    "package; give the new build a new version, or uninstall first"
                )
            return await self._reinstall_same(package, current, final, required)

        now = datetime.now(UTC)
        new_dir = self._place_files(package)
        settings = {}
        if current is not None:  # keep the admin's values for settings the new version still has
            settings = {k: v for k, v in current.settings.items() if k in manifest.config}
        values = {
            "version": manifest.version,
            "sha256": package.sha256,
            "manifest": to_builtins(manifest),
            "granted": list(final),
            "settings": settings,
            "enabled": True,
            "required": (current.required if current else False) if required is None else required,
            "signed": signed,
            "installed_at": now,
            "installed_by": installed_by,
            "disabled_reason": None,
            "updated_at": _after(now, current),
        }
        try:
            async with self.db.engine.begin() as connection:
                if current is None:
                    await connection.execute(
                        insert(sandbox_plugins).values(name=manifest.name, **values)
                    )
                else:
                    result = await connection.execute(
                        update(sandbox_plugins)
                        .where(sandbox_plugins.c.name == manifest.name)
                        .where(sandbox_plugins.c.version == current.version)
                        .values(**values)
                    )
                    if result.rowcount != 1:
                        raise StoreError(
                            f"{manifest.name} changed while installing (another install or uninstall); try again"
                        )
        except BaseException as exc:
            shutil.rmtree(new_dir, ignore_errors=True)
            if isinstance(exc, IntegrityError):
                raise StoreError(
                    f"{manifest.name} was installed by someone else meanwhile; try again"
                ) from None
            raise
        self._prune(
            manifest.name, keep={manifest.version, current.version if current else manifest.version}
        )
        installed = await self.get(manifest.name)
        assert installed is not None
        return installed

    async def set_enabled(
        self, name: str, enabled: bool, reason: str | None = None
    ) -> InstalledPlugin:
        """Enable or disable ``name``; ``reason`` says why it was disabled (shown to admins)."""
        current = await self._require(name)
        async with self.db.engine.begin() as connection:
            await connection.execute(
                update(sandbox_plugins)
                .where(sandbox_plugins.c.name == name)
                .values(
                    enabled=enabled,
                    disabled_reason=None if enabled else reason,
                    updated_at=_after(datetime.now(UTC), current),
                )
            )
        found = await self.get(name)
        if found is None:
            raise StoreError(f"plugin {name!r} was uninstalled meanwhile")
        return found

    async def uninstall(self, name: str) -> InstalledPlugin:
        """Remove the row (and its kv data), then its files; returns what was removed."""
        current = await self._require(name)
        async with self.db.engine.begin() as connection:
            await connection.execute(delete(sandbox_kv).where(sandbox_kv.c.plugin == name))
            await connection.execute(delete(sandbox_plugins).where(sandbox_plugins.c.name == name))
        # After the commit: a failure here leaves unused files, never a row without files.
        shutil.rmtree(plugin_dir(self.home, name), ignore_errors=True)
        return current

    # -- helpers ---------------------------------------------------------------------------

    async def _require(self, name: str) -> InstalledPlugin:
        found = await self.get(name)
        if found is None:
            raise StoreError(
                f"no plugin named {name!r} is installed (see `switchyard plugin list`)"
            )
        return found

    async def _reinstall_same(
        self,
        package: Package,
        current: InstalledPlugin,
        granted: tuple[str, ...],
        required: bool | None,
    ) -> InstalledPlugin:
        """The same package again: restore missing files, refresh grants and flags."""
        if not current.wasm_path.is_file():
            self._place_files(package)  # identical bytes (same sha256), so replacing is safe
        async with self.db.engine.begin() as connection:
            await connection.execute(
                update(sandbox_plugins)
                .where(sandbox_plugins.c.name == current.name)
                .values(
                    granted=list(granted),
                    required=current.required if required is None else required,
                    enabled=True,
                    disabled_reason=None,
                    updated_at=_after(datetime.now(UTC), current),
                )
            )
        found = await self.get(current.name)
        assert found is not None
        return found

    def _place_files(self, package: Package) -> Path:
        """Write the package's files to a temp folder and rename it to its version folder."""
        manifest = package.manifest
        parent = plugin_dir(self.home, manifest.name)
        parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale_tmp(parent)
        tmp = parent / f".tmp-{manifest.version}-{secrets.token_hex(4)}"
        tmp.mkdir(mode=0o755)
        try:
            _write(tmp / MANIFEST, package.manifest_text.encode())
            _write(tmp / WASM, package.wasm)
            if package.readme is not None:
                _write(tmp / README, package.readme.encode())
            target = parent / manifest.version
            if target.exists():  # left by a failed or uninstalled earlier attempt: no row uses it
                shutil.rmtree(target)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    def _remove_stale_tmp(self, parent: Path) -> None:
        cutoff = time.time() - _STALE_TMP_SECONDS
        for entry in parent.glob(".tmp-*"):
            try:
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                pass

    def _prune(self, name: str, keep: set[str]) -> None:
        for entry in plugin_dir(self.home, name).iterdir():
            if entry.is_dir() and not entry.name.startswith(".") and entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)

    def _plugin(self, row: Any) -> InstalledPlugin:
        manifest = from_builtins(row["manifest"], source=f"stored manifest of {row['name']}")
        return InstalledPlugin(
            name=row["name"],
            version=row["version"],
            manifest=manifest,
            wasm_path=plugin_dir(self.home, row["name"], row["version"]) / WASM,
            granted=tuple(row["granted"]),
            settings=dict(row["settings"]),
            required=bool(row["required"]),
            signed=bool(row["signed"]),
            enabled=bool(row["enabled"]),
            sha256=row["sha256"],
            installed_at=row["installed_at"],
            installed_by=row["installed_by"],
            disabled_reason=row["disabled_reason"],
            updated_at=row["updated_at"],
        )


def _after(now: datetime, current: InstalledPlugin | None) -> datetime:
    """Strictly later than the row's last change, so :meth:`version` always moves."""
    if current is not None and now <= current.updated_at:
        return current.updated_at + timedelta(microseconds=1)
    return now


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
