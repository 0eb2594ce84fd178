"""The sample plugin's tables: books, and notes on them."""

from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, Text, UniqueConstraint

from core.db import NAMING_CONVENTION, UTCDateTime

metadata = MetaData(naming_convention=NAMING_CONVENTION)

sample_books = Table(
    "sample_books",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("isbn", String(20), nullable=True),  # added by the second revision
    UniqueConstraint("isbn"),
)

sample_notes = Table(
    "sample_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "book_id",
        Integer,
        ForeignKey("sample_books.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
