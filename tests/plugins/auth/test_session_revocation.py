"""Session revocations reach every instance at once through Redis: two real apps share a
PostgreSQL database and a Redis server; a session ended through one is refused by the other.

The session cache is set to five minutes here, so only the Redis message can explain the
second instance's refusal. Waits poll until a deadline; nothing asserts how fast it was.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from plugins.auth.revocation import SESSION_CHANNEL, KeyChanges
from tests.core.db_fixtures.pg import pg_url  # noqa: F401 - fixture
from tests.plugins.auth.signin_support import add_user, app, post_form, sign_in, signed_in
from tests.plugins.auth.test_revocation import redis_url, wait_until  # noqa: F401 - fixture

LONG_CACHE = "[auth]\nsession_cache_seconds = 300\nsignin_attempts_per_minute = 100\n"


def _two_instances(client_for: Any, pg: str, redis: str) -> tuple[Any, Any]:
    toml = f'[database]\nurl = "{pg}"\n[redis]\nurl = "{redis}"\n{LONG_CACHE}'
    first, second = app(client_for, toml=toml), app(client_for, toml=toml)
    for client in (first, second):
        changes = client.app.state.registry.state["auth.key_changes"]
        wait_until(changes.subscribed.is_set, "the subscriber to be subscribed")
    return first, second


def _same_browser_on(second: Any, first: Any) -> None:
    """The cookie of ``first`` sent to the other instance (a load balancer switching)."""
    second.cookies.set("sy_session", first.cookies["sy_session"])


def test_sign_out_on_one_instance_is_refused_by_the_other(
    client_for: Any,
    pg_url: str,  # noqa: F811 - the fixture
    redis_url: str,  # noqa: F811 - the fixture
) -> None:
    first, second = _two_instances(client_for, pg_url, redis_url)
    add_user(first)
    assert sign_in(first).status_code == 303
    _same_browser_on(second, first)
    assert signed_in(second)  # looked up, and now cached for five minutes

    assert post_form(first, "/ui/sign-out", {}).status_code == 303
    wait_until(lambda: not signed_in(second), "the second instance to refuse the cookie")


def test_sign_out_everywhere_reaches_the_other_instance(
    client_for: Any,
    pg_url: str,  # noqa: F811 - the fixture
    redis_url: str,  # noqa: F811 - the fixture
) -> None:
    first, second = _two_instances(client_for, pg_url, redis_url)
    add_user(first)
    assert sign_in(second).status_code == 303  # the laptop, served by the second instance
    assert signed_in(second)
    assert sign_in(first).status_code == 303  # the phone, on the first
    done = post_form(first, "/ui/me/security/sign-out-everywhere", {})
    assert done.status_code == 303, done.text
    assert not signed_in(first)  # here too, as the page says
    wait_until(lambda: not signed_in(second), "the other session to end on the second instance")


async def test_malformed_and_own_session_messages_change_nothing(
    redis_url: str,  # noqa: F811 - the fixture
) -> None:
    """Junk on the channel is logged and ignored; an instance skips its own messages."""
    forgotten: list[Any] = []

    class Recorder:
        def forget(self, *, digests: Any = (), user_ids: Any = ()) -> None:
            forgotten.append((list(digests), list(user_ids)))

    channel = f"{SESSION_CHANNEL}:test:{os.getpid()}:{time.monotonic_ns()}"
    listener = KeyChanges(redis_url, channel=channel + ":keys", session_channel=channel)
    listener.sessions = Recorder()  # type: ignore[assignment]
    other = KeyChanges(redis_url, channel=channel + ":keys", session_channel=channel)
    await listener.start()
    try:
        from redis.asyncio import Redis

        raw = Redis.from_url(redis_url)
        await raw.publish(channel, "not json")
        await raw.publish(channel, '{"from": "x", "users": ["not a number"]}')
        await raw.aclose()
        await listener.publish_sessions(["own"])  # its own: skipped
        await other.publish_sessions(["b", "a"])
        await other.publish_sessions(user_ids=[7])
        deadline = time.monotonic() + 10
        while listener.applied < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert forgotten == [(["a", "b"], []), ([], [7])]
    finally:
        await listener.stop()
        await other.stop()
