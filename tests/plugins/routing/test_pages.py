"""The Routing page shows rules, providers with key health, and requests as they happen."""

from __future__ import annotations

import time
from typing import Any

ROUTING = ("routing", "plugins.routing:includeme")
WEB = ("web", "web:includeme")


def test_routing_page_shows_rules_providers_and_live_traffic(client_for: Any) -> None:
    client = client_for([WEB, ROUTING])
    empty = client.get("/ui/routing/traffic").text
    assert "No requests yet" in empty
    client.post("/v1/messages", json={"model": "claude-opus-4-7", "max_tokens": 20,
                                      "messages": [{"role": "user", "content": "hi"}]})
    deadline = time.monotonic() + 5
    fragment = client.get("/ui/routing/traffic").text
    while "claude-opus-4-7" not in fragment and time.monotonic() < deadline:
        time.sleep(0.05)
        fragment = client.get("/ui/routing/traffic").text
    assert "<code>claude-opus-4-7</code>" in fragment and "<code>mock,mock-1</code>" in fragment
    assert 'hx-trigger="every 3s"' in fragment and "<html" not in fragment  # a fragment, not a page
    page = client.get("/ui/routing").text
    assert "<title>Routing · Switchyard</title>" in page
    assert '<th scope="row">default</th><td><code>mock,mock-1</code></td>' in page
    assert '<th scope="row">mock</th>' in page and "healthy" in page
    assert 'href="/ui/routing"' in client.get("/ui/").text
