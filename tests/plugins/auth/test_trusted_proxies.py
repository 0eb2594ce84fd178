"""The client address behind trusted reverse proxies: the sign-in rate limit counts per
forwarded client behind a trusted proxy, sessions record that client, and a forwarded header
from anyone else changes nothing.

Litestar's test client always connects from ``testclient``; the ``peer`` fixture lets a
request say which TCP peer it comes from (``x-test-peer``), as a real socket would.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing.transport import TestClientTransport as _Transport
from sqlalchemy import select

from core.settings import SettingsError, validate_section
from plugins.auth import AuthSettings
from plugins.auth.models import sessions
from plugins.auth.proxies import parse_trusted_proxies
from tests.plugins.auth.signin_support import (
    AUTH,
    PASSWORD,
    WEB,
    add_user,
    alert_text,
    app,
    on_app_loop,
    service_of,
    sign_in,
)

PROXIED = '[auth]\nsignin_attempts_per_minute = 2\ntrusted_proxies = ["10.0.0.0/8", "127.0.0.1"]\n'
PROXY = "10.1.2.3"


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests carrying ``x-test-peer: ADDRESS`` come from that TCP peer."""
    original = _Transport.parse_request

    def parse_request(self: Any, request: Any) -> Any:
        scope = original(self, request)
        for name, value in scope["headers"]:
            if name == b"x-test-peer":
                scope["client"] = (value.decode(), 50000)
        return scope

    monkeypatch.setattr(_Transport, "parse_request", parse_request)


def _via(peer: str, forwarded: str | None = None) -> dict[str, str]:
    headers = {"x-test-peer": peer}
    if forwarded is not None:
        headers["x-forwarded-for"] = forwarded
    return headers


def _guess(client: Any, headers: dict[str, str], password: str = "guess guess") -> int:
    client.cookies.clear()
    return sign_in(client, password=password, headers=headers).status_code


def test_behind_a_trusted_proxy_the_limit_counts_per_forwarded_client(
    client_for: Any, peer: None
) -> None:
    client = app(client_for, toml=PROXIED)
    add_user(client)
    alice, bob = "198.51.100.7", "203.0.113.9"
    assert _guess(client, _via(PROXY, alice)) == 401
    assert _guess(client, _via(PROXY, f"{alice}, 10.9.9.9")) == 401  # through two proxies
    refused = sign_in(client, headers=_via(PROXY, alice))
    assert refused.status_code == 429, "the third attempt of the same client was not refused"
    assert alert_text(refused.text).startswith("Too many sign-in attempts")
    # another client behind the same proxy has its own count
    assert _guess(client, _via(PROXY, bob), password=PASSWORD) == 303
    # what the client itself wrote left of the proxies' entry does not make it someone new
    assert _guess(client, _via(PROXY, f"192.0.2.1, {alice}")) == 429


def test_a_forwarded_header_from_an_untrusted_peer_changes_nothing(
    client_for: Any, peer: None
) -> None:
    client = app(client_for, toml=PROXIED)
    add_user(client)
    attacker = "192.0.2.50"
    assert _guess(client, _via(attacker, "198.51.100.1")) == 401
    assert _guess(client, _via(attacker, "198.51.100.2")) == 401
    assert _guess(client, _via(attacker, "198.51.100.3"), password=PASSWORD) == 429
    assert _guess(client, _via(PROXY, "198.51.100.3"), password=PASSWORD) == 303


def test_sessions_record_the_forwarded_client(client_for: Any, peer: None) -> None:
    client = app(client_for, toml=PROXIED)
    add_user(client)
    assert _guess(client, _via(PROXY, "2001:db8::5, 127.0.0.1"), password=PASSWORD) == 303
    assert _guess(client, _via("192.0.2.50", "198.51.100.1"), password=PASSWORD) == 303

    async def recorded() -> list[str]:
        async with service_of(client).db.engine.connect() as conn:
            query = select(sessions.c.ip).order_by(sessions.c.created_at)
            return list((await conn.execute(query)).scalars())

    assert on_app_loop(client, recorded) == ["2001:db8::5", "192.0.2.50"]


def test_without_trusted_proxies_the_header_is_ignored(client_for: Any, peer: None) -> None:
    client = app(client_for, toml="[auth]\nsignin_attempts_per_minute = 1\n")
    add_user(client)
    assert _guess(client, _via(PROXY, "198.51.100.1")) == 401
    assert _guess(client, _via(PROXY, "198.51.100.2"), password=PASSWORD) == 429


@pytest.mark.parametrize(
    ("entry", "index"),
    [("10.0.0.0/33", 1), ("proxy.internal", 1), ("10.0.0.1/8", 1), ("", 1)],
    ids=["bad-prefix", "hostname", "host-bits-set", "empty"],
)
def test_a_bad_entry_is_a_settings_error_naming_it(
    settings_for: Any, entry: str, index: int
) -> None:
    """What the plugin raises while it is included (the kernel then reports it as failed)."""
    settings = settings_for(f'[auth]\ntrusted_proxies = ["127.0.0.1", "{entry}"]\n')
    section = validate_section(settings, "auth", AuthSettings)
    with pytest.raises(SettingsError) as refused:
        parse_trusted_proxies(section.trusted_proxies, settings)
    message = str(refused.value)
    assert f"switchyard.toml:2: auth.trusted_proxies[{index}]: {entry!r} is not an IP " in (
        message
    ), message


def test_a_bad_entry_stops_the_auth_plugin_from_loading(make_app: Any) -> None:
    app_ = make_app([WEB, AUTH], toml='[auth]\ntrusted_proxies = ["nope"]\n', identity=None)
    report = app_.state.registry.report("auth")
    assert report.status == "failed"
    assert "auth.trusted_proxies[0]: 'nope' is not an IP address" in report.error
