"""The two fixtures every storage test suite wants: the database URL migrated with the suite's
migration sources, and a ``Database`` on it closed afterwards. A conftest writes
``migrated_url, database = migrated_fixtures(sources)`` beside ``pg.db_url``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from core import migrate
from core.db import Database


def migrated_fixtures(sources: Callable[[], list[migrate.MigrationSource]]) -> tuple[object, object]:
    @pytest.fixture
    def migrated_url(db_url: str) -> str:
        migrate.upgrade(db_url, sources())
        return db_url

    @pytest.fixture
    async def database(migrated_url: str) -> AsyncIterator[Database]:
        db = Database(migrated_url)
        yield db
        await db.dispose()

    return migrated_url, database
