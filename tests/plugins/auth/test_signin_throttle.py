"""Password guessing: the per-address rate limit (memory and Redis) and the account lockout."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from plugins.auth.models import users
from tests.plugins.auth import signin_support
from tests.plugins.auth.signin_support import (
    PASSWORD,
    accounts_of,
    add_user,
    alert_text,
    app,
    on_app_loop,
    service_of,
    sign_in,
    signed_in,
)

LOCKOUT = "[auth]\nlockout_threshold = 3\nlockout_minutes = 15\nsignin_attempts_per_minute = 100\n"
REDIS_ENV = "SWITCHYARD_TEST_REDIS_URL"
both_databases = signin_support.both_databases  # the fixture: SQLite, then PostgreSQL


def _lock_row(client: Any, email: str = "alice@example.com") -> Any:
    async def read() -> Any:
        async with service_of(client).db.engine.connect() as conn:
            return (
                await conn.execute(
                    select(users.c.failed_logins, users.c.locked_until).where(
                        users.c.email == email
                    )
                )
            ).one()

    return on_app_loop(client, read)


def test_account_locks_after_repeated_failures_even_for_the_right_password(
    both_databases: Any,
) -> None:
    client = both_databases(LOCKOUT)
    add_user(client)
    for attempt in (1, 2):
        refused = sign_in(client, password=f"wrong guess {attempt}")
        assert refused.status_code == 401
        assert _lock_row(client).failed_logins == attempt
    locked = sign_in(client, password="wrong guess 3")
    assert locked.status_code == 429
    assert alert_text(locked.text) == (
        "This account is locked for 15 minutes after too many failed sign-in attempts. "
        "Try again later, or ask an admin."
    )
    row = _lock_row(client)
    assert row.locked_until is not None
    assert timedelta(minutes=14) < row.locked_until - datetime.now(UTC) <= timedelta(minutes=15)

    right = sign_in(client)
    assert right.status_code == 429
    assert "locked" in alert_text(right.text)
    assert not signed_in(client)


def test_lock_ends_after_its_time_and_success_clears_the_count(client_for: Any) -> None:
    client = app(client_for, toml=LOCKOUT)
    user_id = add_user(client)
    for attempt in range(3):
        sign_in(client, password=f"wrong guess {attempt}")

    async def expire_lock() -> None:
        async with service_of(client).db.engine.begin() as conn:
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
            )

    on_app_loop(client, expire_lock)
    sign_in(client, password="one more wrong guess")
    assert _lock_row(client).failed_logins == 1
    assert sign_in(client).status_code == 303
    row = _lock_row(client)
    assert (row.failed_logins, row.locked_until) == (0, None)


def test_lockout_holds_on_another_instance(both_databases: Any) -> None:
    """Two apps on one database, as two instances would be: the lock is in the database."""
    first = both_databases(LOCKOUT)
    add_user(first)
    for attempt in range(3):
        sign_in(first, password=f"wrong guess {attempt}")
    second = both_databases(LOCKOUT)
    refused = sign_in(second)
    assert refused.status_code == 429
    assert "locked" in alert_text(refused.text)


def test_unknown_emails_do_not_lock_anything(client_for: Any) -> None:
    client = app(client_for, toml=LOCKOUT)
    add_user(client)
    for attempt in range(5):
        assert sign_in(client, "ghost@example.com", f"guess {attempt}").status_code == 401
    assert sign_in(client).status_code == 303


def test_one_address_is_limited_per_minute_whatever_the_account(client_for: Any) -> None:
    client = app(client_for, toml="[auth]\nsignin_attempts_per_minute = 3\n")
    add_user(client)
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        assert sign_in(client, email, "guess guess").status_code == 401
    refused = sign_in(client)  # right password, but this address used its attempts
    assert refused.status_code == 429
    message = alert_text(refused.text)
    assert message.startswith("Too many sign-in attempts from your address. Try again in ")
    assert message.endswith(("seconds.", "second."))
    assert not signed_in(client)


def test_the_address_limit_window_resets(client_for: Any) -> None:
    client = app(client_for, toml="[auth]\nsignin_attempts_per_minute = 1\n")
    add_user(client)
    limiter = accounts_of(client).limiter
    now = [1_000_000.0]
    limiter.clock = lambda: now[0]
    assert sign_in(client, password="guess guess").status_code == 401
    assert sign_in(client).status_code == 429
    now[0] += 60
    assert sign_in(client).status_code == 303


@pytest.fixture
def redis_url() -> Any:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"Redis rate-limit test left out: set {REDIS_ENV}")
    import redis

    connection = redis.Redis.from_url(url)
    for key in connection.scan_iter("switchyard:auth:signin:*"):
        connection.delete(key)
    yield url
    for key in connection.scan_iter("switchyard:auth:signin:*"):
        connection.delete(key)
    connection.close()


def test_the_address_limit_is_shared_through_redis(client_for: Any, redis_url: str) -> None:
    toml = f'[redis]\nurl = "{redis_url}"\n[auth]\nsignin_attempts_per_minute = 3\n'
    first, second = app(client_for, toml=toml), app(client_for, toml=toml)
    add_user(first)
    assert sign_in(first, password="guess guess").status_code == 401
    assert sign_in(second, password="guess guess").status_code == 401
    assert sign_in(first, password="guess guess").status_code == 401
    refused = sign_in(second, password=PASSWORD)
    assert refused.status_code == 429, "the other instance's attempts were not counted"
    assert alert_text(refused.text).startswith("Too many sign-in attempts")


def test_an_unreachable_redis_falls_back_to_memory(client_for: Any) -> None:
    toml = '[redis]\nurl = "redis://127.0.0.1:1/0"\n[auth]\nsignin_attempts_per_minute = 2\n'
    client = app(client_for, toml=toml)
    add_user(client)
    assert sign_in(client, password="guess guess").status_code == 401
    assert sign_in(client).status_code == 303  # sign-in still works without Redis
    client.cookies.clear()
    assert sign_in(client).status_code == 429  # and is still limited, in memory
