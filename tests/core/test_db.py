"""core.db: URL normalisation, the Database wrapper, and the kernel's plugin-state table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.dialects import sqlite

from core import migrate
from core.db import (
    Database,
    UTCDateTime,
    async_url,
    kernel_plugin_state,
    record_plugin_states,
    sync_url,
)

try:
    from .db_fixtures import pg
except ImportError:  # tests/core is no package: pytest put this folder on sys.path instead
    from db_fixtures import pg

pg_url = pg.pg_url
db_url = pg.db_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite:////abs/path/x.db", "sqlite+aiosqlite:////abs/path/x.db"),
        ("sqlite+pysqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u:p%40ss@h:5432/db", "postgresql+psycopg://u:p%40ss@h:5432/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_async_url(given: str, expected: str) -> None:
    assert async_url(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite+aiosqlite:///x.db", "sqlite:///x.db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
        ("postgresql://u@h/db?sslmode=require", "postgresql+psycopg://u@h/db?sslmode=require"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_sync_url(given: str, expected: str) -> None:
    assert sync_url(given) == expected


@pytest.mark.parametrize(
    "url", ["mysql://u:secret@h/db", "sqlite+pysqlcipher:///x.db", "x.db", "://nothing"]
)
@pytest.mark.parametrize("convert", [async_url, sync_url])
def test_unsupported_url_names_the_setting(url: str, convert: object) -> None:
    with pytest.raises(ValueError, match="database.url") as caught:
        convert(url)  # type: ignore[operator]
    message = str(caught.value)
    assert "sqlite:///" in message and "postgresql+psycopg://" in message
    assert "secret" not in message  # never echo a password


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'nested' / 'home' / 'switchyard.db'}")
    yield db
    await db.dispose()


async def test_sqlite_database_creates_folder_and_pings(
    sqlite_db: Database, tmp_path: Path
) -> None:
    assert (tmp_path / "nested" / "home").is_dir()
    await sqlite_db.ping()
    assert (tmp_path / "nested" / "home" / "switchyard.db").is_file()
    assert sqlite_db.url.startswith("sqlite:///")  # the URL as configured
    assert sqlite_db.engine.url.drivername == "sqlite+aiosqlite"


async def test_sqlite_pragmas_on_every_connection(sqlite_db: Database) -> None:
    for _ in range(2):  # a second connection gets them too
        async with sqlite_db.engine.connect() as connection:
            pragma = {
                name: (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
            await connection.invalidate()  # force a fresh DBAPI connection next time
        assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000}


async def test_ping_raises_when_unreachable() -> None:
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(Exception):  # noqa: B017 - any driver error will do
            await db.ping()
    finally:
        await db.dispose()


def test_utc_datetime_refuses_naive() -> None:
    with pytest.raises(ValueError, match="aware"):
        UTCDateTime().process_bind_param(datetime(2025, 1, 1), sqlite.dialect())


async def _states(db: Database) -> dict[str, tuple[str, datetime, datetime, str | None]]:
    t = kernel_plugin_state
    async with db.sessionmaker() as session:
        rows = await session.execute(
            select(t.c.name, t.c.version, t.c.first_seen, t.c.last_seen, t.c.last_error)
        )
        return {r.name: (r.version, r.first_seen, r.last_seen, r.last_error) for r in rows}


async def test_record_plugin_states_inserts_then_updates(db_url: str) -> None:
    migrate.upgrade(db_url, [migrate.kernel_source()])
    db = Database(db_url)
    try:
        await db.ping()
        await record_plugin_states(db, [("routing", "1.0", None), ("auth", "1.0", "boom")])
        first = await _states(db)
        assert set(first) == {"routing", "auth"}
        assert first["auth"][3] == "boom"
        routing_first_seen = first["routing"][1]
        assert routing_first_seen.tzinfo is not None  # aware on SQLite too

        await record_plugin_states(db, [("routing", "1.1", "import failed"), ("auth", "1.0", None)])
        await record_plugin_states(db, [])  # nothing to do
        second = await _states(db)
        version, first_seen, last_seen, error = second["routing"]
        assert (version, error) == ("1.1", "import failed")
        assert first_seen == routing_first_seen
        assert last_seen > first["routing"][2]
        assert last_seen.tzinfo is not None and last_seen.utcoffset() == UTC.utcoffset(None)
        assert second["auth"][3] is None  # the error clears once the plugin loads again
    finally:
        await db.dispose()


async def test_instances_starting_together_record_once(db_url: str) -> None:
    migrate.upgrade(db_url, [migrate.kernel_source()])
    first, second = Database(db_url), Database(db_url)
    try:
        states = [(f"plugin{i}", "1.0", None) for i in range(20)]
        await asyncio.gather(
            record_plugin_states(first, states), record_plugin_states(second, states)
        )
        assert len(await _states(first)) == 20
    finally:
        await first.dispose()
        await second.dispose()
