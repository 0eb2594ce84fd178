"""Key changes reach every instance at once through Redis: two real apps share a PostgreSQL
database and a Redis server; a change made through one is applied by the other.

The periodic key reload is set to an hour here, so only the Redis message can explain the
second instance's answer. Waits poll until a deadline; nothing asserts how fast it was.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from core.db import Database
from core.permissions import Permissions
from plugins.auth.keys import KeyCache
from plugins.auth.revocation import CHANNEL, KeyChanges
from plugins.auth.service import AuthService
from tests.core.db_fixtures.pg import pg_url  # noqa: F401 - fixture
from tests.plugins.auth.helpers import AUTH, ROUTING
from tests.plugins.auth.people import SIGNED_IN, As, on_app_loop, populate, service_of

REDIS_ENV = "SWITCHYARD_TEST_REDIS_URL"


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"Redis test left out: set {REDIS_ENV}")
    return url


@pytest.fixture
def two_instances(
    pg_url: str,  # noqa: F811 - the fixture
    redis_url: str,
    settings_for: Callable[..., Any],
    make_app: Callable[..., Any],
) -> Iterator[tuple[TestClient[Any], TestClient[Any]]]:
    toml = (
        f'[database]\nurl = "{pg_url}"\n[redis]\nurl = "{redis_url}"\n'
        "[auth]\nkey_refresh_seconds = 3600\nrequire_keys = true\n"
    )
    settings = settings_for(toml)
    first = TestClient(make_app([ROUTING, AUTH, SIGNED_IN], settings=settings))
    second = TestClient(make_app([ROUTING, AUTH, SIGNED_IN], settings=settings))
    with first, second:
        on_app_loop(first, lambda: populate(service_of(first)))
        for client in (first, second):
            changes = client.app.state.registry.state["auth.key_changes"]
            wait_until(changes.subscribed.is_set, "the subscriber to be subscribed")
        yield first, second


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what} after {timeout} s")
        time.sleep(0.02)


def ask(client: TestClient[Any], key: str) -> int:
    """A real AI request with the key; the answer's status."""
    return client.post(
        "/v1/messages",
        headers={"x-api-key": key},
        json={
            "model": "claude-sonnet-4-5",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ).status_code


def test_a_key_revoked_on_one_instance_is_refused_by_the_other(
    two_instances: tuple[TestClient[Any], TestClient[Any]],
) -> None:
    first, second = two_instances
    admin = As(first, "admin@example.com")
    made = admin.post("/api/v1/keys", json={"user": "user@example.com", "name": "laptop"})
    assert made.status_code == 201, made.text
    key, prefix = made.json()["key"], made.json()["prefix"]
    # created on the first instance, usable on the second without a reload
    wait_until(lambda: ask(second, key) == 200, "the second instance to accept the new key")

    assert admin.delete(f"/api/v1/keys/{prefix}").status_code == 200
    assert ask(first, key) == 401  # in-process: at once
    wait_until(lambda: ask(second, key) == 401, "the second instance to refuse the revoked key")


def test_rotation_and_member_removal_reach_the_other_instance(
    two_instances: tuple[TestClient[Any], TestClient[Any]],
) -> None:
    first, second = two_instances
    admin = As(first, "admin@example.com")
    old = admin.post("/api/v1/keys", json={"user": "user@example.com"}).json()
    wait_until(lambda: ask(second, old["key"]) == 200, "the key to arrive")

    rotated = admin.post(f"/api/v1/keys/{old['prefix']}/rotate", json={"grace_seconds": 0}).json()
    wait_until(lambda: ask(second, rotated["key"]) == 200, "the replacement to arrive")
    wait_until(lambda: ask(second, old["key"]) == 401, "the rotated-out key to stop")

    assert admin.delete("/api/v1/members/user@example.com").status_code == 200
    wait_until(lambda: ask(second, rotated["key"]) == 401, "a removed member's key to stop")


def test_a_revocation_from_the_command_line_process_reaches_the_servers(
    two_instances: tuple[TestClient[Any], TestClient[Any]],
) -> None:
    """The CLI builds its own service with a publisher (no cache of its own)."""
    first, second = two_instances
    registry = first.app.state.registry
    secret, key = on_app_loop(
        first, lambda: service_of(first).create_key("user@example.com", "team-a")
    )
    wait_until(lambda: ask(second, secret) == 200, "the key to arrive")

    async def revoke_like_the_cli() -> None:
        db = Database(registry.settings.database_url)
        changes = KeyChanges(registry.settings.redis.url)
        try:
            service = AuthService(db, permissions=await Permissions.open(db), changes=changes)
            await service.revoke_key(key.prefix)
        finally:
            await changes.stop()
            await db.dispose()

    asyncio.run(revoke_like_the_cli())
    for client in (first, second):
        wait_until(lambda c=client: ask(c, secret) == 401, "both instances to refuse the key")


def test_messages_lost_while_disconnected_are_made_up_by_a_reload(
    two_instances: tuple[TestClient[Any], TestClient[Any]], redis_url: str
) -> None:
    """A change nobody announced (or whose message was lost) arrives when the subscriber
    reconnects: it reloads everything on every new subscription after the first."""
    first, second = two_instances
    secret, key = on_app_loop(
        first, lambda: service_of(first).create_key("user@example.com", "team-a")
    )
    wait_until(lambda: ask(second, secret) == 200, "the key to arrive")
    cache: KeyCache = second.app.state.registry.get_interface("auth.api_keys")
    changes: KeyChanges = second.app.state.registry.state["auth.key_changes"]

    async def revoke_silently() -> None:  # straight to the database, no message
        db = Database(first.app.state.registry.settings.database_url)
        try:
            await AuthService(db).revoke_key(key.prefix)
        finally:
            await db.dispose()

    asyncio.run(revoke_silently())
    assert cache.verify(secret) is not None  # nobody told the second instance

    async def drop_its_connection() -> None:
        from redis.asyncio import Redis

        admin = Redis.from_url(redis_url)
        try:
            clients = await admin.client_list(_type="pubsub")
            ids = [c["id"] for c in clients if c.get("name") == changes.client_name]
            assert ids, "the subscriber's connection was not found"
            for client_id in ids:
                await admin.client_kill_filter(_id=client_id)
        finally:
            await admin.aclose()

    asyncio.run(drop_its_connection())
    wait_until(lambda: cache.verify(secret) is None, "the reconnect reload to drop the key")
    wait_until(changes.subscribed.is_set, "the subscription to be back")


async def test_malformed_and_own_messages_change_nothing(redis_url: str) -> None:
    """Junk on the channel is logged and ignored; an instance skips its own messages."""
    applied: list[Any] = []

    class Recorder:
        async def reload(self, prefixes: Any) -> int:
            applied.append(sorted(prefixes))
            return 0

        async def refresh(self) -> int:
            applied.append("all")
            return 0

        async def refresh_quietly(self) -> None:
            applied.append("quiet")

    channel = f"{CHANNEL}:test:{os.getpid()}:{time.monotonic_ns()}"
    listener = KeyChanges(redis_url, Recorder(), channel=channel)  # type: ignore[arg-type]
    other = KeyChanges(redis_url, channel=channel)
    await listener.start()
    try:
        from redis.asyncio import Redis

        raw = Redis.from_url(redis_url)
        await raw.publish(channel, "not json")
        await raw.publish(channel, '{"from": "x"}')
        await raw.aclose()
        await listener.publish(["sy_ownownow"])  # its own: skipped
        await other.publish(["sy_bbbbbbbb", "sy_aaaaaaaa"])
        await other.publish(None)  # everything
        deadline = time.monotonic() + 10
        while listener.applied < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert applied == [["sy_aaaaaaaa", "sy_bbbbbbbb"], "all"]
    finally:
        await listener.stop()
        await other.stop()


async def test_an_announced_change_closes_a_gateway_that_was_still_open(
    service: AuthService, database: Database, clock: Any
) -> None:
    """An instance that never saw a key accepts any (the embedded default); hearing of one,
    even a revoked one whose creation it missed, must make keys required there."""
    from tests.plugins.auth.helpers import member

    elsewhere = KeyCache(database, clock=clock)
    await elsewhere.refresh()
    assert elsewhere.required is False
    await member(service)
    secret, key = await service.create_key("alice@example.com", "team-a")
    await service.revoke_key(key.prefix)
    assert await elsewhere.reload([key.prefix]) == 0
    assert elsewhere.required is True and elsewhere.verify(secret) is None
    assert await elsewhere.reload(["sy_unknown0"]) == 0  # unknown prefixes change nothing
