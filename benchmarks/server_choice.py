#!/usr/bin/env python3
"""Which ASGI server should run the Switchyard app? Measures uvicorn against granian.

Why: the server is the floor under every request. ``switchyard serve`` runs the
Litestar app from ``core.app.make_app()`` under uvicorn (uvloop + httptools, no
access log: see core/server.py). Granian's ASGI interface is the alternative.
Granian's RSGI interface is not a candidate: RSGI is granian's own protocol and
Litestar is an ASGI framework with no ``__rsgi__`` entry point, so the app cannot
run on it; only a separate non-Litestar app could.

Both servers get the same app, one worker pinned to core 0 (wrk on core 1), and the
same state folder (SQLite), migrated once before the runs:
  uvicorn: ``switchyard serve`` itself (what ships; gc.freeze() after start-up)
  granian: ``granian --interface asgi --loop uvloop --no-access-log --factory
           core.server:worker_app`` (the factory uvicorn workers use; also gc.freeze())

Routes: ``GET /healthz`` (a tiny JSON handler: server + framework floor) and
``GET /ui/`` (a Jinja page with session and CSRF middleware: a typical UI request).
Prints a Markdown section for benchmarks/RESULTS.md; JSON goes to benchmarks/out/.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import run as harness

REPO = harness.HERE.parent
VENV_BIN = Path(sys.executable).parent
GRANIAN_BASE = (
    f"{VENV_BIN}/granian --interface asgi --loop uvloop --no-access-log --log-level warning "
    "--host 127.0.0.1 --port {port} --workers 1 --factory core.server:worker_app"
)
SERVERS = {
    "uvicorn": f"env SWITCHYARD_SERVER__PORT={{port}} {VENV_BIN}/switchyard serve",
    "granian": GRANIAN_BASE,
    "granian-http1-st": GRANIAN_BASE + " --http 1 --runtime-mode st",
    # side experiment: same app and settings as `serve`, uvicorn's stock asyncio loop
    "uvicorn-asyncio": (
        f"{VENV_BIN}/uvicorn core.server:worker_app --factory --host 127.0.0.1 --port {{port}} "
        "--loop asyncio --http httptools --no-access-log --no-server-header --log-level warning"
    ),
}
PATHS = ("/healthz", "/ui/")


def prepare_home(home: str) -> dict[str, str]:
    """Environment for the servers, with the state folder migrated once."""
    env = dict(os.environ, SWITCHYARD_HOME=home)
    subprocess.run([f"{VENV_BIN}/switchyard", "db", "upgrade"], env=env, check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL, timeout=120)
    return env


def section(results: dict[str, dict], servers: list[str]) -> str:
    """The Markdown section: machine, commands, one table per route."""
    meta = next(iter(results.values()))["meta"]
    pk = meta["packages"]
    loads = [r["meta"]["loadavg_start"] for r in results.values()] + [
        r["meta"]["loadavg_end"] for r in results.values()]
    opts = next(iter(results.values()))["options"]
    machine = (
        f"Machine: {meta['cpu_model']}, {meta['cores']} cores, Linux {meta['kernel']}, "
        f"Python {meta['python']}, {meta['wrk']}; litestar {pk['litestar']}, "
        f"uvicorn {pk['uvicorn']}, granian {pk['granian']}, uvloop {pk['uvloop']}, "
        f"httptools {pk['httptools']}, jinja2 {pk['jinja2']}. Date {meta['date']}."
    )
    load = "; ".join("/".join(f"{x:.2f}" for x in la) for la in loads)
    method = (
        f"Method: {opts['runs']} runs of {opts['duration']:g} s per point (median shown), "
        f"targets interleaved, {opts['warmup']:g} s warm-up, wrk 1 thread on core 1, "
        "server on core 0."
    )
    out = [
        machine,
        f"Load average (1/5/15 min) at the start and end of each route's runs: {load}.",
        method,
        "",
        "Servers:",
    ]
    out += [f"- `{name}`: `{SERVERS[name].replace(str(VENV_BIN) + '/', '')}`" for name in servers]
    for path, res in results.items():
        out += ["", f"`GET {path}`", "", harness.markdown(res)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", default="uvicorn,granian",
                   help=f"comma-separated, from {', '.join(SERVERS)} (default uvicorn,granian)")
    p.add_argument("--paths", default=",".join(PATHS), help="comma-separated GET paths")
    p.add_argument("--connections", default="1,64,256")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--home", help="SWITCHYARD_HOME to use (default: a fresh temporary folder)")
    args = p.parse_args(argv)
    servers = args.servers.split(",")
    unknown = [s for s in servers if s not in SERVERS]
    if unknown:
        p.error(f"unknown server(s): {', '.join(unknown)}")
    harness._check_tools()
    harness.install_cleanup()
    with tempfile.TemporaryDirectory(prefix="sy-bench-") as tmp:
        env = prepare_home(args.home or tmp)
        results = {}
        for path in args.paths.split(","):
            opts = harness.Options(
                targets=[harness.Target(name=s, cmd=SERVERS[s]) for s in servers],
                request=harness.Request(path=path, method="GET", headers=["Accept: text/html"]
                                        if path.startswith("/ui") else []),
                connections=[int(c) for c in args.connections.split(",")],
                duration=args.duration,
                runs=args.runs,
                warmup=args.warmup,
                ready_path="/healthz",
                label="server-choice" + path.replace("/", "-").rstrip("-"),
                env=env,
            )
            results[path] = harness.run_benchmark(opts)
            print(f"\n`GET {path}` ({results[path]['path']})\n\n{harness.markdown(results[path])}",
                  file=sys.stderr, flush=True)
    print(section(results, servers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
