"""Long-context routing by the session's previous turn, across two instances sharing Redis."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import pytest
import redis

from plugins.routing.sessions import KEY_PREFIX
from plugins.routing.tokens import count_request_tokens

REDIS_URL = os.environ.get("SWITCHYARD_TEST_REDIS_URL")
ROUTING = ("routing", "plugins.routing:includeme")
CONFIG = """
[redis]
url = "{redis}"

[[routing.providers]]
name = "mock"
api = "mock"
models = ["mock-1", "mock-long"]

[routing.router]
default = "mock,mock-1"
long_context = "mock,mock-long"
long_context_threshold = 30000
"""


def turn(session: str, words: int) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 50,
        "metadata": {"user_id": json.dumps({"device_id": "d", "session_id": session})},
        "messages": [{"role": "user", "content": " ".join(f"w{i % 97}" for i in range(words))}],
    }


def route_of(client: Any, body: dict[str, Any]) -> str:
    reply = client.post("/v1/messages", json=body)
    assert reply.status_code == 200, reply.text
    return reply.headers["x-switchyard-route"]


@pytest.mark.skipif(not REDIS_URL, reason="set SWITCHYARD_TEST_REDIS_URL (.ci/run does)")
def test_previous_turn_on_another_instance_counts(client_for: Any) -> None:
    first, second = turn("s", 20_000), turn("s", 13_000)
    # The two turns straddle the rule: the first alone is long, the second alone is not, and
    # the second is long only because the session's previous turn was (ccr's rule).
    assert count_request_tokens(first) > 30_000
    assert 20_000 < count_request_tokens(second) < 30_000, count_request_tokens(second)
    session = uuid.uuid4().hex
    first, second = turn(session, 20_000), turn(session, 13_000)
    one = client_for([ROUTING], toml=CONFIG.format(redis=REDIS_URL))
    two = client_for([ROUTING], toml=CONFIG.format(redis=REDIS_URL))

    assert route_of(two, turn(uuid.uuid4().hex, 13_000)).startswith("scenario=default")
    assert "model=mock-long" in route_of(one, first)
    # Instance one writes the turn's size to Redis just after answering; wait for it (a real
    # client sends its next turn after reading the answer, so it never races the write).
    store = redis.Redis.from_url(REDIS_URL)
    deadline = time.monotonic() + 5
    while store.get(KEY_PREFIX + session) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert route_of(two, second) == "scenario=long_context; provider=mock; model=mock-long"


def test_without_redis_an_instance_knows_only_its_own_sessions(client_for: Any) -> None:
    config = CONFIG.replace('[redis]\nurl = "{redis}"\n', "")
    session = uuid.uuid4().hex
    one = client_for([ROUTING], toml=config)
    two = client_for([ROUTING], toml=config)
    assert "model=mock-long" in route_of(one, turn(session, 20_000))
    assert "model=mock-long" in route_of(one, turn(session, 13_000))
    assert route_of(two, turn(session, 13_000)).startswith("scenario=default")


def test_redis_down_falls_back_to_this_instance(client_for: Any) -> None:
    session = uuid.uuid4().hex
    one = client_for([ROUTING], toml=CONFIG.format(redis="redis://127.0.0.1:1/0"))
    assert "model=mock-long" in route_of(one, turn(session, 20_000))
    assert "model=mock-long" in route_of(one, turn(session, 13_000))
