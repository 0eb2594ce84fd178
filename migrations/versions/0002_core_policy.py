"""kernel_policy_rules and kernel_policy_changes: the live Casbin policy and its history

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0002"
down_revision: str | Sequence[str] | None = "core_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kernel_policy_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ptype", sa.String(length=8), nullable=False),
        sa.Column("v0", sa.String(length=255), nullable=False),
        sa.Column("v1", sa.String(length=255), nullable=False),
        sa.Column("v2", sa.String(length=255), server_default="", nullable=False),
        sa.Column("v3", sa.String(length=255), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kernel_policy_rules")),
        sa.UniqueConstraint("ptype", "v0", "v1", "v2", "v3", name="uq_kernel_policy_rules_line"),
    )
    op.create_table(
        "kernel_policy_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kernel_policy_changes")),
    )
    op.create_index(
        op.f("ix_kernel_policy_changes_workspace"),
        "kernel_policy_changes",
        ["workspace"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_kernel_policy_changes_workspace"), table_name="kernel_policy_changes")
    op.drop_table("kernel_policy_changes")
    op.drop_table("kernel_policy_rules")
