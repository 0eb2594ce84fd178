"""Routing configuration reloads without a restart; a broken edit keeps the working config."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from tests.core.server_helpers import SWITCHYARD, cli_env, running_server

CONFIG = '[routing.router]\ndefault = "mock,{model}"\n'


def route_of(base: str) -> str:
    reply = httpx.post(f"{base}/v1/messages", json={
        "model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]})
    return reply.headers["x-switchyard-route"]


def reload_cli(home: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SWITCHYARD, "--config", str(config), "routing", "reload"], env=cli_env(home),
                          capture_output=True, text=True, check=False)


def wait_for(base: str, expected: str) -> str:
    deadline = time.monotonic() + 10
    route = route_of(base)
    while expected not in route and time.monotonic() < deadline:
        time.sleep(0.1)
        route = route_of(base)
    return route


def test_reload_switches_routes_and_refuses_a_broken_file(tmp_path: Path) -> None:
    config = tmp_path / "switchyard.toml"
    config.write_text(CONFIG.format(model="mock-1"))
    home = tmp_path / "home"
    with running_server(home, "--config", str(config)) as server:
        assert route_of(server.base).endswith("model=mock-1")

        config.write_text(CONFIG.format(model="mock-haiku"))
        done = reload_cli(home, config)
        assert done.returncode == 0, done.stderr
        assert wait_for(server.base, "mock-haiku").endswith("model=mock-haiku")

        config.write_text('[routing.router]\ndefault = "nowhere,x"\n')
        refused = reload_cli(home, config)
        assert refused.returncode == 2
        assert "router.default: unknown provider 'nowhere'" in refused.stderr
        server.process.send_signal(1)  # a SIGHUP anyway: the server must keep the working config
        time.sleep(0.5)
        assert route_of(server.base).endswith("model=mock-haiku")


def test_check_prints_the_effective_routes(tmp_path: Path) -> None:
    config = tmp_path / "switchyard.toml"
    config.write_text(CONFIG.format(model="mock-haiku") + '[routing.fallback]\ndefault = ["mock,mock-1"]\n')
    done = subprocess.run([SWITCHYARD, "--config", str(config), "routing", "check"], env=cli_env(tmp_path / "h"),
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "default       mock,mock-haiku  then mock,mock-1" in done.stdout
