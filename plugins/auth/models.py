"""The auth plugin's tables: users, workspaces, memberships, API keys, sessions, links, MFA.

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
    false,
    true,
)

from core.db import NAMING_CONVENTION, UTCDateTime

__all__ = [
    "ROLES",
    "api_keys",
    "memberships",
    "metadata",
    "one_time_links",
    "recovery_codes",
    "sessions",
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
    # Lockout lives here, not in memory, so it holds across instances and restarts.
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", UTCDateTime(), nullable=True),
    Column("last_sign_in_at", UTCDateTime(), nullable=True),
    # TOTP: the secret encrypted with a key derived from secret.key (plugins.auth.mfa); it is
    # pending until totp_enabled_at is set by a confirmed code. totp_last_step stops a code
    # from being used twice.
    Column("totp_secret", Text, nullable=True),
    Column("totp_enabled_at", UTCDateTime(), nullable=True),
    Column("totp_last_step", Integer, nullable=True),
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

sessions = Table(
    "auth_sessions",
    metadata,
    # sha256 hex of the random token kept in the signed cookie: a leaked table signs nobody in.
    Column("id", String(64), primary_key=True),
    Column(
        "user_id",
        Integer,
        ForeignKey("auth_users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),  # the absolute limit
    # False between the password and the TOTP step: such a session signs nobody in.
    Column("mfa_passed", Boolean, nullable=False, server_default=false()),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("user_agent", String(300), nullable=False, server_default=""),
    Column("ip", String(64), nullable=False, server_default=""),
)

one_time_links = Table(
    "auth_one_time_links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False),  # sha256 hex; the token is never stored
    Column("purpose", String(20), nullable=False),  # first_run | invite
    Column("email", String(254), nullable=True),  # whom an invite is for
    # The user who accepted (set on use); for an invite of an existing user, set at creation.
    Column("user_id", Integer, ForeignKey("auth_users.id", ondelete="CASCADE"), nullable=True),
    Column(
        "workspace_id",
        Integer,
        ForeignKey("auth_workspaces.id", ondelete="CASCADE"),
        nullable=True,
    ),
    Column("role", String(40), nullable=True),
    Column("created_by", String(254), nullable=True),  # email, or "server" for first_run
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    UniqueConstraint("token_hash"),
)

recovery_codes = Table(
    "auth_recovery_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "user_id",
        Integer,
        ForeignKey("auth_users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # HMAC-SHA256 keyed from secret.key: a stolen table alone cannot be brute-forced.
    Column("code_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    UniqueConstraint("code_hash"),
)
