"""The auth plugin's tables: users, workspaces, memberships and API keys.

Built on SQLAlchemy Core with the kernel's naming convention, so constraint names are the
same on SQLite and PostgreSQL and later migrations can name what they alter. The Alembic
branch ``auth`` (``migrations/``) creates exactly these; a test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)

from core.db import NAMING_CONVENTION, UTCDateTime

__all__ = [
    "ROLES",
    "api_keys",
    "memberships",
    "metadata",
    "users",
    "workspaces",
]

# The built-in roles of policies/default_policy.csv. Checked by the service rather than by a
# database CHECK constraint, so that custom roles (the policy editor) need no migration.
ROLES: tuple[str, ...] = ("admin", "user", "viewer", "billing_admin")

metadata = MetaData(naming_convention=NAMING_CONVENTION)

users = Table(
    "auth_users",
    metadata,
    Column("id", Integer, primary_key=True),
    # Stored lower-cased by the service, so the unique constraint is case-insensitive in effect.
    Column("email", String(254), nullable=False),
    Column("display_name", String(200), nullable=False, server_default=""),
    # argon2id (PHC string); NULL for users who sign in another way (link, OIDC) or not yet.
    Column("password_hash", Text, nullable=True),
    Column("is_active", Boolean, nullable=False, server_default=true()),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("email"),
)

workspaces = Table(
    "auth_workspaces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(40), nullable=False),  # the Casbin domain; [a-z0-9-]{2,40}
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("slug"),
)

memberships = Table(
    "auth_memberships",
    metadata,
    # The composite primary key is the "one role per user and workspace" rule.
    Column("user_id", Integer, ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "workspace_id",
        Integer,
        ForeignKey("auth_workspaces.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
    Column("role", String(40), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

api_keys = Table(
    "auth_api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    # The visible part of the key ("sy_" + 8 characters): shown in lists, logs and usage.
    Column("prefix", String(16), nullable=False),
    # sha256 of the whole key, hex; see plugins.auth.secrets for why a fast hash is right.
    Column("secret_hash", String(64), nullable=False),
    Column(
        "user_id",
        Integer,
        ForeignKey("auth_users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column(
        "workspace_id",
        Integer,
        ForeignKey("auth_workspaces.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("name", String(200), nullable=False, server_default=""),
    Column("scopes", JSON, nullable=False),  # list of patterns; [] means everything
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column(
        "rotated_from",
        Integer,
        ForeignKey("auth_api_keys.id", ondelete="SET NULL"),
        nullable=True,
    ),
    # Set on the old key by a rotation: it keeps working until then.
    Column("grace_until", UTCDateTime(), nullable=True),
    UniqueConstraint("prefix"),
    UniqueConstraint("secret_hash"),
)
