"""Looking at a migrated database from tests: a short-lived connection, its tables, and the
drift between it and the models (what `alembic check` would report)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, create_engine, inspect, pool

from core.db import sync_url


@contextmanager
def connect(url: str) -> Iterator[Connection]:
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    with connect(url) as connection:
        return set(inspect(connection).get_table_names())


def drift(url: str, metadata: MetaData) -> list[object]:
    """What autogenerate would change: our migrations checked against the models."""
    with connect(url) as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))
