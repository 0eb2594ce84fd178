#!/usr/bin/env python3
"""Benchmark harness: wrk against a server under test, pinned, repeated, compared to direct.

Why: a gateway's cost is what it adds on top of the upstream. This script runs the
same request (method, path, body file, headers) straight at the fake provider
(``--target direct``) and through each server under test, on a 2-core machine:

  core 0 (``--server-core``): the server under test (for ``direct``, the fake provider)
  core 1 (``--client-core``): wrk and the upstream fake provider

For every target and connection count (default 1, 64, 256) it runs wrk ``--runs``
times (default 3, interleaving targets so background load hits them alike) and
reports the median of: requests/s, p50/p99 latency (exact, from wrk's histogram via
benchmarks/wrk_report.lua), errors (socket errors + non-2xx/3xx), server CPU time per
request (utime+stime of the server's whole process tree from /proc, before/after,
divided by completed requests), peak RSS (sum of VmHWM over the process tree), and the
machine's load average. Through-targets also get the ratio to direct: throughput
ratio and added p50 latency (p50 through - p50 direct), per connection count.

A target command may use {port} (where it must listen) and {upstream} (base URL of
the upstream fake provider, e.g. http://127.0.0.1:41234; the upstream fake starts on
core 1 when a command mentions {upstream} or --upstream-port is given). The harness
waits until it
answers HTTP, checks that one real request gets a 2xx, then measures.

Only loopback; every loop is bounded; every child runs in its own process group and
is terminated on exit (also on Ctrl-C or SIGTERM).

Example:
  python benchmarks/run.py --path /v1/messages --body benchmarks/bodies/anthropic_claude_code.json \\
      --target direct --target "switchyard-gateway --port {port} --upstream {upstream}"
"""

from __future__ import annotations

import argparse
import atexit
import http.client
import json
import os
import platform
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
LUA = HERE / "wrk_report.lua"
FAKE = HERE / "fake_provider.py"
HOST = "127.0.0.1"
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
SHELL_CHARS = re.compile(r"[;&|<>$`(){}*?~#]")

_children: list[subprocess.Popen[bytes]] = []


# -- processes ------------------------------------------------------------------------------

