"""The auth plugin's Alembic version scripts (branch "auth"); a package so they are installed."""
