"""Time a wasm hook call adds, with a 2 KB request (issue 5; target <= 50 us per call).

Runs the routing plugin's ``on_request`` hook of the sandbox host on a real
``GatewayRequest`` whose body is about 2 KB, with the examples built from source:

* ``none``: the sandbox's hook with no wasm plugin loaded (the floor),
* ``echo``: a plugin that answers ``{}`` (the cost of the crossing itself: encode the request,
  copy it in, one exported call, copy the answer out, decode it),
* ``pii-redactor``: the real redactor, which rewrites every message string,
* the same two with ``[sandbox] inline = false`` (each call hops to a worker thread).

    .venv/bin/python benchmarks/sandbox_bench.py [--calls 20000] [--rounds 5]

Prints one line per variant: median over rounds of the mean µs per hook call, and p50/p99 of
single calls, plus fuel per call.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgspec

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from plugins.routing.model import GatewayRequest, Principal
from sandbox.host import SandboxHost, SandboxSettings
from sandbox.sdk.build import build_c

ECHO = '#include "switchyard_plugin.h"\nSY_HOOK(on_request) { (void)input; return sy_none(); }\n'


def request_2kb() -> GatewayRequest:
    text = ("Please review this function and tell me why the test fails. "
            "Contact me at dev@example.com if needed. ") * 20
    body = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "system": "You are a careful reviewer.",
            "messages": [{"role": "user", "content": text[:1880]}]}
    return GatewayRequest(client_api="anthropic", path="/v1/messages", body=body, headers={},
                          principal=Principal(), request_id="bench", started=0.0)


def build(tmp: Path) -> dict[str, tuple[Path, Path]]:
    echo = tmp / "echo"
    (echo / "src").mkdir(parents=True)
    (echo / "src" / "echo.c").write_text(ECHO)
    manifest = (REPO / "examples/pii-redactor/plugin.toml").read_text()
    (echo / "plugin.toml").write_text(manifest.replace('"pii-redactor"', '"echo"'))
    out = {"echo": (echo / "plugin.toml", build_c(echo, tmp / "echo.wasm"))}
    out["pii-redactor"] = (REPO / "examples/pii-redactor/plugin.toml",
                           build_c(REPO / "examples/pii-redactor", tmp / "pii.wasm"))
    return out


async def measure(host: SandboxHost, calls: int, rounds: int) -> tuple[float, float, float]:
    means, singles = [], []
    original = request_2kb().body
    for _ in range(rounds):
        req = request_2kb()
        started = time.perf_counter()
        for _ in range(calls):
            req.body = original
            await host.on_request(req)
        means.append((time.perf_counter() - started) / calls * 1e6)
    for _ in range(2000):
        req = request_2kb()
        t = time.perf_counter()
        await host.on_request(req)
        singles.append((time.perf_counter() - t) * 1e6)
    singles.sort()
    return statistics.median(means), singles[len(singles) // 2], singles[int(len(singles) * 0.99)]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        modules = build(Path(tmp))
        print(f"request body: {len(msgspec.json.encode(request_2kb().body))} bytes of JSON; "
              f"{args.calls} calls x {args.rounds} rounds")
        for inline in (True, False):
            for name in (None, "echo", "pii-redactor"):
                host = SandboxHost(SandboxSettings(inline=inline))
                await host.start()
                if name:
                    manifest, wasm = modules[name]
                    host.load(manifest=manifest, wasm=wasm)
                mean, p50, p99 = await measure(host, args.calls, args.rounds)
                fuel = host.metrics.fuel.labels(name).\
                    _value.get() / max(host.plugins[name].calls, 1) if name else 0
                label = f"{name or 'none'}{'' if inline else ' (thread)'}"
                print(f"{label:<26} mean {mean:7.1f} us/call   p50 {p50:7.1f}   p99 {p99:7.1f}   "
                      f"fuel/call {fuel:,.0f}")
                await host.close()


if __name__ == "__main__":
    asyncio.run(main())
