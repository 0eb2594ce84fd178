"""Fixtures for the sandbox tests: a migrated database (SQLite, and PostgreSQL when
SWITCHYARD_TEST_POSTGRES_URL is set) and a plugin store on it with its own home."""

from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path

import pytest

from core import migrate
from core.db import Database
from core.discovery import ENTRY_POINT_GROUP
from sandbox.models import metadata
from sandbox.store import MIGRATIONS, PluginStore
from tests.core.db_fixtures import pg
from tests.core.db_fixtures.migrated import migrated_fixtures

pg_url = pg.pg_url
db_url = pg.db_url


def sources() -> list[migrate.MigrationSource]:
    return [migrate.kernel_source(), migrate.MigrationSource("sandbox", metadata, MIGRATIONS)]


migrated_url, database = migrated_fixtures(sources)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(database: Database, home: Path) -> PluginStore:
    return PluginStore(database, home)


_packages_distributions = functools.cache(importlib.metadata.packages_distributions)


@pytest.fixture
def fast_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    """The distribution of each plugin cannot change during the tests: look it up once."""
    monkeypatch.setattr(importlib.metadata, "packages_distributions", _packages_distributions)


@pytest.fixture
def sandbox_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a ``sandbox`` plugin discoverable when the installed distribution has none yet:
    a throwaway dist-info declaring it as pyproject.toml does."""
    names = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    if "sandbox" in names:
        return
    info = tmp_path / "entry-point" / "switchyard_sandbox_test-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: switchyard-sandbox-test\nVersion: 0.0\n"
    )
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nsandbox = sandbox:includeme\n")
    monkeypatch.syspath_prepend(str(info.parent))
