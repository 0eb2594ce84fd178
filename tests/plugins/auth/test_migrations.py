"""The auth branch: creates the tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, create_engine, inspect, pool

from core import migrate
from core.db import sync_url
from tests.plugins.auth.helpers import sources

AUTH_TABLES = {
    "auth_users",
    "auth_workspaces",
    "auth_memberships",
    "auth_api_keys",
    "auth_sessions",
    "auth_one_time_links",
    "auth_recovery_codes",
}


@contextmanager
def connect(url: str) -> Iterator[Connection]:
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def drift(url: str, metadata: MetaData) -> list[object]:
    """What `alembic check` would report: differences between the database and the models."""
    with connect(url) as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_auth_is_its_own_branch(db_url: str) -> None:
    migrate.upgrade(db_url, sources())
    assert "auth_0002" in migrate.current(db_url, sources())
    with connect(db_url) as connection:
        found = inspect(connection)
        assert AUTH_TABLES <= set(found.get_table_names())
        uniques = {
            table: {u["name"] for u in found.get_unique_constraints(table)}
            for table in ("auth_users", "auth_workspaces", "auth_api_keys")
        }
        assert uniques == {
            "auth_users": {"uq_auth_users_email"},
            "auth_workspaces": {"uq_auth_workspaces_slug"},
            "auth_api_keys": {"uq_auth_api_keys_prefix", "uq_auth_api_keys_secret_hash"},
        }
        assert found.get_pk_constraint("auth_memberships")["constrained_columns"] == [
            "user_id",
            "workspace_id",
        ]
        fks = {fk["name"] for fk in found.get_foreign_keys("auth_api_keys")}
        assert fks == {
            "fk_auth_api_keys_user_id_auth_users",
            "fk_auth_api_keys_workspace_id_auth_workspaces",
            "fk_auth_api_keys_rotated_from_auth_api_keys",
        }


def test_migrations_match_models(db_url: str) -> None:
    migrate.upgrade(db_url, sources())
    assert drift(db_url, migrate.combined_metadata(sources())) == []


def test_branch_goes_down_and_up_alone(db_url: str) -> None:
    migrate.upgrade(db_url, sources())
    migrate.downgrade(db_url, sources(), "auth@base")
    with connect(db_url) as connection:
        assert not AUTH_TABLES & set(inspect(connection).get_table_names())
    assert not [r for r in migrate.current(db_url, sources()) if r.startswith("auth_")]
    migrate.upgrade(db_url, sources())
    assert drift(db_url, migrate.combined_metadata(sources())) == []
