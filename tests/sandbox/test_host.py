"""The host with real modules built from source: cache, pools, limits, capabilities, metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest
import wasmtime
from prometheus_client import CollectorRegistry, generate_latest

from sandbox.capabilities import MemoryKv
from sandbox.faults import PluginFault
from sandbox.host import SandboxHost, SandboxSettings
from sandbox.manifest import Limits, load_manifest
from tests.sandbox.wasm_build import build_source, example, manifest

PII = {"request": {"token_estimate": 9, "body": {"model": "m", "system": "ops: ops@example.com", "messages": [
    {"role": "user", "content": [{"type": "text", "text": "card 5555 5555 5555 4444 please"}]},
    {"role": "user", "content": "mail a.b@example.co.uk, phone 020 7946 0958 12, version 1.2.3"}]}}}

COUNTER = r"""
#include "switchyard_plugin.h"
#include <stdlib.h>
/* on_request: counts requests in kv; the third and later are rejected. */
SY_HOOK(on_request) {
    sy_str seen;
    int64_t n = 0;
    if (sy_kv_get("count", &seen) >= 0) { n = sy_json_int(seen, 0); free((void *)seen.p); }
    n++;
    sy_out_int(n);
    sy_kv_set("count", sy_out_view());
    sy_log(SY_INFO, "counted");
    if (n < 3) return sy_none();
    sy_out_reset();
    sy_out_cstr("{\"reject\":{\"message\":\"quota used up\",\"status\":429}}");
    return sy_done();
}
"""


@pytest.fixture
async def host(tmp_path: Path) -> Any:
    host = SandboxHost(SandboxSettings(), home=tmp_path / "home", kv=MemoryKv())
    await host.start()
    yield host
    await host.close()


async def test_the_redactor_masks_every_message_field_and_only_those(host: SandboxHost) -> None:
    host.load(manifest=example("pii-redactor")[0], wasm=example("pii-redactor")[1])
    body = (await host.call("pii-redactor", "on_request", PII))["body"]
    assert body["system"] == "ops: [EMAIL]"
    assert body["messages"][0]["content"][0] == {"type": "text", "text": "card [CARD] please"}
    assert body["messages"][1]["content"] == "mail [EMAIL], phone [PHONE], version 1.2.3"
    clean = {"request": {"body": {"model": "a@b.example.com", "messages": [{"role": "user", "content": "hi"}]}}}
    assert await host.call("pii-redactor", "on_request", clean) == {}


async def test_settings_reach_the_plugin_through_config(host: SandboxHost) -> None:
    manifest_path, wasm = example("pii-redactor")
    host.load(manifest=manifest_path, wasm=wasm, settings={"email": "<hidden address>"})
    body = (await host.call("pii-redactor", "on_request", PII))["body"]
    assert body["system"] == "ops: <hidden address>"


async def test_modules_are_compiled_once_and_cached_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest_path, wasm = example("custom-router")
    SandboxHost(SandboxSettings(), home=tmp_path / "h").load(manifest=manifest_path, wasm=wasm)
    (cached,) = (tmp_path / "h" / "cache" / "wasm").glob("*.cwasm")
    assert cached.name.startswith(__import__("hashlib").sha256(wasm.read_bytes()).hexdigest())

    def no_compiling(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("compiled again instead of using the cache")

    monkeypatch.setattr(wasmtime.Module, "__init__", no_compiling)
    second = SandboxHost(SandboxSettings(), home=tmp_path / "h")
    await second.start()
    second.load(manifest=manifest_path, wasm=wasm)
    answer = await second.call("custom-router", "route", {"request": {"token_estimate": 99_999}})
    assert answer == {"route": "mock,mock-long", "reason": "long"}
    await second.close()


async def test_calls_reuse_pooled_instances(host: SandboxHost) -> None:
    loaded = host.load(manifest=example("custom-router")[0], wasm=example("custom-router")[1])
    assert loaded.pool.created == host.settings.pool_size  # ready before the first call
    for n in range(50):
        await host.call("custom-router", "route", {"request": {"token_estimate": n, "body": {"messages": []}}})
    assert loaded.pool.created == host.settings.pool_size


async def test_a_faulted_instance_is_replaced_off_the_call_path(host: SandboxHost) -> None:
    loaded = host.load(manifest=example("hostile/trap")[0], wasm=example("hostile/trap")[1])
    with pytest.raises(PluginFault):
        await host.call("trap", "on_request", {})
    for _ in range(100):
        if loaded.pool.created == host.settings.pool_size + 1:
            break
        await asyncio.sleep(0.01)
    assert loaded.pool.created == host.settings.pool_size + 1
    assert loaded.pool.idle == host.settings.pool_size


def test_the_admins_caps_bound_what_a_manifest_asks_for(tmp_path: Path) -> None:
    host = SandboxHost(SandboxSettings(max_fuel=1_000_000, max_memory_mb=8, max_timeout_ms=20))
    manifest_path, wasm = example("hostile/infinite-loop")
    greedy = msgspec.structs.replace(load_manifest(manifest_path),
                                     limits=Limits(fuel=10**12, memory_mb=4096, timeout_ms=600_000))
    limits = host.load(manifest=greedy, wasm=wasm).limits
    assert (limits.fuel, limits.memory_bytes, limits.timeout_ms) == (1_000_000, 8 << 20, 20)
    modest = msgspec.structs.replace(greedy, limits=Limits())
    assert host.limits_for(modest).fuel == 1_000_000  # the default, capped too


async def test_kv_keeps_plugin_scoped_data_across_calls(host: SandboxHost, tmp_path: Path) -> None:
    manifest_path, wasm = build_source("kv-counter", COUNTER, manifest("kv-counter", capabilities='["kv", "log"]'))
    loaded = host.load(manifest=manifest_path, wasm=wasm)
    assert loaded.threaded  # kv blocks on the event loop, so its calls run in a worker
    assert await host.call("kv-counter", "on_request", {}) == {}
    assert await host.call("kv-counter", "on_request", {}) == {}
    answer = await host.call("kv-counter", "on_request", {})
    assert answer == {"reject": {"message": "quota used up", "status": 429}}
    assert host.services.kv.data == {("kv-counter", "count"): b"3"}  # type: ignore[union-attr]


async def test_metrics_report_calls_quantiles_fuel_and_faults(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    host = SandboxHost(SandboxSettings(), metrics=registry)
    await host.start()
    host.load(manifest=example("pii-redactor")[0], wasm=example("pii-redactor")[1])
    for _ in range(5):
        await host.call("pii-redactor", "on_request", PII)
    text = generate_latest(registry).decode()
    await host.close()
    assert 'switchyard_sandbox_calls_total{hook="on_request",plugin="pii-redactor"} 5.0' in text
    assert 'switchyard_sandbox_call_quantile_seconds{plugin="pii-redactor",quantile="0.5"}' in text
    assert 'switchyard_sandbox_call_quantile_seconds{plugin="pii-redactor",quantile="0.99"}' in text
    assert 'switchyard_sandbox_call_seconds_count{plugin="pii-redactor"} 5.0' in text
    fuel = [line for line in text.splitlines() if line.startswith("switchyard_sandbox_fuel_used_total")]
    assert fuel and float(fuel[0].split()[-1]) > 0
