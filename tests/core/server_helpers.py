"""Running a real ``switchyard serve`` process for tests, and the sample distributions it discovers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DISTS = REPO / "tests" / "sample_dist"
SWITCHYARD = str(Path(sys.executable).with_name("switchyard"))


def install_sample_dists(target: Path, *names: str) -> Path:
    """pip-install the sample plugin distributions into ``target`` (a folder for PYTHONPATH)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "--target", str(target), *(str(SAMPLE_DISTS / n) for n in names)],
        check=True,
        capture_output=True,
    )
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli_env(home: Path, pythonpath: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
    env["SWITCHYARD_HOME"] = str(home)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    env.update(extra)
    return env


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    base: str
    home: Path

    def output(self) -> str:
        if self.process.poll() is None:
            return ""
        out, _ = self.process.communicate()
        return out

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@contextmanager
def running_server(home: Path, *args: str, pythonpath: Path | None = None, **env: str) -> Iterator[RunningServer]:
    """Start ``switchyard serve`` on a free port and wait until /healthz answers."""
    port = free_port()
    process = subprocess.Popen(
        [SWITCHYARD, "serve", "--port", str(port), *args],
        env=cli_env(home, pythonpath, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the workers go down with it
    )
    server = RunningServer(process, f"http://127.0.0.1:{port}", home)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited early:\n{server.output()}")
            try:
                if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server did not answer /healthz within 30 s")
            time.sleep(0.1)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class LoggedServer:
    """A running server whose output is collected line by line while it runs."""

    base: str
    lines: list[str] = field(default_factory=list)


@contextmanager
def serve_with_output(home: Path, *args: str, timeout: float = 60) -> Iterator[LoggedServer]:
    """``switchyard serve [args]`` on a free port; its output readable while it runs (the
    banner's one-time links), stopped with SIGTERM afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [SWITCHYARD, "serve", "--port", str(port), *args],
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    server = LoggedServer(f"http://127.0.0.1:{port}")
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: server.lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert process.poll() is None, "server exited early:\n" + "".join(server.lines)
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "no answer on /healthz:\n" + "".join(server.lines)
            time.sleep(0.1)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        reader.join(timeout=5)
