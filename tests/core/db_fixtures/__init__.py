"""Test-only helpers for the database tests: a PostgreSQL fixture and a sample plugin."""
