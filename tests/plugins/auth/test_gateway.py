"""The integration that matters: a running app with routing + auth, where keys created with
the service authenticate on the AI endpoints and usage is attributed to their owner."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from litestar.testing import TestClient

from core.app import app_from_registry, build_registry
from core.configurator import Configurator
from core.db import Database
from core.permissions import Permissions
from plugins.auth.keys import KeyCache
from plugins.auth.service import AuthService
from plugins.routing.model import UsageEvent
from tests.plugins.auth.helpers import AUTH, ROUTING, member

T = TypeVar("T")


def on_app_loop(client: TestClient[Any], work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work()`` on the app's own event loop, where its database engine lives."""
    return client.blocking_portal.call(work)


def ask(client: TestClient[Any], headers: dict[str, str] | None = None) -> Any:
    return client.post(
        "/v1/messages",
        headers=headers or {},
        json={
            "model": "claude-sonnet-4-5",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "hello"}],
        },
    )


def metered(seen: list[UsageEvent]) -> tuple[str, Callable[[Configurator], None]]:
    def meter(config: Configurator) -> None:
        config.add_hook("on_usage", lambda event: seen.append(event))

    return ("meter", meter)


def wait_for(seen: list[Any], count: int) -> None:
    deadline = time.monotonic() + 5
    while len(seen) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(seen) >= count, f"expected {count} usage events, got {len(seen)}"


def test_service_keys_authenticate_on_the_anthropic_endpoint(client_for: Any) -> None:
    seen: list[UsageEvent] = []
    client = client_for([ROUTING, AUTH, metered(seen)])
    service: AuthService = client.app.state.registry.state["auth.service"]

    async def setup() -> tuple[str, str]:
        await member(service, "alice@example.com", "team-a", "user")
        plaintext, key = await service.create_key("alice@example.com", "team-a", "laptop")
        return plaintext, key.prefix

    plaintext, prefix = on_app_loop(client, setup)

    by_header = ask(client, {"x-api-key": plaintext})
    assert by_header.status_code == 200, by_header.text
    by_bearer = ask(client, {"authorization": f"Bearer {plaintext}"})
    assert by_bearer.status_code == 200, by_bearer.text
    wait_for(seen, 2)
    assert {(e.workspace, e.user, e.key_id, e.status) for e in seen} == {
        ("team-a", "alice@example.com", prefix, 200)
    }

    wrong = ask(client, {"x-api-key": plaintext[:-2] + "zz"})
    assert wrong.status_code == 401
    assert wrong.json()["type"] == "error"
    assert wrong.json()["error"]["type"] == "authentication_error"

    on_app_loop(client, lambda: service.revoke_key(prefix))
    revoked = ask(client, {"authorization": f"Bearer {plaintext}"})
    assert revoked.status_code == 401, "a revoked key must be refused at once"
    assert revoked.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    openai = client.post(
        "/v1/chat/completions",
        headers={"authorization": f"Bearer {plaintext}"},
        json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
    )
    assert openai.status_code == 401 and "message" in openai.json()["error"]


def test_keys_written_elsewhere_arrive_with_the_refresh_job(client_for: Any) -> None:
    """The CLI or another instance writes to the database; the scheduled refresh picks it up."""
    # Keys required from the start: no key exists in this instance when the request is made.
    client = client_for([ROUTING, AUTH], toml="[auth]\nrequire_keys = true\n")
    registry = client.app.state.registry
    [job] = [j for j in registry.jobs if j.id == "auth.refresh_keys"]
    assert (job.trigger, job.trigger_args) == ("interval", {"seconds": 5.0})
    cache: KeyCache = registry.get_interface("auth.api_keys")

    async def create_elsewhere() -> str:
        other = Database(registry.settings.database_url)
        try:
            # no cache: like the CLI in another process
            service = AuthService(other, permissions=await Permissions.open(other))
            await member(service, "bob@example.com", "team-b", "user")  # may use the router
            plaintext, _ = await service.create_key("bob@example.com", "team-b")
            return plaintext
        finally:
            await other.dispose()

    plaintext = on_app_loop(client, create_elsewhere)
    assert ask(client, {"x-api-key": plaintext}).status_code == 401
    on_app_loop(client, cache.refresh_quietly)  # what the job runs
    on_app_loop(client, registry.permissions.reload)  # and the policy poll (bob's role)
    assert ask(client, {"x-api-key": plaintext}).status_code == 200


def test_ready_once_keys_are_loaded(client_for: Any) -> None:
    client = client_for([ROUTING, AUTH])
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    cache = client.app.state.registry.get_interface("auth.api_keys")
    assert cache.loaded_at is not None
    assert cache.required is False  # no key exists yet: the embedded default needs none


def test_an_unmigrated_database_keeps_the_app_up_but_not_ready(settings_for: Any) -> None:
    registry = build_registry(settings_for(), plugins=[ROUTING, AUTH])  # no migration run
    with TestClient(app_from_registry(registry)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "auth: API keys are not loaded" in json.dumps(ready.json())
        assert ask(client, {"x-api-key": "sy_abcdefgh_" + "x" * 43}).status_code == 401
