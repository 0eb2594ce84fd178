"""Alembic migrations for the kernel and every plugin, run programmatically.

All tables share one database and one ``alembic_version`` table. Each source (the kernel,
each plugin with tables) is its own Alembic branch: its first revision has
``down_revision = None`` and ``branch_labels = ("<name>",)``, so plugins version their
schemas independently and ``upgrade("heads")`` brings every branch up. There is no .ini
file: :func:`alembic_config` builds the configuration from the sources the kernel
committed, and ``migrations/env.py`` reads them from ``config.attributes["sources"]``.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, MetaData, create_engine, pool

from core.db import NAMING_CONVENTION, ensure_sqlite_folder, kernel_metadata, sync_url

if TYPE_CHECKING:  # Alembic is imported when used: workers never migrate (serve does, once)
    from alembic.config import Config
    from alembic.script import ScriptDirectory

__all__ = [
    "KERNEL_SOURCE_NAME",
    "MigrationError",
    "MigrationSource",
    "alembic_config",
    "combined_metadata",
    "current",
    "downgrade",
    "heads",
    "history",
    "kernel_source",
    "upgrade",
]

KERNEL_SOURCE_NAME = "core"
_MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Alembic branch labels share a namespace with revision ids and the "label@head", "-1"
# syntax, so keep them to identifiers.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class MigrationError(Exception):
    """A migration source or the database's revisions do not fit together."""


@dataclass(frozen=True)
class MigrationSource:
    """The tables one plugin (or the kernel) owns, and the folder of its version scripts."""

    name: str  # plugin name, also its Alembic branch label
    metadata: MetaData
    versions_dir: str | None  # None only when metadata has no tables

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise MigrationError(
                f"migration source name {self.name!r} cannot be an Alembic branch label; "
                "use letters, digits and underscores, e.g. the plugin's package name"
            )


def kernel_source() -> MigrationSource:
    """The kernel's own tables and version scripts (``migrations/versions``)."""
    return MigrationSource(KERNEL_SOURCE_NAME, kernel_metadata, str(_MIGRATIONS_DIR / "versions"))


def _checked(sources: Sequence[MigrationSource]) -> list[MigrationSource]:
    """The sources with the kernel first, refusing what would fail later in obscure ways."""
    kernel = kernel_source()
    result = [kernel]
    names = {kernel.name}
    table_owner = {key: kernel.name for key in kernel.metadata.tables}
    for source in sources:
        if source == kernel:
            continue
        if source.name in names:
            raise MigrationError(
                f"two migration sources are named {source.name!r}; each plugin needs its own "
                "branch label (and the name 'core' belongs to the kernel)"
            )
        names.add(source.name)
        tables = sorted(source.metadata.tables)
        if source.versions_dir is None:
            if tables:
                raise MigrationError(
                    f"plugin {source.name!r} registers tables ({', '.join(tables)}) but no "
                    "migrations folder; pass migrations=<folder of Alembic version scripts> to "
                    "config.add_metadata()"
                )
        elif not Path(source.versions_dir).is_dir():
            raise MigrationError(
                f"plugin {source.name!r}: migrations folder {source.versions_dir} does not exist; "
                "pass the folder holding its Alembic version scripts to "
                "config.add_metadata(metadata, migrations=...)"
            )
        elif os.pathsep in source.versions_dir:
            raise MigrationError(
                f"plugin {source.name!r}: migrations folder {source.versions_dir} contains "
                f"{os.pathsep!r}, which separates Alembic version locations; move or rename it"
            )
        for key in tables:
            if key in table_owner:
                raise MigrationError(
                    f"table {key!r} is defined by both {table_owner[key]!r} and {source.name!r}; "
                    "prefix table names with the plugin name"
                )
            table_owner[key] = source.name
        result.append(source)
    return result


def combined_metadata(sources: Sequence[MigrationSource]) -> MetaData:
    """One MetaData holding every source's tables, for autogenerate.

    Merging (rather than passing a list) lets a foreign key name a table another source owns.
    """
    combined = MetaData(naming_convention=NAMING_CONVENTION)
    for source in _checked(sources):
        for table in source.metadata.tables.values():
            table.to_metadata(combined)
    return combined


def _escape(value: str) -> str:
    """Config values pass through ConfigParser interpolation: keep '%' (URL escapes) literal."""
    return value.replace("%", "%%")


