"""Every first-party plugin's Alembic branch, as discovery finds it: the migrations create
exactly the tables the plugin's models describe, and each branch goes down to nothing and up
again alone, leaving the others' tables in place. One test for every plugin, present and
future, on SQLite and PostgreSQL."""

from __future__ import annotations

from core import migrate
from core.app import build_registry
from core.settings import load_settings
from tests.core.db_fixtures import pg
from tests.core.db_fixtures.schema import drift as schema_drift
from tests.core.db_fixtures.schema import table_names

pg_url = pg.pg_url
db_url = pg.db_url




def discovered_sources(url: str) -> list[migrate.MigrationSource]:
    settings = load_settings(None, env={"SWITCHYARD_DATABASE__URL": url})
    registry = build_registry(settings)
    return [migrate.kernel_source(), *registry.migration_sources]


def drift(url: str, sources: list[migrate.MigrationSource]) -> list[object]:
    return schema_drift(url, migrate.combined_metadata(sources))




def test_every_plugin_branch_matches_its_models_and_moves_alone(db_url: str) -> None:
    sources = discovered_sources(db_url)
    plugins = {source.name for source in sources} - {"kernel"}
    assert {"auth", "sandbox", "marketplace"} <= plugins, plugins
    migrate.upgrade(db_url, sources)
    assert drift(db_url, sources) == []
    everything = table_names(db_url)
    for source in sources:
        if source.name == "kernel":
            continue
        own = set(source.metadata.tables)
        assert own and own <= everything, (source.name, own - everything)
        dependents = [
            other.name for other in sources
            if other is not source and any(
                fk.column.table.name in own
                for table in other.metadata.tables.values() for fk in table.foreign_keys
            )
        ]
        if dependents:  # another branch's tables point at these: that one has to go first
            continue
        migrate.downgrade(db_url, sources, f"{source.name}@base")
        assert table_names(db_url) == everything - own, source.name
        migrate.upgrade(db_url, sources)
        assert table_names(db_url) == everything and drift(db_url, sources) == []
