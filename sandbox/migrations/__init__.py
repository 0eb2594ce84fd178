"""The sandbox plugin's Alembic version scripts (branch "sandbox"); a package so they are installed."""
