#!/usr/bin/env python3
"""HTTP client cost on the gateway's hot path: FastClient vs aiohttp ClientSession.

Why: the gateway's own CPU per request is what limits a core, and the upstream client is
a large part of it (stack-notes, "The hot path"). This measures only the client: the
fake provider (benchmarks/fake_provider.py) runs in a subprocess pinned to one core, this
process pins itself to another and POSTs the same body N times from C concurrent tasks.

Reported per (client, mode): CPU microseconds per request of this process
(time.process_time delta / N) and requests per second (wall clock), median of --runs
runs after one warm-up run. Runs interleave the clients so background noise hits both.
Modes: ``json`` (openai_chat.json, body read whole) and ``stream`` (openai_chat_stream.json,
``"stream": true``, SSE consumed as it arrives, as the gateway's stream path does).

Both clients are set up the way UpstreamClient uses them (aiohttp: TCPConnector limit=0,
limit_per_host=512, keepalive 60 s, auto_decompress, sock_read timeout).

Run: .venv/bin/python benchmarks/client_bench.py [-n 20000] [-c 64] [--runs 3] [--loop uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from plugins.routing.fastclient import FastClient

BODIES = {"json": HERE / "bodies" / "openai_chat.json", "stream": HERE / "bodies" / "openai_chat_stream.json"}
PATH = "/v1/chat/completions"
READ_TIMEOUT = 30.0
Exchange = Callable[[bytes, bool], Awaitable[int]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_fake(port: int, core: int) -> subprocess.Popen[bytes]:
    """The fake provider on its own core; returns once it accepts connections."""
    proc = subprocess.Popen(
        ["taskset", "-c", str(core), sys.executable, str(HERE / "fake_provider.py"),
         "--port", str(port), "--exit-after", "1800"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"fake provider exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise SystemExit("fake provider did not start within 15 s")


def headers_for(stream: bool) -> dict[str, str]:
    """What the gateway sends an OpenAI-style provider."""
    return {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
        "authorization": "Bearer bench-key",
    }


def fast_exchange(client: FastClient, url: str) -> Exchange:
    async def exchange(body: bytes, stream: bool) -> int:
        reply = await client.post(url, body, headers_for(stream), read_timeout=READ_TIMEOUT)
        size = 0
        if stream:
            async for chunk in reply.chunks():
                size += len(chunk)
        else:
            size = len(await reply.read())
        return size if reply.status == 200 else -1

    return exchange


def aiohttp_exchange(session: aiohttp.ClientSession, url: str) -> Exchange:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=READ_TIMEOUT)

    async def exchange(body: bytes, stream: bool) -> int:
        response = await session.post(url, data=body, headers=headers_for(stream), timeout=timeout)
        try:
            size = 0
            if stream:
                async for chunk in response.content.iter_any():
                    size += len(chunk)
            else:
                size = len(await response.read())
            return size if response.status == 200 else -1
        finally:
            response.release()

    return exchange


async def run_once(exchange: Exchange, body: bytes, stream: bool, n: int, concurrency: int) -> tuple[float, float]:
    """(CPU µs per request, requests per second) for n requests from `concurrency` tasks."""
    remaining = n
    failures = 0

    async def worker() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            if await exchange(body, stream) <= 0:
                failures += 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if failures:
        raise SystemExit(f"{failures} requests failed")
    return cpu / n * 1e6, n / wall


async def bench(args: argparse.Namespace, url: str) -> dict[str, dict[str, Any]]:
    fast = FastClient()
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=512, keepalive_timeout=60, ttl_dns_cache=300)
    session = aiohttp.ClientSession(connector=connector, auto_decompress=True, trust_env=False)
    clients = {"fastclient": fast_exchange(fast, url), "aiohttp": aiohttp_exchange(session, url)}
    results: dict[str, dict[str, Any]] = {}
    try:
        for mode in args.modes:
            body = BODIES[mode].read_bytes()
            stream = mode == "stream"
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
            for name, exchange in clients.items():  # warm-up: connections, caches, code paths
                await run_once(exchange, body, stream, min(args.n, 2000), args.concurrency)
            for _ in range(args.runs):
                for name, exchange in clients.items():
                    samples[name].append(await run_once(exchange, body, stream, args.n, args.concurrency))
            for name, runs in samples.items():
                results[f"{name} {mode}"] = {
                    "cpu_us_per_req": statistics.median(r[0] for r in runs),
                    "req_per_s": statistics.median(r[1] for r in runs),
                    "runs": [{"cpu_us": round(c, 1), "rps": round(r)} for c, r in runs],
                }
    finally:
        await fast.close()
        await session.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20_000, help="requests per run (default 20000)")
    parser.add_argument("-c", "--concurrency", type=int, default=64, help="concurrent tasks (default 64)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per client and mode (median)")
    parser.add_argument("--modes", nargs="+", default=["json", "stream"], choices=sorted(BODIES))
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON too")
    args = parser.parse_args(argv)

    os.sched_setaffinity(0, {args.client_core})
    port = free_port()
    fake = start_fake(port, args.server_core)
    try:
        factory = uvloop.new_event_loop if args.loop == "uvloop" else asyncio.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            results = runner.run(bench(args, f"http://127.0.0.1:{port}{PATH}"))
    finally:
        fake.terminate()
        fake.wait(10)

    print(f"\n{args.loop}, N={args.n}, concurrency={args.concurrency}, median of {args.runs}; "
          f"client on core {args.client_core}, fake provider on core {args.server_core}\n")
    print("| client | mode | CPU µs/req | req/s |")
    print("|---|---|---|---|")
    for key, row in results.items():
        name, mode = key.split()
        print(f"| {name} | {mode} | {row['cpu_us_per_req']:.1f} | {row['req_per_s']:,.0f} |")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
