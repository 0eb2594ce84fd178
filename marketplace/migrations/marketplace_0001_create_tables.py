"""marketplace: published plugins, versions, reviews; installs, kept kv data, unsigned toggle

Revision ID: marketplace_0001
Revises:
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "marketplace_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("marketplace",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "marketplace_plugins",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("summary", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("publisher_identity", sa.String(length=255), nullable=False),
        sa.Column("publisher_issuer", sa.String(length=255), nullable=False),
        sa.Column("downloads", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_marketplace_plugins")),
    )
    op.create_table(
        "marketplace_versions",
        sa.Column("plugin", sa.String(length=40), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("readme", sa.Text(), nullable=True),
        sa.Column("package", sa.LargeBinary(), nullable=False),
        sa.Column("bundle", sa.LargeBinary(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        sa.Column("downloads", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["plugin"],
            ["marketplace_plugins.name"],
            name=op.f("fk_marketplace_versions_plugin_marketplace_plugins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("plugin", "version", name=op.f("pk_marketplace_versions")),
    )
    op.create_table(
        "marketplace_reviews",
        sa.Column("plugin", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["plugin"],
            ["marketplace_plugins.name"],
            name=op.f("fk_marketplace_reviews_plugin_marketplace_plugins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("plugin", "subject", name=op.f("pk_marketplace_reviews")),
    )
    op.create_table(
        "marketplace_installs",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("index_url", sa.Text(), nullable=True),
        sa.Column("signed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("identity", sa.String(length=255), nullable=True),
        sa.Column("issuer", sa.String(length=255), nullable=True),
        sa.Column("workspace", sa.String(length=64), nullable=True),
        sa.Column("previous_version", sa.String(length=32), nullable=True),
        sa.Column("previous_sha256", sa.String(length=64), nullable=True),
        sa.Column("previous_signed", sa.Boolean(), nullable=True),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_marketplace_installs")),
    )
    op.create_table(
        "marketplace_kept_kv",
        sa.Column("plugin", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("plugin", "key", name=op.f("pk_marketplace_kept_kv")),
    )
    op.create_table(
        "marketplace_workspaces",
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("allow_unsigned", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("workspace", name=op.f("pk_marketplace_workspaces")),
    )


def downgrade() -> None:
    op.drop_table("marketplace_workspaces")
    op.drop_table("marketplace_kept_kv")
    op.drop_table("marketplace_installs")
    op.drop_table("marketplace_reviews")
    op.drop_table("marketplace_versions")
    op.drop_table("marketplace_plugins")
