"""A provider's ``proxy_url`` (claude-code-router's PROXY_URL) carries its traffic."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.core.server_helpers import running_server
from tests.plugins.routing.fake_upstream import fake_upstream, recording_proxy


def test_requests_go_through_the_configured_proxy(tmp_path: Path) -> None:
    with fake_upstream() as upstream, recording_proxy() as proxy:
        config = tmp_path / "switchyard.toml"
        config.write_text(f"""
[routing]
proxy_url = "{proxy.base}"

[[routing.providers]]
name = "fake"
base_url = "{upstream.base}/v1/chat/completions"
models = ["gpt-4o"]

[routing.router]
default = "fake,gpt-4o"
""")
        with running_server(tmp_path / "home", "--config", str(config)) as server:
            reply = httpx.post(f"{server.base}/v1/messages", timeout=20, json={
                "model": "claude-sonnet-4-6", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]})
        assert reply.status_code == 200, reply.text
        assert reply.json()["content"][0]["text"] == "Hi from the fake OpenAI provider."
        assert proxy.request_lines == [f"POST {upstream.base}/v1/chat/completions"]
        assert upstream.last().body["model"] == "gpt-4o"
