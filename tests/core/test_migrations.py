"""core.migrate: the kernel and a sample plugin as Alembic branches on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    inspect,
)

from core import migrate
from core.db import NAMING_CONVENTION, async_url
from core.migrate import MigrationError, MigrationSource

try:
    from .db_fixtures import pg, sample_plugin
    from .db_fixtures.schema import connect, drift
    from .db_fixtures.schema import table_names as tables
except ImportError:  # tests/core is no package: pytest put this folder on sys.path instead
    from db_fixtures import pg, sample_plugin
    from db_fixtures.schema import connect, drift
    from db_fixtures.schema import table_names as tables

pg_url = pg.pg_url
db_url = pg.db_url

HEADS = ["core_0002", "sample_plugin_0002"]


def sources() -> list[MigrationSource]:
    return [migrate.kernel_source(), sample_plugin.source()]


def test_upgrade_creates_every_branch(db_url: str) -> None:
    migrate.upgrade(db_url, sources())

    assert tables(db_url) == {
        "alembic_version",
        "kernel_plugin_state",
        "kernel_policy_changes",
        "kernel_policy_rules",
        "sample_books",
        "sample_notes",
    }
    with connect(db_url) as connection:
        found = inspect(connection)
        columns = {c["name"] for c in found.get_columns("sample_books")}
        assert columns == {"id", "title", "isbn"}  # the second revision's column too
        assert {c["name"] for c in found.get_columns("kernel_plugin_state")} == {
            "name",
            "version",
            "first_seen",
            "last_seen",
            "last_error",
        }
        assert [i["name"] for i in found.get_indexes("sample_notes")] == ["ix_sample_notes_book_id"]
        [fk] = found.get_foreign_keys("sample_notes")
        assert fk["name"] == "fk_sample_notes_book_id_sample_books"
        assert fk["referred_table"] == "sample_books"
        assert found.get_pk_constraint("kernel_plugin_state")["name"] in (
            "pk_kernel_plugin_state",
            None,  # SQLite reflects no name for a primary key
        )
    assert migrate.current(db_url, sources()) == HEADS
    assert migrate.heads(db_url, sources()) == HEADS


def test_downgrade_to_base_then_upgrade_again(db_url: str) -> None:
    for _ in range(2):  # the cycle is repeatable
        migrate.upgrade(db_url, sources())
        assert migrate.current(db_url, sources()) == HEADS
        migrate.downgrade(db_url, sources())
        assert tables(db_url) <= {"alembic_version"}
        assert migrate.current(db_url, sources()) == []
    migrate.upgrade(db_url, sources())
    migrate.upgrade(db_url, sources())  # nothing left to do
    assert migrate.current(db_url, sources()) == HEADS


def test_one_branch_moves_alone(db_url: str) -> None:
    migrate.upgrade(db_url, sources())
    migrate.downgrade(db_url, sources(), "sample_plugin@-1")
    assert migrate.current(db_url, sources()) == ["core_0002", "sample_plugin_0001"]
    with connect(db_url) as connection:
        assert "isbn" not in {c["name"] for c in inspect(connection).get_columns("sample_books")}
    migrate.upgrade(db_url, sources(), "sample_plugin@head")
    assert migrate.current(db_url, sources()) == HEADS


def test_migrations_match_models(db_url: str) -> None:
    migrate.upgrade(db_url, sources())
    assert drift(db_url, migrate.combined_metadata(sources())) == []


def test_drift_between_model_and_migration_is_caught(db_url: str) -> None:
    migrate.upgrade(db_url, sources())
    drifted = migrate.combined_metadata(sources())
    drifted.tables["sample_books"].append_column(Column("subtitle", String(200)))
    differences = drift(db_url, drifted)
    assert [(d[0], d[3].name) for d in differences] == [("add_column", "subtitle")]  # type: ignore[index]


def test_async_url_is_accepted(db_url: str) -> None:
    migrate.upgrade(async_url(db_url), sources())
    assert migrate.current(async_url(db_url), sources()) == HEADS


def test_kernel_is_always_a_source(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    config = migrate.alembic_config(url, [sample_plugin.source()])
    assert [s.name for s in config.attributes["sources"]] == ["core", "sample_plugin"]
    assert config.get_version_locations_list() == [
        str(Path(s.versions_dir).resolve()) for s in config.attributes["sources"]
    ]
    migrate.upgrade(url, [sample_plugin.source()])
    assert migrate.current(url, []) == HEADS


def test_history_is_newest_first(tmp_path: Path) -> None:
    rows = migrate.history(f"sqlite:///{tmp_path / 'h.db'}", sources())
    assert [r[0] for r in rows if r[0].startswith("sample")] == [
        "sample_plugin_0002",
        "sample_plugin_0001",
    ]
    assert ("sample_plugin_0002", "sample_plugin_0001") in [(r[0], r[1]) for r in rows]
    assert ("core_0001", None) in [(r[0], r[1]) for r in rows]
    assert ("core_0002", "core_0001") in [(r[0], r[1]) for r in rows]
    assert all(doc for _, _, doc in rows)


def _plugin_with_table(name: str, versions_dir: str | None) -> MigrationSource:
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    Table(f"{name}_items", metadata, Column("id", Integer, primary_key=True))
    return MigrationSource(name, metadata, versions_dir)


def test_missing_versions_dir_names_the_plugin(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(MigrationError, match="plugin 'broken'.*nowhere.*does not exist"):
        migrate.upgrade(
            f"sqlite:///{tmp_path / 'x.db'}", [_plugin_with_table("broken", str(missing))]
        )


def test_tables_without_migrations_name_the_plugin(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="plugin 'lazy' registers tables \\(lazy_items\\)"):
        migrate.alembic_config(f"sqlite:///{tmp_path / 'x.db'}", [_plugin_with_table("lazy", None)])
    # no tables, no migrations: fine
    migrate.alembic_config("sqlite://", [MigrationSource("empty", MetaData(), None)])


def test_empty_versions_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "versions").mkdir()
    source = _plugin_with_table("blank", str(tmp_path / "versions"))
    with pytest.raises(MigrationError, match="plugin 'blank' has tables but no version scripts"):
        migrate.heads("sqlite://", [source])


def test_first_revision_needs_the_branch_label(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "unlabelled_0001.py").write_text(
        'revision = "unlabelled_0001"\ndown_revision = None\n'
        "def upgrade():\n    pass\ndef downgrade():\n    pass\n"
    )
    source = _plugin_with_table("unlabelled", str(versions))
    with pytest.raises(MigrationError, match=r"branch_labels = \('unlabelled',\)"):
        migrate.heads("sqlite://", [source])


def test_duplicate_revision_ids_are_refused(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "other_0001.py").write_text(
        'revision = "sample_plugin_0001"\ndown_revision = None\nbranch_labels = ("other",)\n'
        "def upgrade():\n    pass\ndef downgrade():\n    pass\n"
    )
    other = MigrationSource("other", MetaData(), str(versions))
    with pytest.raises(MigrationError, match="sample_plugin_0001 is present more than once"):
        migrate.upgrade(f"sqlite:///{tmp_path / 'x.db'}", [sample_plugin.source(), other])


def test_bad_sources_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="branch label"):
        MigrationSource("my-plugin", MetaData(), None)
    with pytest.raises(MigrationError, match="two migration sources are named 'core'"):
        migrate.alembic_config("sqlite://", [MigrationSource("core", MetaData(), None)])
    clash = MetaData()
    Table("kernel_plugin_state", clash, Column("id", Integer, primary_key=True))
    with pytest.raises(MigrationError, match="'kernel_plugin_state' is defined by both 'core'"):
        migrate.alembic_config("sqlite://", [MigrationSource("thief", clash, str(tmp_path))])


def test_database_ahead_of_the_sources_is_explained(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    migrate.upgrade(url, sources())
    with pytest.raises(MigrationError, match="sample_plugin_0002.*enable again the plugin"):
        migrate.upgrade(url, [migrate.kernel_source()])  # the sample plugin went away


def test_url_with_percent_escapes(pg_url: str) -> None:
    # ConfigParser interpolation must not eat URL escapes such as %40 in a password.
    url = pg_url.replace("postgres@", "postgres:p%40ss@", 1)  # trust auth ignores the password
    migrate.upgrade(url, sources())
    assert migrate.current(url, sources()) == HEADS


def test_offline_sql_for_postgresql() -> None:
    config = migrate.alembic_config("postgresql+psycopg://u@localhost/none", sources())
    config.output_buffer = io.StringIO()
    command.upgrade(config, "heads", sql=True)  # no database needed
    sql = config.output_buffer.getvalue()
    for expected in (
        "CREATE TABLE kernel_plugin_state",
        "CREATE TABLE sample_books",
        "CONSTRAINT uq_sample_books_isbn UNIQUE (isbn)",
        "INSERT INTO alembic_version (version_num) VALUES ('sample_plugin_0001')",
    ):
        assert expected in sql


def test_autogenerate_writes_an_empty_revision_when_in_sync(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    shutil.copytree(
        sample_plugin.VERSIONS_DIR, versions, ignore=shutil.ignore_patterns("__pycache__")
    )
    plugin = sample_plugin.source(versions)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    migrate.upgrade(url, [plugin])

    config = migrate.alembic_config(url, [plugin])
    script = command.revision(
        config,
        "nothing changed",
        autogenerate=True,
        head="sample_plugin@head",
        version_path=str(versions),
        rev_id="sample_plugin_0003",
    )
    assert script is not None and not isinstance(script, list)
    text = Path(script.path).read_text()
    assert 'down_revision: str | Sequence[str] | None = "sample_plugin_0002"' in text.replace(
        "'", '"'
    )
    assert "op." not in text  # nothing to migrate
    migrate.upgrade(url, [plugin])
    assert migrate.current(url, [plugin]) == ["core_0002", "sample_plugin_0003"]
