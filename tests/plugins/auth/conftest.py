"""Fixtures for the auth tests: a migrated database on SQLite and on PostgreSQL (when
SWITCHYARD_TEST_POSTGRES_URL is set, a fresh database per test), a clock the test controls,
and the service wired to a key cache as the plugin wires them."""

from __future__ import annotations

import pytest

from core.db import Database
from core.permissions import Permissions
from plugins.auth.keys import KeyCache
from plugins.auth.service import AuthService
from tests.core.db_fixtures import pg
from tests.core.db_fixtures.migrated import migrated_fixtures
from tests.plugins.auth.helpers import Clock, sources

pg_url = pg.pg_url
db_url = pg.db_url


@pytest.fixture
def clock() -> Clock:
    return Clock()


migrated_url, database = migrated_fixtures(sources)


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
