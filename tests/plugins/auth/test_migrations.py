"""The auth branch: creates the tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from core import migrate
from tests.core.db_fixtures.schema import connect, drift
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
