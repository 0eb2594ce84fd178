"""sample plugin: create sample_books and sample_notes

Revision ID: sample_plugin_0001
Revises:
Create Date: 2025-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "sample_plugin_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("sample_plugin",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sample_books",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sample_books")),
    )
    op.create_table(
        "sample_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["book_id"],
            ["sample_books.id"],
            name=op.f("fk_sample_notes_book_id_sample_books"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sample_notes")),
    )
    op.create_index(op.f("ix_sample_notes_book_id"), "sample_notes", ["book_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sample_notes_book_id"), table_name="sample_notes")
    op.drop_table("sample_notes")
    op.drop_table("sample_books")
