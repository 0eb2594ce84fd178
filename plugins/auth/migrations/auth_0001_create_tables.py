"""auth: create auth_users, auth_workspaces, auth_memberships and auth_api_keys

Revision ID: auth_0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auth_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("auth",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_users")),
        sa.UniqueConstraint("email", name=op.f("uq_auth_users_email")),
    )
    op.create_table(
        "auth_workspaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_workspaces")),
        sa.UniqueConstraint("slug", name=op.f("uq_auth_workspaces_slug")),
    )
    op.create_table(
        "auth_memberships",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_auth_memberships_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["auth_workspaces.id"],
            name=op.f("fk_auth_memberships_workspace_id_auth_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "workspace_id", name=op.f("pk_auth_memberships")),
    )
    op.create_index(op.f("ix_auth_memberships_workspace_id"), "auth_memberships", ["workspace_id"])
    op.create_table(
        "auth_api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rotated_from", sa.Integer(), nullable=True),
        sa.Column("grace_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_auth_api_keys_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["auth_workspaces.id"],
            name=op.f("fk_auth_api_keys_workspace_id_auth_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rotated_from"],
            ["auth_api_keys.id"],
            name=op.f("fk_auth_api_keys_rotated_from_auth_api_keys"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_auth_api_keys_prefix")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_auth_api_keys_secret_hash")),
    )
    op.create_index(op.f("ix_auth_api_keys_user_id"), "auth_api_keys", ["user_id"])
    op.create_index(op.f("ix_auth_api_keys_workspace_id"), "auth_api_keys", ["workspace_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_auth_api_keys_workspace_id"), table_name="auth_api_keys")
    op.drop_index(op.f("ix_auth_api_keys_user_id"), table_name="auth_api_keys")
    op.drop_table("auth_api_keys")
    op.drop_index(op.f("ix_auth_memberships_workspace_id"), table_name="auth_memberships")
    op.drop_table("auth_memberships")
    op.drop_table("auth_workspaces")
    op.drop_table("auth_users")
