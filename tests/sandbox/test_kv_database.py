"""The kv capability on the real database: a plugin keeps state across calls and across
hosts (instances) sharing the database, separately from every other plugin."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.db import Database
from sandbox.host import SandboxHost, SandboxSettings, SqlKv
from sandbox.package import open_package, pack
from sandbox.store import PluginStore
from tests.sandbox.wasm_build import build_source, manifest

COUNTER = r"""
#include "switchyard_plugin.h"

/* Counts the requests it has seen in kv under "count" and changes nothing. */
SY_HOOK(on_request) {
    sy_str old;
    int64_t count = 0;
    if (sy_kv_get("count", &old) >= 0) count = sy_json_int(old, 0);
    sy_out_reset();
    sy_out_int(count + 1);
    sy_kv_set("count", sy_out_view());
    sy_out_reset();
    return sy_none();
}
"""


async def install_counter(store: PluginStore, tmp_path: Path, name: str) -> Path:
    toml, wasm = build_source(
        name, COUNTER, manifest(name, capabilities='["kv"]'),
        root=tmp_path / "src",
    )
    folder = toml.parent
    shutil.copy(wasm, folder / "plugin.wasm")
    package = open_package(pack(folder, tmp_path / "dist"))
    await store.install(package, granted=["kv"], installed_by="test")
    return folder


async def test_a_plugin_counts_in_its_own_rows(
    store: PluginStore, database: Database, tmp_path: Path
) -> None:
    first = await install_counter(store, tmp_path, "counter-a")
    await install_counter(store, tmp_path, "counter-b")
    hosts = [SandboxHost(SandboxSettings(), home=tmp_path / f"h{i}", kv=SqlKv(database)) for i in range(2)]
    for host in hosts:
        await host.start()
        for plugin in await store.installed():
            host.load(plugin)
    for n in range(3):  # alternate instances: the count lives in the database, not a host
        await hosts[n % 2].call("counter-a", "on_request", {"body": {}})
    await hosts[1].call("counter-b", "on_request", {"body": {}})

    kv = SqlKv(database)
    assert await kv.get("counter-a", "count") == b"3"
    assert await kv.get("counter-b", "count") == b"1"
    assert first.exists()

    await store.uninstall("counter-a")  # its data goes with it; the other plugin's stays
    assert await kv.get("counter-a", "count") is None
    assert await kv.get("counter-b", "count") == b"1"
    for host in hosts:
        await host.close()