def alembic_config(url: str, sources: Sequence[MigrationSource]) -> Config:
    """An Alembic Config for ``url`` (sync or async form) covering the kernel and ``sources``.

    The kernel's source is always included, first, whether or not ``sources`` lists it.
    """
    checked = _checked(sources)
    from alembic.config import Config

    config = Config(attributes={"sources": checked})
    config.set_main_option("script_location", _escape(str(_MIGRATIONS_DIR)))
    config.set_main_option("path_separator", "os")
    locations = [str(Path(s.versions_dir).resolve()) for s in checked if s.versions_dir]
    config.set_main_option("version_locations", _escape(os.pathsep.join(locations)))
    config.set_main_option("sqlalchemy.url", _escape(sync_url(url)))
    return config


def _script(config: Config) -> ScriptDirectory:
    """The revision tree, checked so each source is a properly labelled branch."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config)
    with warnings.catch_warnings():
        # Alembic only warns, then silently keeps one of the two scripts.
        warnings.filterwarnings("error", r"Revision .* is present more than once", UserWarning)
        try:
            revisions = list(script.walk_revisions())
        except UserWarning as duplicate:
            raise MigrationError(
                f"{duplicate}: two version scripts use the same revision id; revision ids are "
                "shared by all plugins, so start each plugin's ids with its name (myplugin_0001)"
            ) from None
    for source in config.attributes["sources"]:
        if source.versions_dir is None:
            continue
        folder = Path(source.versions_dir).resolve()
        own = [r for r in revisions if Path(r.path).parent == folder]
        if not own:
            if source.metadata.tables:
                raise MigrationError(
                    f"plugin {source.name!r} has tables but no version scripts in {folder}; "
                    "write a first revision that creates them"
                )
            continue
        bases = [r for r in own if r.down_revision is None]
        if not any(source.name in r.branch_labels for r in bases):
            raise MigrationError(
                f"plugin {source.name!r}: its first revision in {folder} must set "
                f"down_revision = None and branch_labels = ({source.name!r},)"
            )
    return script


@contextmanager
def _connect(url: str) -> Iterator[Connection]:
    sync = sync_url(url)
    ensure_sqlite_folder(sync)
    engine = create_engine(sync, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _database_heads(url: str) -> list[str]:
    with _connect(url) as connection:
        from alembic.runtime.migration import MigrationContext

        return sorted(MigrationContext.configure(connection).get_current_heads())


def _require_known(url: str, script: ScriptDirectory, config: Config) -> None:
    """Refuse early when the database is at a revision no source provides.

    That happens when a plugin that created tables is disabled or uninstalled: Alembic
    would fail with a bare "Can't locate revision".
    """
    known = {r.revision for r in script.walk_revisions()}
    unknown = [rev for rev in _database_heads(url) if rev not in known]
    if unknown:
        names = ", ".join(s.name for s in config.attributes["sources"])
        raise MigrationError(
            f"the database is at revision(s) {', '.join(unknown)}, which none of the migration "
            f"sources ({names}) provide; enable again the plugin that created them (its "
            "migrations must stay available while its tables exist)"
        )


def upgrade(url: str, sources: Sequence[MigrationSource], revision: str = "heads") -> None:
    """Migrate up to ``revision`` (every branch's head by default)."""
    config = alembic_config(url, sources)
    _require_known(url, _script(config), config)
    from alembic import command

    command.upgrade(config, revision)


def downgrade(url: str, sources: Sequence[MigrationSource], revision: str = "base") -> None:
    """Migrate down to ``revision``; "base" takes every branch down to nothing."""
    config = alembic_config(url, sources)
    _require_known(url, _script(config), config)
    from alembic import command

    command.downgrade(config, revision)


def current(url: str, sources: Sequence[MigrationSource]) -> list[str]:
    """The revision ids the database is at (one per branch applied); empty when none."""
    alembic_config(url, sources)  # validates the sources, as every other command does
    return _database_heads(url)


def history(url: str, sources: Sequence[MigrationSource]) -> list[tuple[str, str | None, str]]:
    """(revision, down_revision, doc) for every revision, newest first across branches.

    A merge revision's down_revision lists its parents joined by ",".
    """
    script = _script(alembic_config(url, sources))
    rows: list[tuple[str, str | None, str]] = []
    for rev in script.walk_revisions():
        down = rev.down_revision
        rows.append((rev.revision, ",".join(down) if isinstance(down, tuple) else down, rev.doc))
    return rows


def heads(url: str, sources: Sequence[MigrationSource]) -> list[str]:
    """The newest revision of every branch the sources provide."""
    return sorted(_script(alembic_config(url, sources)).get_heads())
