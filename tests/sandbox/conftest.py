"""Fixtures for the sandbox tests: a migrated database (SQLite, and PostgreSQL when
SWITCHYARD_TEST_POSTGRES_URL is set) and a plugin store on it with its own home."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core import migrate
from core.db import Database
from sandbox.models import metadata
from sandbox.store import MIGRATIONS, PluginStore
from tests.core.db_fixtures import pg

pg_url = pg.pg_url
db_url = pg.db_url


def sources() -> list[migrate.MigrationSource]:
    return [migrate.kernel_source(), migrate.MigrationSource("sandbox", metadata, MIGRATIONS)]


@pytest.fixture
def migrated_url(db_url: str) -> str:
    migrate.upgrade(db_url, sources())
    return db_url


@pytest.fixture
async def database(migrated_url: str) -> AsyncIterator[Database]:
    db = Database(migrated_url)
    yield db
    await db.dispose()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(database: Database, home: Path) -> PluginStore:
    return PluginStore(database, home)
