"""Alembic environment for Switchyard: one database, one version table, a branch per source.

Run it through ``core.migrate`` (or ``switchyard db ...``), which puts the kernel's and the
plugins' migration sources in ``config.attributes["sources"]``; the bare ``alembic``
command does not know them.
"""

from __future__ import annotations

import zlib
from typing import Any

from alembic import context
from sqlalchemy import Connection, engine_from_config, make_url, pool, text

from core.migrate import combined_metadata

config = context.config
sources = config.attributes.get("sources")
if sources is None:
    raise RuntimeError(
        "migrations/env.py needs the migration sources in config.attributes['sources']; "
        "run migrations with `switchyard db upgrade` or core.migrate.upgrade()"
    )
target_metadata = combined_metadata(sources)

# Several instances may start at once against one PostgreSQL; they migrate one at a time.
_PG_LOCK_KEY = zlib.crc32(b"switchyard:migrations")


def _options(dialect_name: str) -> dict[str, Any]:
    # SQLite cannot ALTER most things: batch mode recreates the table instead.
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        "render_as_batch": dialect_name == "sqlite",
    }


def run_migrations_offline() -> None:
    """Emit SQL for the migrations instead of running them (``--sql``)."""
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None, "core.migrate.alembic_config sets sqlalchemy.url"
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_options(make_url(url).get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **_options(connection.dialect.name))
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})"))
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a shared connection if one was given, else on a new engine."""
    shared = config.attributes.get("connection")
    if shared is not None:
        _run(shared)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
