"""The sandbox's tables: installed wasm plugins and their key-value data.

SQLAlchemy Core with the kernel's naming convention, like every plugin; the Alembic branch
``sandbox`` (``migrations/``) creates exactly these, and a test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
    true,
)

from core.db import NAMING_CONVENTION, UTCDateTime

__all__ = ["metadata", "sandbox_kv", "sandbox_plugins"]

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# One row per installed plugin. The files of its version live under
# $SWITCHYARD_HOME/plugins/<name>/<version>/ (sandbox.store); the row is written last, so a
# row always has its files.
sandbox_plugins = Table(
    "sandbox_plugins",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("version", String(32), nullable=False),
    Column("sha256", String(64), nullable=False),  # of the .syp it came from
    Column("manifest", JSON(), nullable=False),  # sandbox.manifest.to_builtins()
    Column("granted", JSON(), nullable=False),  # capabilities the admin granted
    Column("settings", JSON(), nullable=False),  # the admin's values over [config]
    Column("enabled", Boolean(), nullable=False, server_default=true()),
    Column("required", Boolean(), nullable=False, server_default=false()),
    Column("signed", Boolean(), nullable=False, server_default=false()),
    Column("installed_at", UTCDateTime(), nullable=False),
    Column("installed_by", String(255), nullable=False),
    Column("disabled_reason", Text(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# The ``kv`` capability's storage, scoped per plugin; an uninstall deletes it with the row.
sandbox_kv = Table(
    "sandbox_kv",
    metadata,
    Column(
        "plugin",
        String(40),
        ForeignKey("sandbox_plugins.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(255), primary_key=True),
    Column("value", LargeBinary(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
