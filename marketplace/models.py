"""The marketplace's tables: published plugins and versions, reviews, and client-side records.

Server side (an instance that serves an index): ``marketplace_plugins`` (one row per name,
bound to its first publisher's Sigstore identity), ``marketplace_versions`` (the package and
its bundle, kept in the database so every instance sharing it serves the same files and a
publish is one transaction: nothing is ever half-stored), ``marketplace_reviews`` (one per
user per plugin). Client side (an instance that installs): ``marketplace_installs`` (where an
installed plugin came from and what it replaced, for rollback), ``marketplace_kept_kv`` (a
plugin's data kept after an uninstall without ``--purge``), ``marketplace_workspaces`` (the
admin's "allow unsigned installs" toggle per workspace). The Alembic branch ``marketplace``
creates exactly these.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)

from core.db import NAMING_CONVENTION, UTCDateTime

__all__ = [
    "marketplace_installs",
    "marketplace_kept_kv",
    "marketplace_plugins",
    "marketplace_reviews",
    "marketplace_versions",
    "marketplace_workspaces",
    "metadata",
]

metadata = MetaData(naming_convention=NAMING_CONVENTION)

marketplace_plugins = Table(
    "marketplace_plugins",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("summary", String(200), nullable=False),  # of the newest version
    Column("category", String(32), nullable=False),
    Column("publisher_identity", String(255), nullable=False),  # certificate identity
    Column("publisher_issuer", String(255), nullable=False),  # OIDC issuer
    Column("downloads", BigInteger(), nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

marketplace_versions = Table(
    "marketplace_versions",
    metadata,
    Column(
        "plugin",
        String(40),
        ForeignKey("marketplace_plugins.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version", String(32), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer(), nullable=False),
    Column("manifest", JSON(), nullable=False),  # sandbox.manifest.to_builtins()
    Column("readme", Text(), nullable=True),
    Column("package", LargeBinary(), nullable=False),  # the .syp, byte for byte
    Column("bundle", LargeBinary(), nullable=False),  # its .sigstore.json
    Column("log_index", BigInteger(), nullable=True),  # transparency log entry, if any
    Column("downloads", BigInteger(), nullable=False, server_default="0"),
    Column("published_at", UTCDateTime(), nullable=False),
    Column("published_by", String(255), nullable=False),  # the Casbin subject who uploaded
)

marketplace_reviews = Table(
    "marketplace_reviews",
    metadata,
    Column(
        "plugin",
        String(40),
        ForeignKey("marketplace_plugins.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("subject", String(255), primary_key=True),  # one review per user per plugin
    Column("display_name", String(255), nullable=False),
    Column("rating", Integer(), nullable=False),
    Column("text", Text(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

marketplace_installs = Table(
    "marketplace_installs",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("version", String(32), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("index_url", Text(), nullable=True),  # None: a local file
    Column("signed", Boolean(), nullable=False, server_default=false()),
    Column("identity", String(255), nullable=True),  # who signed it, as verified
    Column("issuer", String(255), nullable=True),
    Column("workspace", String(64), nullable=True),  # whose unsigned toggle allowed it
    Column("previous_version", String(32), nullable=True),  # kept files, for rollback
    Column("previous_sha256", String(64), nullable=True),
    Column("previous_signed", Boolean(), nullable=True),
    Column("installed_at", UTCDateTime(), nullable=False),
)

marketplace_kept_kv = Table(
    "marketplace_kept_kv",
    metadata,
    Column("plugin", String(40), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", LargeBinary(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

marketplace_workspaces = Table(
    "marketplace_workspaces",
    metadata,
    Column("workspace", String(64), primary_key=True),
    Column("allow_unsigned", Boolean(), nullable=False, server_default=false()),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(255), nullable=False),
)
