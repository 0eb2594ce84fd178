"""The ``sandbox`` Alembic branch creates exactly the tables sandbox.models describes, and
goes down and up alone, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, pool

from core import migrate
from core.db import sync_url
from tests.sandbox.conftest import sources

TABLES = {"sandbox_plugins", "sandbox_kv"}


@contextmanager
def connect(url: str) -> Iterator[Connection]:
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def drift(url: str) -> list[object]:
    with connect(url) as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, migrate.combined_metadata(sources())))


def test_the_branch_matches_the_models_and_goes_down_and_up_alone(db_url: str) -> None:
    migrate.upgrade(db_url, sources())
    assert "sandbox_0001" in migrate.current(db_url, sources())
    assert drift(db_url) == []
    with connect(db_url) as connection:
        found = inspect(connection)
        assert found.get_pk_constraint("sandbox_kv")["constrained_columns"] == ["plugin", "key"]
        [fk] = found.get_foreign_keys("sandbox_kv")
        assert (fk["name"], fk["referred_table"], fk["options"].get("ondelete")) == (
            "fk_sandbox_kv_plugin_sandbox_plugins",
            "sandbox_plugins",
            "CASCADE",
        )
    migrate.downgrade(db_url, sources(), "sandbox@base")
    with connect(db_url) as connection:
        assert not TABLES & set(inspect(connection).get_table_names())
    migrate.upgrade(db_url, sources())
    assert drift(db_url) == []
