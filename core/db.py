"""Database access: URL normalisation, the async engine and sessions, and the kernel's tables.

All tables of the kernel and of every plugin live in one database, SQLite (the embedded
default) or PostgreSQL (several instances). The application talks to it asynchronously
(aiosqlite, psycopg 3); Alembic migrations (core.migrate) use the synchronous form of the
same URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    select,
    text,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "NAMING_CONVENTION",
    "Database",
    "UTCDateTime",
    "async_url",
    "ensure_sqlite_folder",
    "kernel_metadata",
    "kernel_plugin_state",
    "kernel_policy_changes",
    "kernel_policy_rules",
    "record_plugin_states",
    "sync_url",
]

# Deterministic constraint names, identical on SQLite and PostgreSQL, so migrations can
# name the constraints they alter or drop. Plugins should build their MetaData with it.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_SUPPORTED = (
    "database.url must start with sqlite:/// (e.g. sqlite:////home/me/.switchyard/switchyard.db, "
    "the default) or postgresql+psycopg:// (e.g. postgresql+psycopg://user:password@host/db)"
)


def _split_scheme(url: str) -> tuple[str, str]:
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        raise ValueError(f"database.url is not a database URL (no scheme://); {_SUPPORTED}")
    return scheme.lower(), rest


def _unsupported(scheme: str) -> ValueError:
    return ValueError(f"database.url uses the unsupported scheme {scheme!r}; {_SUPPORTED}")


def _backend(scheme: str) -> str:
    """The backend a scheme names ("sqlite" or "postgresql"), or ValueError."""
    dialect = scheme.split("+", 1)[0]
    if dialect == "sqlite":
        return "sqlite"
    if dialect in ("postgresql", "postgres"):
        return "postgresql"
    raise _unsupported(scheme)


def async_url(url: str) -> str:
    """The URL with an async driver, for the application's AsyncEngine.

    psycopg 3 is async-capable under the plain ``postgresql+psycopg`` dialect; asyncpg URLs
    are kept as given (they work if asyncpg is installed).
    """
    scheme, rest = _split_scheme(url)
    backend = _backend(scheme)
    if backend == "sqlite":
        if scheme not in ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"):
            raise _unsupported(scheme)
        return f"sqlite+aiosqlite://{rest}"
    if scheme == "postgresql+asyncpg":
        return url
    return f"postgresql+psycopg://{rest}"


def sync_url(url: str) -> str:
    """The URL with a synchronous driver, for Alembic."""
    scheme, rest = _split_scheme(url)
    backend = _backend(scheme)
    if backend == "sqlite":
        if scheme not in ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"):
            raise _unsupported(scheme)
        return f"sqlite://{rest}"
    return f"postgresql+psycopg://{rest}"


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite database file, so a fresh $SWITCHYARD_HOME just works."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return  # in-memory or a SQLite URI: nothing to create
    Path(database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside the writer; SQLite enforces foreign keys only when asked."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()


class Database:
    """The application's async engine and session factory for one database URL."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        engine_url = async_url(url)
        ensure_sqlite_folder(engine_url)
        self.engine: AsyncEngine = create_async_engine(
            engine_url, echo=echo, pool_pre_ping=not engine_url.startswith("sqlite")
        )
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )

    async def ping(self) -> None:
        """Run SELECT 1; raises if the database cannot be reached (used by /readyz)."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({make_url(async_url(self.url))!r})"  # password masked


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite has no timezone type and would hand back naive values; this stores UTC and
    always returns aware UTC datetimes, so code never compares naive with aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                f"naive datetime {value!r} given for a UTCDateTime column; "
                "pass an aware one, e.g. datetime.now(UTC)"
            )
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


kernel_metadata = MetaData(naming_convention=NAMING_CONVENTION)

kernel_plugin_state = Table(
    "kernel_plugin_state",
    kernel_metadata,
    Column("name", String(100), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("first_seen", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
    Column("last_error", Text(), nullable=True),
)

# The live Casbin policy (core.permissions): one row per p, g or g2 line. Unused trailing
# values are "" rather than NULL so the unique constraint also holds for short lines.
kernel_policy_rules = Table(
    "kernel_policy_rules",
    kernel_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ptype", String(8), nullable=False),
    Column("v0", String(255), nullable=False),
    Column("v1", String(255), nullable=False),
    Column("v2", String(255), nullable=False, server_default=""),
    Column("v3", String(255), nullable=False, server_default=""),
    UniqueConstraint("ptype", "v0", "v1", "v2", "v3", name="uq_kernel_policy_rules_line"),
)

# Every policy change, written in the same transaction as the rules it changed. The newest
# id is the policy version instances poll; before/after are lists of [ptype, *values].
kernel_policy_changes = Table(
    "kernel_policy_changes",
    kernel_metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("workspace", String(64), nullable=False, index=True),
    Column("action", String(16), nullable=False),
    Column("before", JSON(), nullable=False),
    Column("after", JSON(), nullable=False),
)


async def record_plugin_states(db: Database, states: Sequence[tuple[str, str, str | None]]) -> None:
    """Upsert (name, version, error) for each plugin seen at start-up.

    ``last_seen`` becomes now; ``first_seen`` is set only when a plugin is new, so the
    plugins page can say since when it has been installed. Select-then-write in one
    transaction keeps it dialect-neutral; when another instance starting at the same moment
    inserts the same plugin first, the second attempt finds the row and updates it. On
    SQLite two such transactions can also collide when both upgrade their read to a write
    ("database is locked", which the busy timeout does not cover): the loser tries again.
    """
    latest = {name: (version, error) for name, version, error in states}
    if not latest:
        return
    for attempt in range(1, 6):
        try:
            await _write_plugin_states(db, latest)
            return
        except IntegrityError:
            if attempt >= 2:
                raise
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == 5:
                raise
            await asyncio.sleep(0.02 * attempt)


async def _write_plugin_states(db: Database, latest: dict[str, tuple[str, str | None]]) -> None:
    now = datetime.now(UTC)
    table = kernel_plugin_state
    async with db.sessionmaker.begin() as session:
        found = await session.execute(select(table.c.name).where(table.c.name.in_(latest)))
        known = set(found.scalars())
        for name, (version, error) in latest.items():
            if name in known:
                await session.execute(
                    table.update()
                    .where(table.c.name == name)
                    .values(version=version, last_seen=now, last_error=error)
                )
            else:
                await session.execute(
                    table.insert().values(
                        name=name, version=version, first_seen=now, last_seen=now, last_error=error
                    )
                )
