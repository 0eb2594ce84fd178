"""Hostile plugins, built from examples/hostile: each is stopped by the right limit, faults are
counted, repeated faults disable the plugin, and requests through the gateway carry on."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest

from core.configurator import Configurator
from sandbox.faults import PluginDisabled, PluginFault
from sandbox.host import SandboxHost, SandboxSettings
from sandbox.manifest import Limits, load_manifest
from tests.sandbox.wasm_build import example

ROUTING = ("routing", "plugins.routing:includeme")
SANDBOX = ("sandbox", "sandbox:includeme")
REQUEST = {
    "request": {
        "model": "m",
        "token_estimate": 5,
        "body": {"model": "m", "messages": [{"role": "user", "content": "hello"}]},
    }
}


@pytest.fixture
async def host() -> Any:
    host = SandboxHost(SandboxSettings(fault_threshold=100, max_fuel=10**12, max_timeout_ms=5000))
    await host.start()
    yield host
    await host.close()


def load(host: SandboxHost, name: str, **limits: int) -> None:
    manifest_path, wasm = example(f"hostile/{name}")
    manifest = load_manifest(manifest_path)
    if limits:
        manifest = msgspec.structs.replace(manifest, limits=Limits(**limits))
    host.load(manifest=manifest, wasm=wasm)


async def fault_of(host: SandboxHost, name: str, hook: str = "on_request") -> PluginFault:
    with pytest.raises(PluginFault) as caught:
        await host.call(name, hook, REQUEST)
    return caught.value


async def test_an_infinite_loop_runs_out_of_fuel(host: SandboxHost) -> None:
    load(host, "infinite-loop")
    fault = await fault_of(host, "infinite-loop")
    assert fault.kind == "fuel" and "5,000,000" in fault.message


async def test_an_infinite_loop_with_fuel_to_spare_hits_the_clock(host: SandboxHost) -> None:
    load(host, "infinite-loop", fuel=10**12, timeout_ms=30)
    fault = await fault_of(host, "infinite-loop")
    assert fault.kind == "timeout" and "30 ms" in fault.message


async def test_a_memory_bomb_hits_the_memory_limit(host: SandboxHost) -> None:
    load(host, "memory-bomb")
    fault = await fault_of(host, "memory-bomb")
    assert fault.kind == "memory"
    memory = host.plugins["memory-bomb"].pool.acquire().memory
    assert memory is not None  # a fresh instance replaces the one that blew up


async def test_a_trap_is_a_trap(host: SandboxHost) -> None:
    load(host, "trap")
    fault = await fault_of(host, "trap")
    assert fault.kind == "trap" and "divide by zero" in fault.message


@pytest.mark.parametrize(("hook", "capability"), [("on_request", "http"), ("route", "kv")])
async def test_a_host_function_not_granted_is_refused(
    host: SandboxHost, hook: str, capability: str
) -> None:
    load(host, "ungranted")
    fault = await fault_of(host, "ungranted", hook)
    assert fault.kind == "capability"
    assert f"capability {capability!r} not granted to plugin 'ungranted'" in fault.message


async def test_asking_for_a_capability_is_not_being_granted_it(host: SandboxHost) -> None:
    manifest_path, wasm = example("hostile/ungranted")
    manifest = msgspec.structs.replace(load_manifest(manifest_path), capabilities=("log", "http"))
    host.load(manifest=manifest, wasm=wasm, granted=["log"])
    assert (await fault_of(host, "ungranted")).kind == "capability"


@pytest.mark.parametrize(
    ("hook", "words"),
    [("on_request", "not a valid on_request decision"), ("route", "outside memory")],
)
async def test_garbage_output_is_refused(host: SandboxHost, hook: str, words: str) -> None:
    load(host, "garbage")
    fault = await fault_of(host, "garbage", hook)
    assert fault.kind == "output" and words in fault.message


async def test_faults_are_counted_per_plugin_and_kind(host: SandboxHost) -> None:
    load(host, "trap")
    load(host, "garbage")
    for _ in range(3):
        await fault_of(host, "trap")
    await fault_of(host, "garbage")
    faults = host.metrics.faults
    assert faults.labels("trap", "trap")._value.get() == 3
    assert faults.labels("garbage", "output")._value.get() == 1
    assert host.metrics.calls.labels("trap", "on_request")._value.get() == 3


async def test_repeated_faults_disable_the_plugin_and_tell_admins() -> None:
    class Store:
        def __init__(self) -> None:
            self.calls: list[tuple[str, bool, str | None]] = []

        async def set_enabled(self, name: str, enabled: bool, reason: str | None = None) -> None:
            self.calls.append((name, enabled, reason))

    class Events:
        def __init__(self) -> None:
            self.seen: list[Any] = []

        def publish_nowait(self, event: Any) -> None:
            self.seen.append(event)

    store, events = Store(), Events()
    host = SandboxHost(
        SandboxSettings(fault_threshold=3, fault_window_s=60),
        events=events,  # type: ignore[arg-type]
        store=store,
    )
    await host.start()
    try:
        manifest_path, wasm = example("hostile/trap")
        host.load(manifest=manifest_path, wasm=wasm, origin="store")
        for _ in range(3):
            await fault_of(host, "trap")
        assert "trap" not in host.plugins
        fault = await fault_of(host, "trap")
        assert fault.kind == "unavailable" and "disabled after 3 faults in 60 s" in fault.message
        (event,) = events.seen
        assert isinstance(event, PluginDisabled) and event.plugin == "trap" and event.faults == 3
        assert "divide by zero" in event.last_fault
        await asyncio.sleep(0)
        assert store.calls == [("trap", False, event.reason)]
        assert host.metrics.loaded.labels("trap")._value.get() == 0
    finally:
        await host.close()


# -- through the gateway ----------------------------------------------------------------------


def sandbox_toml(*plugins: str, threshold: int = 100, required: bool = False,
                 extra: str = "") -> str:
    text = f"[sandbox]\nfault_threshold = {threshold}\n{extra}"
    for name in plugins:
        manifest_path, wasm = example(name)
        text += (
            f'[[sandbox.plugins]]\nwasm = "{wasm}"\nmanifest = "{manifest_path}"\n'
            f"required = {'true' if required else 'false'}\n"
        )
    return text


def ask(client: Any, text: str, path: str = "/v1/messages") -> Any:
    if path == "/v1/messages":
        return client.post(
            path,
            json={
                "model": "claude-sonnet-4-5",
                "max_tokens": 50,
                "messages": [{"role": "user", "content": text}],
            },
        )
    return client.post(
        path, json={"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
    )


@pytest.mark.parametrize(
    "hostile", ["infinite-loop", "memory-bomb", "trap", "ungranted", "garbage"]
)
def test_requests_go_on_when_a_plugin_faults(client_for: Any, hostile: str) -> None:
    client = client_for([ROUTING, SANDBOX], toml=sandbox_toml(f"hostile/{hostile}"))
    reply = ask(client, "still here?")
    assert reply.status_code == 200, reply.text
    assert reply.json()["content"][0]["text"].endswith("still here?")
    host = client.app.state.registry.get_interface("sandbox.host")
    assert host.tracker.totals[hostile] >= 1


def test_a_required_plugin_that_faults_fails_the_request_in_the_clients_shape(
    client_for: Any,
) -> None:
    client = client_for(
        [ROUTING, SANDBOX], toml=sandbox_toml("hostile/trap", threshold=2, required=True)
    )
    reply = ask(client, "hi")
    assert reply.status_code == 502
    assert reply.json()["type"] == "error"
    assert "required plugin 'trap' failed (trap)" in reply.json()["error"]["message"]
    reply = ask(client, "hi", "/v1/chat/completions")
    assert reply.status_code == 502 and "required plugin 'trap'" in reply.json()["error"]["message"]
    reply = ask(client, "hi")  # the second fault disabled it: now it is unavailable
    assert reply.status_code == 503
    assert (
        "required plugin 'trap' is unavailable: disabled after 2 faults"
        in reply.json()["error"]["message"]
    )


def test_traffic_keeps_flowing_while_a_hostile_plugin_spins(client_for: Any) -> None:
    """Concurrent clients through a spinning plugin all get their answers; a quiet plugin's
    neighbour (an in-process hook) still runs for each of them."""
    seen: list[str] = []

    def witness(config: Configurator) -> None:
        config.add_hook("on_request", lambda request: seen.append(request.request_id))

    toml = sandbox_toml("hostile/infinite-loop", extra="inline = false\n")
    client = client_for([ROUTING, SANDBOX, ("witness", witness)], toml=toml)

    async def burst() -> list[int]:
        import httpx

        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            replies = await asyncio.gather(
                *(
                    http.post(
                        "/v1/messages",
                        json={
                            "model": "m",
                            "max_tokens": 5,
                            "messages": [{"role": "user", "content": f"n{i}"}],
                        },
                    )
                    for i in range(20)
                )
            )
        return [r.status_code for r in replies]

    started = time.monotonic()
    statuses = asyncio.run(burst())
    assert statuses == [200] * 20
    assert len(seen) == 20
    host = client.app.state.registry.get_interface("sandbox.host")
    assert host.metrics.faults.labels("infinite-loop", "fuel")._value.get() == 20
    assert time.monotonic() - started < 60  # sanity bound only, not a timing assertion
