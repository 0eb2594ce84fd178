"""The built-in mock model: deterministic, tool calls when asked, stop sequences and max_tokens."""

from __future__ import annotations

import json
from typing import Any

from plugins.routing.mock import mock_message, mock_stream
from plugins.routing.passthrough import AnthropicPassthrough
from tests.plugins.routing.translate.helpers import check_anthropic_stream

TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {
    "city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"enum": ["C", "F"]}},
    "required": ["city", "unit"]}}


def request(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 500, "messages": [{"role": "user", "content": text}], **extra}


def test_same_request_same_answer() -> None:
    assert mock_message(request("hello"), "mock-1") == mock_message(request("hello"), "mock-1")
    assert mock_message(request("hello"), "mock-1")["content"][0]["text"].endswith("You said: hello")


def test_tool_call_when_asked_with_schema_shaped_input() -> None:
    answer = mock_message(request("please use get_weather", tools=[TOOL]), "mock-1")
    call = answer["content"][-1]
    assert answer["stop_reason"] == "tool_use"
    assert call["type"] == "tool_use" and call["name"] == "get_weather"
    assert call["input"] == {"city": "example", "unit": "C"}
    forced = mock_message(request("hi", tools=[TOOL], tool_choice={"type": "any"}), "mock-1")
    assert forced["stop_reason"] == "tool_use"
    assert mock_message(request("hi", tools=[TOOL]), "mock-1")["stop_reason"] == "end_turn"


def test_stop_sequences_and_max_tokens() -> None:
    stopped = mock_message(request("abc", stop_sequences=["mock"]), "mock-1")
    assert stopped["stop_reason"] == "stop_sequence" and stopped["stop_sequence"] == "mock"
    assert "mock" not in stopped["content"][0]["text"]
    short = mock_message(request("a long prompt " * 20, max_tokens=4), "mock-1")
    assert short["stop_reason"] == "max_tokens"


def test_stream_is_well_formed_and_matches_the_message() -> None:
    body = request("stream a tool", tools=[TOOL], tool_choice={"type": "tool", "name": "get_weather"})
    raw = b"".join(mock_stream(body, "mock-1"))
    check_anthropic_stream(raw)
    events = [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: ")]
    partial = "".join(e["delta"]["partial_json"] for e in events
                      if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta")
    assert json.loads(partial) == mock_message(body, "mock-1")["content"][-1]["input"]
    scanner = AnthropicPassthrough()
    for at in range(0, len(raw), 7):
        scanner.feed(raw[at : at + 7])
    assert scanner.finished and scanner.close() == b""
    assert scanner.usage["output_tokens"] == mock_message(body, "mock-1")["usage"]["output_tokens"]