def spawn(cmd: str | list[str], core: int, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``cmd`` pinned to ``core`` in a new process group, output to ``log``."""
    if isinstance(cmd, str):
        argv = ["bash", "-c", cmd] if SHELL_CHARS.search(cmd) else shlex.split(cmd)
    else:
        argv = cmd
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            ["taskset", "-c", str(core), *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() reaches grandchildren too
            env=env,
        )
    _children.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after ``grace`` seconds."""
    if proc.poll() is None or _group_alive(proc.pid):
        _killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and (proc.poll() is None or _group_alive(proc.pid)):
            time.sleep(0.05)
        _killpg(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    if proc in _children:
        _children.remove(proc)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def stop_all() -> None:
    while _children:  # stop() removes each from the list
        stop(_children[-1], grace=5.0)


def _on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    atexit.register(stop_all)
    # a background job of a non-interactive shell starts with SIGINT ignored; undo that
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# -- /proc readings ------------------------------------------------------------------------

def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc/*/stat parent links)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            rest = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(rest[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo and len(found) < 10_000:
        p = todo.pop()
        found.append(p)
        todo.extend(parents.get(p, []))
    return found


def cpu_seconds(pid: int) -> float:
    """utime+stime (+ reaped children's) summed over the process tree of ``pid``."""
    ticks = 0
    for p in tree(pid):
        try:
            rest = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks += sum(int(x) for x in rest[11:15])
    return ticks / TICK


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_mb(pid: int, key: str = "VmHWM") -> float:
    """Sum of ``key`` (VmHWM: peak RSS, VmRSS: current) over the process tree, in MB."""
    return sum(_status_kb(p, key) for p in tree(pid)) / 1024


def rss_breakdown(pid: int) -> list[dict[str, Any]]:
    """Per process of the tree: pid, name and VmHWM (a supervisor shows up separately)."""
    rows = []
    for p in tree(pid):
        try:
            name = Path(f"/proc/{p}/comm").read_text().strip()
        except OSError:
            continue
        rows.append({"pid": p, "comm": name, "hwm_mb": _status_kb(p, "VmHWM") / 1024})
    return rows


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def core_times() -> dict[int, tuple[int, int, int]]:
    """Per core: (busy, steal, total) jiffies from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        m = re.match(r"cpu(\d+) (.*)", line)
        if m:
            v = [int(x) for x in m.group(2).split()]
            total = sum(v[:8])
            out[int(m.group(1))] = (total - v[3] - v[4] - v[7], v[7], total)
    return out


class RssSampler(threading.Thread):
    """Samples the tree's summed VmRSS every 0.2 s, so each run has its own peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self._stop_evt = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self._stop_evt.wait(0.2):
            self.peak = max(self.peak, rss_mb(self.pid, "VmRSS"))

    def finish(self) -> float:
        self._stop_evt.set()
        self.join(timeout=2)
        return max(self.peak, rss_mb(self.pid, "VmRSS"))


# -- HTTP checks ---------------------------------------------------------------------------

def request_once(port: int, method: str, path: str, body: bytes | None, headers: dict[str, str],
                 timeout: float = 10.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_ready(proc: subprocess.Popen[bytes], port: int, path: str, timeout: float, log: Path) -> None:
    """Wait until the server answers any HTTP response on ``path`` (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering; log:\n{_tail(log)}")
        try:
            request_once(port, "GET", path, None, {}, timeout=2.0)
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer on port {port} within {timeout:.0f} s; log:\n{_tail(log)}")


def _tail(log: Path, n: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


# -- wrk -----------------------------------------------------------------------------------

@dataclass
class Request:
    """What every wrk connection sends."""

    path: str
    method: str = "GET"
    body_file: str | None = None
    headers: list[str] = field(default_factory=list)

    def header_dict(self) -> dict[str, str]:
        pairs = (h.split(":", 1) for h in self.headers)
        return {name.strip(): value.strip() for name, value in pairs}

    def body(self) -> bytes | None:
        return Path(self.body_file).read_bytes() if self.body_file else None


def run_wrk(port: int, req: Request, connections: int, duration: float, threads: int,
            timeout: float, core: int) -> dict[str, Any]:
    argv = [
        "taskset", "-c", str(core), "wrk",
        f"-t{min(threads, connections)}", f"-c{connections}", f"-d{duration:g}s",
        f"--timeout={timeout:g}s", "-s", str(LUA), f"http://{HOST}:{port}{req.path}",
        "--", req.method, req.body_file or "-", *req.headers,
    ]
    done = subprocess.run(argv, check=False, capture_output=True, text=True,
                          timeout=duration + timeout + 60, start_new_session=True)
    for line in done.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line[len("WRK_JSON "):])
    raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")


# -- targets and measurement ---------------------------------------------------------------

@dataclass
class Target:
    """A server under test; ``cmd`` None means the fake provider itself (direct)."""

    name: str
    cmd: str | None
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None


@dataclass
class Options:
    targets: list[Target]
    request: Request
    connections: list[int] = field(default_factory=lambda: [1, 64, 256])
    duration: float = 10.0
    runs: int = 3
    warmup: float = 2.0
    threads: int = 1
    timeout: float = 5.0
    server_core: int = 0
    client_core: int = 1
    ready_path: str | None = None
    start_timeout: float = 60.0
    fake_args: list[str] = field(default_factory=list)
    label: str = "bench"
    env: dict[str, str] | None = None
    upstream_port: int | None = None  # fixed port for the upstream fake (else a free one)


METRICS = ("rps", "p50_ms", "p99_ms", "p999_ms", "mean_ms", "errors", "cpu_ms_per_req",
           "rss_hwm_mb", "rss_run_peak_mb", "server_core_busy_pct", "server_core_other_pct",
           "client_core_busy_pct", "steal_pct", "load1")


def _fake_cmd(port: int, opts: Options, exit_after: float) -> list[str]:
    return [sys.executable, str(FAKE), "--port", str(port), "--exit-after", f"{exit_after:.0f}",
            *opts.fake_args]


def start_targets(opts: Options, stamp: str) -> str | None:
    """Start the upstream fake (core 1) and every target (core 0); returns the upstream URL."""
    plan = len(opts.connections) * opts.runs * len(opts.targets) * (opts.duration + 5)
    exit_after = plan + 600 + opts.warmup * len(opts.targets)
    logs = OUT / "logs"
    upstream = None
    if opts.upstream_port or any("{upstream}" in (t.cmd or "") for t in opts.targets):
        up_port = opts.upstream_port or free_port()
        log = logs / f"{stamp}-{opts.label}-upstream.log"
        proc = spawn(_fake_cmd(up_port, opts, exit_after), opts.client_core, log)
        wait_ready(proc, up_port, "/healthz", 20, log)
        upstream = f"http://{HOST}:{up_port}"
    for t in opts.targets:
        t.port = free_port()
        t.log = logs / f"{stamp}-{opts.label}-{_slug(t.name)}.log"
        if t.cmd is None:
            t.proc = spawn(_fake_cmd(t.port, opts, exit_after), opts.server_core, t.log)
            ready = "/healthz"
        else:
            cmd = t.cmd.replace("{port}", str(t.port)).replace("{upstream}", upstream or "")
            t.proc = spawn(cmd, opts.server_core, t.log, env=opts.env)
            ready = opts.ready_path or opts.request.path
        wait_ready(t.proc, t.port, ready, opts.start_timeout, t.log)
        status, body = request_once(t.port, opts.request.method, opts.request.path,
                                    opts.request.body(), opts.request.header_dict())
        if not 200 <= status < 400:
            raise RuntimeError(f"{t.name}: the benchmark request got HTTP {status}: {body[:500]!r}")
    return upstream


def measure(t: Target, opts: Options, connections: int) -> dict[str, Any]:
    """One wrk run against ``t``, with the server's CPU, memory and the machine's load."""
    assert t.proc is not None
    pid = t.proc.pid
    load_before = loadavg()
    cores_before = core_times()
    cpu_before = cpu_seconds(pid)
    sampler = RssSampler(pid)
    sampler.start()
    w = run_wrk(t.port, opts.request, connections, opts.duration, opts.threads, opts.timeout,
                opts.client_core)
    run_peak = sampler.finish()
    cpu = cpu_seconds(pid) - cpu_before
    cores_after = core_times()
    if t.proc.poll() is not None:
        raise RuntimeError(f"{t.name} exited during the run; log:\n{_tail(t.log) if t.log else ''}")
    seconds = w["duration_us"] / 1e6
    lat = w["latency_us"]
    errs = w["errors"]

    def busy(core: int) -> tuple[float, float]:
        b0, s0, t0 = cores_before.get(core, (0, 0, 0))
        b1, s1, t1 = cores_after.get(core, (0, 0, 0))
        span = max(1, t1 - t0)
        return 100.0 * (b1 - b0) / span, 100.0 * (s1 - s0) / span

    server_busy, steal = busy(opts.server_core)
    client_busy, _ = busy(opts.client_core)
    server_share = 100.0 * cpu / seconds if seconds else 0.0
    return {
        "rps": w["requests"] / seconds if seconds else 0.0,
        "requests": w["requests"],
        "p50_ms": lat["p50"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "p999_ms": lat["p999"] / 1000,
        "mean_ms": lat["mean"] / 1000,
        "max_ms": lat["max"] / 1000,
        "errors": sum(errs.values()),
        "error_kinds": errs,
        "cpu_s": cpu,
        "cpu_ms_per_req": 1000.0 * cpu / w["requests"] if w["requests"] else float("nan"),
        "rss_hwm_mb": rss_mb(pid, "VmHWM"),
        "rss_run_peak_mb": run_peak,
        "rss_tree": rss_breakdown(pid),
        "server_core_busy_pct": server_busy,
        "server_core_other_pct": max(0.0, server_busy - server_share),
        "client_core_busy_pct": client_busy,
        "steal_pct": steal,
        "load1": (load_before[0] + loadavg()[0]) / 2,
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "wrk": w,
    }


def _median(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in METRICS}


def run_benchmark(opts: Options) -> dict[str, Any]:
    """Start everything, warm up, measure, stop everything; returns the result document."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    started = time.time()
    result: dict[str, Any] = {"meta": machine_info(), "options": _options_doc(opts), "results": []}
    result["meta"]["loadavg_start"] = loadavg()
    try:
        result["upstream"] = start_targets(opts, stamp)
        if opts.warmup > 0:  # at the lowest concurrency, so peak-RSS stays per-level monotonic
            for t in opts.targets:
                run_wrk(t.port, opts.request, min(opts.connections), opts.warmup, opts.threads,
                        opts.timeout, opts.client_core)
        rows: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for c in opts.connections:
            for i in range(opts.runs):
                order = opts.targets[i % len(opts.targets):] + opts.targets[: i % len(opts.targets)]
                for t in order:
                    r = measure(t, opts, c)
                    rows.setdefault((t.name, c), []).append(r)
                    print(f"  {t.name:<24} c={c:<4} run {i + 1}/{opts.runs}: {r['rps']:9.0f} req/s "
                          f"p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms errors {r['errors']} "
                          f"cpu {r['cpu_ms_per_req']:.3f} ms/req load {r['load1']:.2f}",
                          file=sys.stderr, flush=True)
        for t in opts.targets:
            for c in opts.connections:
                runs = rows[(t.name, c)]
                result["results"].append({"target": t.name, "cmd": t.cmd, "connections": c,
                                          "median": _median(runs), "runs": runs})
        _add_ratios(result)
    finally:
        for t in opts.targets:
            if t.proc is not None:
                stop(t.proc)
        stop_all()
    result["meta"]["loadavg_end"] = loadavg()
    result["meta"]["elapsed_s"] = time.time() - started
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{stamp}-{opts.label}.json"
    path.write_text(json.dumps(result, indent=1, default=str))
    result["path"] = str(path)
    return result


def _add_ratios(result: dict[str, Any]) -> None:
    """Throughput ratio and added p50 latency versus ``direct`` at the same connection count."""
    direct = {r["connections"]: r["median"] for r in result["results"] if r["cmd"] is None}
    for r in result["results"]:
        d = direct.get(r["connections"])
        if d is None or r["cmd"] is None:
            continue
        r["vs_direct"] = {
            "throughput_ratio": r["median"]["rps"] / d["rps"] if d["rps"] else float("nan"),
            "added_p50_ms": r["median"]["p50_ms"] - d["p50_ms"],
        }


def _options_doc(opts: Options) -> dict[str, Any]:
    doc = asdict(opts)
    doc["targets"] = [{"name": t.name, "cmd": t.cmd} for t in opts.targets]
    return doc


# -- reporting -----------------------------------------------------------------------------

def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "-"


def machine_info() -> dict[str, Any]:
    """What a reader needs to compare numbers across machines."""
    model = "?"
    try:
        lscpu = subprocess.run(["lscpu"], check=False, capture_output=True, text=True, timeout=10)
        for line in lscpu.stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        wrk = subprocess.run(["wrk", "--version"], check=False, capture_output=True, text=True, timeout=10)
        wrk_version = (wrk.stdout or wrk.stderr).splitlines()[0].split(" [")[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        wrk_version = "?"
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_version,
        "packages": {p: _version(p) for p in (
            "litestar", "uvicorn", "granian", "uvloop", "httptools", "msgspec", "jinja2")},
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def markdown(result: dict[str, Any]) -> str:
    """The median table, one row per target and connection count."""
    has_direct = any("vs_direct" in r for r in result["results"])
    head = ["target", "conns", "req/s", "p50 ms", "p99 ms", "errors", "CPU ms/req", "peak RSS MB",
            "load1", "other load on server core %"]
    if has_direct:
        head += ["x direct", "+p50 ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result["results"]:
        m = r["median"]
        cells = [r["target"], str(r["connections"]), f"{m['rps']:,.0f}", f"{m['p50_ms']:.2f}",
                 f"{m['p99_ms']:.2f}", f"{m['errors']:.0f}", f"{m['cpu_ms_per_req']:.3f}",
                 f"{m['rss_hwm_mb']:.0f}", f"{m['load1']:.2f}", f"{m['server_core_other_pct']:.0f}"]
        if has_direct:
            v = r.get("vs_direct")
            cells += [f"{v['throughput_ratio']:.3f}", f"{v['added_p50_ms']:+.2f}"] if v else ["", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:60] or "target"


def _check_tools() -> None:
    for tool in ("wrk", "taskset"):
        found = subprocess.run(["sh", "-c", f"command -v {tool}"], check=False, capture_output=True)
        if found.returncode:
            package = "wrk" if tool == "wrk" else "util-linux"
            sys.exit(f"{tool} not found: apt-get install -y {package}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", action="append", default=[],
                   help='"direct" or a command starting the server on {port} (repeatable)')
    p.add_argument("--name", action="append", default=[], help="label for each --target, in order")
    p.add_argument("--no-direct", action="store_true", help="do not add the direct baseline")
    p.add_argument("--path", default="/v1/chat/completions", help="request path (with query)")
    p.add_argument("--body", help="file to POST (omit for GET)")
    p.add_argument("--method", help="HTTP method (default POST with --body, else GET)")
    p.add_argument("--header", action="append", default=[], help='"Name: value" (repeatable)')
    p.add_argument("--connections", default="1,64,256", help="comma-separated (default 1,64,256)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    p.add_argument("--runs", type=int, default=3, help="runs per point; the median is reported (default 3)")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per target (default 2)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default 1, all on the client core)")
    p.add_argument("--timeout", type=float, default=5.0, help="wrk per-request timeout, s (default 5)")
    p.add_argument("--server-core", type=int, default=0)
    p.add_argument("--client-core", type=int, default=1)
    p.add_argument("--ready-path", help="GET path polled until the server answers (default --path)")
    p.add_argument("--start-timeout", type=float, default=60.0, help="seconds to wait for a server")
    p.add_argument("--stream-chunks", type=int, help="fake provider: text pieces per response")
    p.add_argument("--delay-ms", type=float, help="fake provider: delay before answering")
    p.add_argument("--chunk-delay-ms", type=float, help="fake provider: delay between stream events")
    p.add_argument("--upstream-port", type=int,
                   help="start the upstream fake on this port even if no command says {upstream}")
    p.add_argument("--label", default="bench", help="name of the output file in benchmarks/out/")
    args = p.parse_args(argv)
    _check_tools()
    install_cleanup()

    cmds = args.target or ["direct"]
    names = [c if c == "direct" else f"t{i}:{Path(c.split()[0]).name}" for i, c in enumerate(cmds)]
    servers = [i for i, c in enumerate(cmds) if c != "direct"]
    if len(args.name) == len(cmds):
        names = list(args.name)
    elif len(args.name) == len(servers):  # names for the servers only; direct stays "direct"
        for i, name in zip(servers, args.name):
            names[i] = name
    elif args.name:
        p.error("give one --name per --target (or per non-direct --target), or none")
    targets = [Target(name=n, cmd=None if c == "direct" else c) for n, c in zip(names, cmds)]
    if not args.no_direct and "direct" not in cmds:
        targets.insert(0, Target(name="direct", cmd=None))
    fake_args: list[str] = []
    for flag, value in (("--stream-chunks", args.stream_chunks), ("--delay-ms", args.delay_ms),
                        ("--chunk-delay-ms", args.chunk_delay_ms)):
        if value is not None:
            fake_args += [flag, str(value)]
    headers = list(args.header)
    if args.body and not any(h.lower().startswith("content-type:") for h in headers):
        headers.append("Content-Type: application/json")
    opts = Options(
        targets=targets,
        request=Request(path=args.path, method=args.method or ("POST" if args.body else "GET"),
                        body_file=str(Path(args.body).resolve()) if args.body else None, headers=headers),
        connections=[int(c) for c in args.connections.split(",")],
        duration=args.duration,
        runs=args.runs,
        warmup=args.warmup,
        threads=args.threads,
        timeout=args.timeout,
        server_core=args.server_core,
        client_core=args.client_core,
        ready_path=args.ready_path,
        start_timeout=args.start_timeout,
        fake_args=fake_args,
        label=args.label,
        upstream_port=args.upstream_port,
    )
    result = run_benchmark(opts)
    print(markdown(result))
    print(f"\nload average start {result['meta']['loadavg_start']} end {result['meta']['loadavg_end']}; "
          f"JSON: {result['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
