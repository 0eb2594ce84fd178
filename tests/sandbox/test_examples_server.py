"""The examples, built from source, packed and installed with the CLI into a running
``switchyard serve``: each changes live traffic as its README says."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.core.server_helpers import SWITCHYARD, RunningServer, cli_env, running_server
from tests.plugins.routing.fake_upstream import FakeUpstream, fake_upstream
from tests.sandbox.wasm_build import EXAMPLES, built

PII = ("Write to jane.doe@example.com or call +1 (555) 123-4567; "
       "my card is 4111 1111 1111 1111, order 2024-01-15.")


def config(tmp: Path, upstream: str) -> Path:
    path = tmp / "switchyard.toml"
    path.write_text(f"""
[routing]
retries = 0
[[routing.providers]]
name = "fake"
api = "openai"
base_url = "{upstream}/v1/chat/completions"
models = ["gpt-4o"]
[routing.router]
default = "fake,gpt-4o"

[sandbox]
reload_interval_s = 0.3
""")
    return path


def cli(home: Path, conf: Path, *args: str) -> str:
    done = subprocess.run([SWITCHYARD, "--config", str(conf), *args], env=cli_env(home),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"switchyard {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def package(tmp: Path, example: str, edit: Callable[[str], str] = lambda text: text,
            name: str | None = None) -> Path:
    """Copy an example, build its wasm from source, pack it with the CLI; the .syp path."""
    folder = tmp / "src" / (name or example)
    shutil.copytree(EXAMPLES / example, folder)
    text = edit((folder / "plugin.toml").read_text())
    if name:
        text = text.replace(f'name = "{example}"', f'name = "{name}"')
    (folder / "plugin.toml").write_text(text)
    shutil.copy(built(EXAMPLES / example), folder / "plugin.wasm")
    out = tmp / "dist"
    out.mkdir(exist_ok=True)
    done = subprocess.run([SWITCHYARD, "plugin", "pack", str(folder), "--out", str(out), "--json"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return Path(json.loads(done.stdout)["path"])


def wait_for(check: Callable[[], Any], what: str, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[RunningServer, FakeUpstream, Path]]:
    home = tmp_path / "home"
    with fake_upstream() as upstream:
        conf = config(tmp_path, upstream.base)
        cli(home, conf, "db", "upgrade")
        with running_server(home, "--config", str(conf)) as server:
            yield server, upstream, conf


def claude(server: RunningServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base, api_key="any", max_retries=0)


def last_user_text(upstream: FakeUpstream) -> str:
    return upstream.last("/v1/chat/completions").body["messages"][-1]["content"]


def test_pii_redactor_installed_into_a_running_gateway_masks_prompts(
        gateway: tuple[RunningServer, FakeUpstream, Path], tmp_path: Path) -> None:
    server, upstream, conf = gateway
    client = claude(server)
    client.messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=[{"role": "user", "content": PII}])
    assert last_user_text(upstream) == PII  # nothing installed yet

    syp = package(tmp_path, "pii-redactor")
    assert syp.name == "pii-redactor-0.1.0.syp"
    cli(server.home, conf, "plugin", "install", str(syp), "--allow-unsigned", "--yes")

    def redacted() -> str | None:
        client.messages.create(model="claude-sonnet-4-5", max_tokens=20,
                               messages=[{"role": "user", "content": PII}])
        text = last_user_text(upstream)
        return text if "[EMAIL]" in text else None

    text = wait_for(redacted, "the installed redactor to take effect")
    assert text == "Write to [EMAIL] or call [PHONE]; my card is [CARD], order 2024-01-15."
    # the OpenAI endpoint goes through the same hook
    httpx.post(f"{server.base}/v1/chat/completions", json={
        "model": "gpt-4o", "messages": [{"role": "system", "content": "owner: bob@corp.example.org"},
                                        {"role": "user", "content": "hi"}]}, timeout=10)
    assert upstream.last().body["messages"][0]["content"] == "owner: [EMAIL]"

    cli(server.home, conf, "plugin", "disable", "pii-redactor")
    wait_for(lambda: (client.messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=[
        {"role": "user", "content": PII}]) and last_user_text(upstream) == PII), "disable to take effect")


def test_custom_router_picks_the_model_shown_in_the_route_header(
        gateway: tuple[RunningServer, FakeUpstream, Path], tmp_path: Path) -> None:
    server, upstream, conf = gateway
    syp = package(tmp_path, "custom-router", lambda text: text.replace(
        '"mock,mock-reasoner"', '"fake,gpt-4o-debugger"'))
    cli(server.home, conf, "plugin", "install", str(syp), "--allow-unsigned", "--yes")

    def route(text: str) -> str:
        reply = httpx.post(f"{server.base}/v1/messages", timeout=10, json={
            "model": "claude-sonnet-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": text}]})
        assert reply.status_code == 200, reply.text
        return reply.headers["x-switchyard-route"]

    wait_for(lambda: "custom-router" in route("please debug this"), "the router to load")
    assert route("please DEBUG this stack trace") == \
        "scenario=plugin:custom-router:keyword; provider=fake; model=gpt-4o-debugger"
    assert upstream.last().body["model"] == "gpt-4o-debugger"
    assert route("word " * 4000) == "scenario=plugin:custom-router:long; provider=mock; model=mock-long"
    assert route("just chatting") == "scenario=default; provider=fake; model=gpt-4o"


@contextmanager
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on 127.0.0.1 recording the JSON bodies posted to it."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            received.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_usage_notifier_posts_usage_to_an_allowed_host_only(
        gateway: tuple[RunningServer, FakeUpstream, Path], tmp_path: Path) -> None:
    server, _, conf = gateway
    with receiver() as (allowed, delivered), receiver() as (other, stolen):
        def to(url_host: str) -> Callable[[str], str]:
            return lambda text: text.replace('"127.0.0.1:8787"]', f'"{allowed}"]').replace(
                "http://127.0.0.1:8787/usage", f"http://{url_host}/usage")

        cli(server.home, conf, "plugin", "install", str(package(tmp_path, "usage-notifier", to(allowed))), "--allow-unsigned", "--yes")
        cli(server.home, conf, "plugin", "install",
            str(package(tmp_path, "usage-notifier", to(other), name="sneaky-notifier")), "--allow-unsigned", "--yes")

        def sent() -> bool:
            claude(server).messages.create(model="claude-sonnet-4-5", max_tokens=20,
                                           messages=[{"role": "user", "content": "count me"}])
            return bool(delivered)

        wait_for(sent, "a usage notification")
        first = delivered[0]
        assert first["path"] == "/usage" and first["body"]["source"] == "switchyard"
        usage = first["body"]["usage"]
        assert (usage["provider"], usage["model"], usage["status"]) == ("fake", "gpt-4o", 200)
        assert usage["input_tokens"] > 0
        time.sleep(0.5)  # give a wrongly allowed request time to arrive
        assert stolen == []
        metrics = httpx.get(f"{server.base}/metrics", timeout=10).text
        assert 'switchyard_sandbox_calls_total{hook="on_usage",plugin="usage-notifier"}' in metrics
    server.terminate()
    assert f"http://{other}/usage is not among its allowed hosts" in server.output()
