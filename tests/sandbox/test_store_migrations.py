"""The ``sandbox`` Alembic branch creates exactly the tables sandbox.models describes, and
goes down and up alone, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from core import migrate
from tests.core.db_fixtures.schema import connect
from tests.core.db_fixtures.schema import drift as schema_drift
from tests.sandbox.conftest import sources

TABLES = {"sandbox_plugins", "sandbox_kv"}




def drift(url: str) -> list[object]:
    return schema_drift(url, migrate.combined_metadata(sources()))


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
