"""Fixtures for the auth tests: a migrated database on SQLite and on PostgreSQL (when
SWITCHYARD_TEST_POSTGRES_URL is set, a fresh database per test), a clock the test controls,
and the service wired to a key cache as the plugin wires them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core import migrate
from core.db import Database
from core.permissions import Permissions
from plugins.auth.keys import KeyCache
from plugins.auth.service import AuthService
from tests.core.db_fixtures import pg
from tests.plugins.auth.helpers import Clock, sources

pg_url = pg.pg_url
db_url = pg.db_url


@pytest.fixture
def clock() -> Clock:
    return Clock()


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
def cache(database: Database, clock: Clock) -> KeyCache:
    return KeyCache(database, clock=clock)


@pytest.fixture
async def permissions(database: Database) -> Permissions:
    """The kernel's permissions service on the same database (roles are its g lines)."""
    return await Permissions.open(database)


@pytest.fixture
def service(
    database: Database, cache: KeyCache, clock: Clock, permissions: Permissions
) -> AuthService:
    return AuthService(database, cache, permissions=permissions, clock=clock.datetime)
