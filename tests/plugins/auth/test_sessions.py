"""Server-side sessions: the cookie holds only a token, revocation works at once, sessions
expire when idle and at their absolute limit, and the ``identify`` hook answers for sessions
and API keys."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig
from sqlalchemy import func, select

from core.home import derive_secret, secret_key
from plugins.auth.models import sessions
from tests.plugins.auth import signin_support
from tests.plugins.auth.signin_support import (
    accounts_of,
    add_user,
    enable_totp,
    on_app_loop,
    post_form,
    service_of,
    sign_in,
    signed_in,
)

NO_CACHE = "[auth]\nsession_cache_seconds = 0\n"
both_databases = signin_support.both_databases  # the fixture: SQLite, then PostgreSQL


def _rows(client: Any) -> list[Any]:
    async def read() -> list[Any]:
        async with service_of(client).db.engine.connect() as conn:
            return list(
                (await conn.execute(select(sessions).order_by(sessions.c.created_at))).all()
            )

    return on_app_loop(client, read)


def _cookie_session(client: Any) -> dict[str, Any]:
    """Decrypt the session cookie with the instance key, as the server does."""
    home = client.app.state.registry.settings.home
    backend = ClientSideSessionBackend(
        CookieBackendConfig(secret=derive_secret(secret_key(home), "session"), key="sy_session")
    )
    return backend.load_data([client.cookies["sy_session"].encode()])


def test_the_cookie_holds_only_a_token_whose_hash_is_the_row(both_databases: Any) -> None:
    client = both_databases()
    user_id = add_user(client)
    sign_in(client, headers={"user-agent": "TestBrowser/1.0"})
    data = _cookie_session(client)
    assert set(data) == {"sid"}
    [row] = _rows(client)
    assert row.id == hashlib.sha256(data["sid"].encode()).hexdigest() != data["sid"]
    assert (row.user_id, row.mfa_passed, row.revoked_at) == (user_id, True, None)
    assert row.user_agent == "TestBrowser/1.0"
    assert row.ip == "testclient"
    assert row.expires_at - row.created_at == timedelta(hours=168)


def test_sign_out_revokes_the_session_even_if_the_cookie_is_replayed(both_databases: Any) -> None:
    client = both_databases()
    add_user(client)
    sign_in(client)
    stolen = client.cookies["sy_session"]
    asked = client.get("/ui/sign-out")
    assert asked.status_code == 200 and 'action="/ui/sign-out"' in asked.text
    done = post_form(client, "/ui/sign-out", {})
    assert done.status_code == 303 and done.headers["location"] == "/ui/sign-in"
    assert not signed_in(client)
    client.cookies.set("sy_session", stolen)
    assert not signed_in(client), "a signed-out session came back with its old cookie"
    assert _rows(client)[0].revoked_at is not None


def test_sign_out_everywhere_ends_other_browsers_at_once_despite_the_cache(
    both_databases: Any,
) -> None:
    client = both_databases("[auth]\nsession_cache_seconds = 300\n")
    add_user(client)
    sign_in(client)
    laptop = client.cookies["sy_session"]
    assert signed_in(client)  # now in this instance's cache
    client.cookies.clear()
    sign_in(client)
    page = client.get("/ui/me/security")
    assert page.text.count("<tr>") == 3  # header + two sessions
    done = post_form(client, "/ui/me/security/sign-out-everywhere", {})
    assert done.status_code == 303 and done.headers["location"] == "/ui/sign-in"
    assert not signed_in(client)
    client.cookies.set("sy_session", laptop)
    assert not signed_in(client)
    assert all(row.revoked_at is not None for row in _rows(client))


def test_another_instance_sees_a_revocation_when_its_cache_entry_ages_out(
    both_databases: Any,
) -> None:
    toml = "[auth]\nsession_cache_seconds = 30\n"
    first = both_databases(toml)
    user_id = add_user(first)
    sign_in(first)
    cookie = first.cookies["sy_session"]
    store = accounts_of(first).sessions
    ticks = [1000.0]
    store.monotonic = lambda: ticks[0]
    assert signed_in(first)  # looked up and cached at tick 1000

    second = both_databases(toml)
    on_app_loop(second, lambda: accounts_of(second).sessions.revoke_user(user_id))
    first.cookies.set("sy_session", cookie)
    assert signed_in(first), "expected the 30 s cache to answer until it ages out"
    ticks[0] += 31
    assert not signed_in(first)


def test_idle_sessions_end(both_databases: Any) -> None:
    client = both_databases(NO_CACHE + "session_idle_minutes = 30\n")
    add_user(client)
    store = accounts_of(client).sessions
    sign_in(client)
    start = datetime.now(store.clock().tzinfo)
    store.clock = lambda: start + timedelta(minutes=29)
    assert signed_in(client)  # a request: last seen moves on
    store.clock = lambda: start + timedelta(minutes=58)
    assert signed_in(client)
    store.clock = lambda: start + timedelta(minutes=89)
    assert not signed_in(client)


def test_sessions_end_at_their_absolute_limit_however_busy(both_databases: Any) -> None:
    client = both_databases(NO_CACHE + "session_idle_minutes = 60\nsession_max_hours = 2\n")
    add_user(client)
    store = accounts_of(client).sessions
    sign_in(client)
    start = datetime.now(store.clock().tzinfo)
    for minutes in (40, 80, 119):
        store.clock = lambda m=minutes: start + timedelta(minutes=m)
        assert signed_in(client)
    store.clock = lambda: start + timedelta(minutes=121)
    assert not signed_in(client)


def test_last_seen_is_written_at_most_once_a_minute(both_databases: Any) -> None:
    client = both_databases(NO_CACHE)
    add_user(client)
    sign_in(client)
    first_seen = _rows(client)[0].last_seen_at
    signed_in(client)
    assert _rows(client)[0].last_seen_at == first_seen
    store = accounts_of(client).sessions
    store.clock = lambda: first_seen + timedelta(minutes=2)
    signed_in(client)
    assert _rows(client)[0].last_seen_at == first_seen + timedelta(minutes=2)


def test_ended_sessions_are_purged_later(both_databases: Any) -> None:
    client = both_databases()
    add_user(client)
    sign_in(client)
    post_form(client, "/ui/sign-out", {})
    sign_in(client)
    store = accounts_of(client).sessions
    assert on_app_loop(client, store.purge) == 0  # just ended: kept a while for the record
    later = datetime.now(store.clock().tzinfo) + timedelta(minutes=1)
    store.clock = lambda: later
    assert on_app_loop(client, lambda: store.purge(older_than=timedelta(0))) == 1

    async def count() -> int:
        async with service_of(client).db.engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(sessions))).scalar_one()

    assert on_app_loop(client, count) == 1  # the live one stays


# -- identify: the session first, then API keys ------------------------------------------


def test_identify_answers_for_a_session(both_databases: Any) -> None:
    client = both_databases()
    add_user(client, workspace="team-a")
    assert client.get("/api/v1/me").status_code == 401
    sign_in(client)
    me = client.get("/api/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "alice@example.com"
    assert me.json()["kind"] == "session"


def test_identify_answers_for_api_keys_in_either_header(both_databases: Any) -> None:
    client = both_databases()
    add_user(client, workspace="team-a")

    async def make_key() -> tuple[str, str]:
        plaintext, key = await service_of(client).create_key("alice@example.com", "team-a", "cli")
        return plaintext, key.prefix

    plaintext, prefix = on_app_loop(client, make_key)
    for headers in ({"x-api-key": plaintext}, {"authorization": f"Bearer {plaintext}"}):
        me = client.get("/api/v1/me", headers=headers)
        assert me.status_code == 200, me.text
        body = me.json()
        assert (body["email"], body["kind"], body["key_id"]) == (
            "alice@example.com", "api_key", prefix,
        )  # fmt: skip
    assert client.get("/api/v1/me", headers={"x-api-key": plaintext + "x"}).status_code == 401
    on_app_loop(client, lambda: service_of(client).revoke_key(prefix))
    assert client.get("/api/v1/me", headers={"x-api-key": plaintext}).status_code == 401


def test_a_session_waiting_for_its_second_step_is_nobody(both_databases: Any) -> None:
    client = both_databases()
    add_user(client, workspace="team-a")
    sign_in(client)
    enable_totp(client)
    post_form(client, "/ui/sign-out", {})
    step = sign_in(client)
    assert step.headers["location"] == "/ui/sign-in/mfa"
    assert client.get("/api/v1/me").status_code == 401
    assert not signed_in(client)
