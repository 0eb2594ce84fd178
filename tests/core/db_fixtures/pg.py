"""Database URL fixtures: SQLite always, PostgreSQL when SWITCHYARD_TEST_POSTGRES_URL is set.

Each PostgreSQL test gets a fresh database, created and dropped here, so tests never see
each other's tables. Import the fixtures into a test module to use them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, pool, text

from core.db import sync_url

PG_ENV = "SWITCHYARD_TEST_POSTGRES_URL"
PG_SKIP_REASON = f"PostgreSQL migration test left out: set {PG_ENV}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database (skips when PostgreSQL is not configured)."""
    given = os.environ.get(PG_ENV)
    if not given:
        pytest.skip(PG_SKIP_REASON)
    server = make_url(sync_url(given))
    name = f"sy_mig_{secrets.token_hex(6)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A sync URL of an empty database on each backend in turn."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'switchyard.db'}"
