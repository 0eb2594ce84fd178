"""A test-only plugin owning two tables, with two migrations (create tables, add a column)."""

from pathlib import Path

from core.migrate import MigrationSource

from .models import metadata

VERSIONS_DIR = Path(__file__).parent / "versions"


def source(versions_dir: Path = VERSIONS_DIR) -> MigrationSource:
    """The plugin's migration source, as its includeme would register it."""
    return MigrationSource("sample_plugin", metadata, str(versions_dir))
