"""sample plugin: add sample_books.isbn, unique

Revision ID: sample_plugin_0002
Revises: sample_plugin_0001
Create Date: 2025-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "sample_plugin_0002"
down_revision: str | Sequence[str] | None = "sample_plugin_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite cannot add a unique constraint with ALTER TABLE.
    with op.batch_alter_table("sample_books") as batch:
        batch.add_column(sa.Column("isbn", sa.String(length=20), nullable=True))
        batch.create_unique_constraint(op.f("uq_sample_books_isbn"), ["isbn"])


def downgrade() -> None:
    with op.batch_alter_table("sample_books") as batch:
        batch.drop_constraint(op.f("uq_sample_books_isbn"), type_="unique")
        batch.drop_column("isbn")
