"""The kernel's Alembic version scripts (branch "core"); a package so they are installed."""
