"""The request pipeline inside one app: hooks, client auth, usage events, key health."""

from __future__ import annotations

import time
from typing import Any

import pytest

from core.configurator import Configurator
from plugins.routing.config import ProviderConfig
from plugins.routing.model import GatewayRequest, Principal, Reject, UsageEvent
from plugins.routing.upstream import Provider, _retry_after

ROUTING = ("routing", "plugins.routing:includeme")


def ask(client: Any, text: str, **extra: Any) -> Any:
    headers = extra.pop("headers", {})
    return client.post("/v1/messages", headers=headers, json={
        "model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": text}], **extra})


def test_on_request_hook_changes_the_request(client_for: Any) -> None:
    def redactor(config: Configurator) -> None:
        def redact(request: GatewayRequest) -> None:
            message = request.body["messages"][-1]
            message["content"] = message["content"].replace("hunter2", "[REDACTED]")

        config.add_hook("on_request", redact)

    reply = ask(client_for([ROUTING, ("redactor", redactor)]), "my password is hunter2")
    assert reply.json()["content"][0]["text"].endswith("my password is [REDACTED]")


def test_on_request_hook_can_reject_in_the_clients_shape(client_for: Any) -> None:
    def guard(config: Configurator) -> None:
        def refuse(request: GatewayRequest) -> None:
            raise Reject("prompt blocked by policy")

        config.add_hook("on_request", refuse)

    client = client_for([ROUTING, ("guard", guard)])
    reply = ask(client, "anything")
    assert reply.status_code == 403
    assert reply.json() == {"type": "error", "error": {"type": "permission_error", "message": "prompt blocked by policy"}}
    openai_reply = client.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert openai_reply.status_code == 403 and openai_reply.json()["error"]["message"] == "prompt blocked by policy"


def test_route_hook_chooses_the_target(client_for: Any) -> None:
    def router(config: Configurator) -> None:
        config.add_hook("route", lambda request: "mock,mock-haiku" if "cheap" in str(request.body) else None)

    client = client_for([ROUTING, ("router", router)])
    assert ask(client, "cheap please").headers["x-switchyard-route"] == "scenario=plugin; provider=mock; model=mock-haiku"
    assert ask(client, "normal").headers["x-switchyard-route"] == "scenario=default; provider=mock; model=mock-1"


def test_usage_events_reach_on_usage_hooks(client_for: Any) -> None:
    seen: list[UsageEvent] = []

    def meter(config: Configurator) -> None:
        config.add_hook("on_usage", lambda event: seen.append(event))

    client = client_for([ROUTING, ("meter", meter)])
    ask(client, "count me")
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen, "no usage event arrived"
    event = seen[0]
    assert (event.provider, event.model, event.status, event.client_api) == ("mock", "mock-1", 200, "anthropic")
    assert event.input_tokens > 0 and event.output_tokens > 0 and event.latency_ms > 0


def test_keys_from_the_auth_interface(client_for: Any) -> None:
    class Keys:
        def verify(self, key: str) -> Principal | None:
            return Principal(key_id="k1", user="alice", workspace="team-a") if key == "sy-alice" else None

    def auth(config: Configurator) -> None:
        config.provide("auth.api_keys", Keys())

    client = client_for([ROUTING, ("auth", auth)])
    # A known key whose user holds no role in its workspace: the policy says no.
    refused = ask(client, "x", headers={"authorization": "Bearer sy-alice"})
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    assert "alice may not use /v1/messages in workspace 'team-a'" in refused.json()["error"]["message"]
    permissions = client.app.state.registry.permissions

    async def make_alice_a_user() -> None:
        await permissions.set_roles("alice", "team-a", ["user"], actor="test")

    client.blocking_portal.call(make_alice_a_user)
    assert ask(client, "x", headers={"authorization": "Bearer sy-alice"}).status_code == 200
    denied = ask(client, "x", headers={"x-api-key": "sy-mallory"})
    assert denied.status_code == 401 and denied.json()["error"]["type"] == "authentication_error"
    assert ask(client, "x").status_code == 401


def test_without_any_key_configured_the_gateway_is_open(client_for: Any) -> None:
    assert ask(client_for([ROUTING]), "x").status_code == 200


def test_wrong_method_is_405(client_for: Any) -> None:
    reply = client_for([ROUTING]).get("/v1/messages")
    assert reply.status_code == 405 and reply.headers["allow"] == "POST"


def test_ccr_config_json_drives_the_routing_plugin(make_app: Any, tmp_path: Any) -> None:
    from litestar.testing import TestClient

    from core.settings import load_settings

    path = tmp_path / "config.json"
    path.write_text("""{
      // claude-code-router config, JSON5
      "APIKEY": "ccr-key",
      "Providers": [],
      "Router": {"default": "mock,mock-haiku",},
    }""")
    settings = load_settings(path, env={}, home=str(tmp_path / "home"))
    with TestClient(make_app([ROUTING], settings=settings)) as client:
        assert ask(client, "x").status_code == 401
        ok = ask(client, "x", headers={"x-api-key": "ccr-key"})
        assert ok.headers["x-switchyard-route"].endswith("provider=mock; model=mock-haiku")


# -- key health -----------------------------------------------------------------------------


def provider(**extra: Any) -> Provider:
    return Provider(ProviderConfig(name="p", api_keys=["a", "b", "c"], **extra), failure_threshold=2, open_seconds=10)


def test_keys_rotate_round_robin() -> None:
    p = provider()
    assert [p.key_order(now=0)[0] for _ in range(4)] == [0, 1, 2, 0]


def test_circuit_opens_after_repeated_failures_then_half_opens() -> None:
    p = provider()
    p.failed(1, now=100)
    assert p.circuit(1, now=100) == "closed"
    p.failed(1, now=100)
    assert p.circuit(1, now=101) == "open"
    assert 1 not in p.key_order(now=101)
    assert p.circuit(1, now=111) == "half-open" and 1 in p.key_order(now=111)
    p.failed(1, now=111)  # the trial failed: open again
    assert p.circuit(1, now=112) == "open"
    p.succeeded(1, latency_ms=5)
    assert p.circuit(1, now=112) == "closed"


def test_every_key_open_leaves_nothing_to_try() -> None:
    p = provider()
    for index in range(3):
        p.failed(index, now=0)
        p.failed(index, now=0)
    assert p.key_order(now=1) == []


def test_least_latency_prefers_the_fastest_key() -> None:
    p = provider(key_strategy="least_latency")
    p.succeeded(0, 50)
    p.succeeded(1, 5)
    p.succeeded(2, 20)
    assert p.key_order(now=0) == [1, 2, 0]


@pytest.mark.parametrize("value,expected", [("2", 2.0), ("0", 0.0), ("soon", None), (None, None)])
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    assert _retry_after({"retry-after": value} if value is not None else {}) == expected


def test_a_broken_key_plugin_closes_the_gateway_instead_of_opening_it(client_for: Any) -> None:
    """A typo in the auth plugin's settings makes it fail to load; with no key verifier the
    gateway would otherwise be the open, keyless default. It refuses instead, and says why."""

    def auth(config: Configurator) -> None:
        raise ValueError("auth.trusted_proxies[0]: 'nonsense' is not an IP address")

    client = client_for([ROUTING, ("auth", auth)])
    assert client.app.state.registry.plugins["auth"].status == "failed"
    reply = ask(client, "x", headers={"x-api-key": "anything"})
    assert reply.status_code == 503
    assert "API keys cannot be checked" in reply.json()["error"]["message"]
