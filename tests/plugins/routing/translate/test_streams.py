"""Stream translators: the properties the golden files cannot state on their own."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import msgspec
import pytest

from plugins.routing.translate import AnthropicToOpenAIStream, OpenAIToAnthropicStream

from .helpers import (
    SPLITS,
    anthropic_events,
    blocks,
    check_anthropic_stream,
    check_openai_stream,
    openai_chunks,
    run_stream,
)

GOLDEN = Path(__file__).parent / "golden"


def o2a(**kwargs: Any) -> OpenAIToAnthropicStream:
    return OpenAIToAnthropicStream(model="claude-sonnet-4-5", message_id="msg_01" + "x" * 22, **kwargs)


def a2o(**kwargs: Any) -> AnthropicToOpenAIStream:
    return AnthropicToOpenAIStream(model="gpt-4.1", created=1, **kwargs)


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                            "model": "m", **extra}
    if "choices" not in extra:
        body["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"


def anthropic_event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


# -- OpenAI upstream -> Anthropic client ---------------------------------------------------


@pytest.mark.parametrize("how", SPLITS)
def test_parallel_tool_arguments_reassemble_to_the_exact_input(how: str) -> None:
    upstream = (GOLDEN / "o2a_stream__openai_text_then_parallel_tools.upstream.sse").read_bytes()
    out, stream = run_stream(o2a, upstream, how)
    check_anthropic_stream(out)
    assert blocks(out) == [
        {"type": "text", "text": "I'll check both cities."},
        {"type": "tool_use", "id": "call_Fq1dW8yK2mZp7VbN3cLx", "name": "get_weather",
         "input": {"city": "Paris", "unit": "c"}},
        {"type": "tool_use", "id": "call_Hn5tR0aJ6sQe9WuB4kGy", "name": "get_weather",
         "input": {"city": "São Paulo", "unit": "c"}},
    ]
    assert stream.finished and not stream.failed


@pytest.mark.parametrize("how", SPLITS)
def test_interleaved_tool_calls_become_sequential_blocks(how: str) -> None:
    upstream = (GOLDEN / "o2a_stream__interleaved_tool_calls.upstream.sse").read_bytes()
    out, _ = run_stream(o2a, upstream, how)
    check_anthropic_stream(out)
    assert [(b["name"], b["input"]) for b in blocks(out)] == [
        ("Read", {"file_path": "/src/app.py", "limit": 200}),
        ("Grep", {"pattern": "TODO", "path": "src", "-n": True}),
    ]


def test_interleaving_of_three_calls_with_the_second_finishing_last() -> None:
    stream = o2a()
    feeds = [
        chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "A", "arguments": '{"x":'}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "B", "arguments": '{"y":'}}]}),
        chunk({"tool_calls": [{"index": 2, "id": "c", "function": {"name": "C", "arguments": "{}"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": "2"}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": "}"}}]}),
        chunk({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]
    out = b"".join(stream.feed(f) for f in feeds) + stream.close()
    check_anthropic_stream(out)
    assert [(b["name"], b["input"]) for b in blocks(out)] == [
        ("A", {"x": 1}), ("B", {"y": 2}), ("C", {}),
    ]


def test_text_after_a_tool_call_closes_the_tool_block_first() -> None:
    stream = o2a()
    out = stream.feed(
        chunk({"content": "Looking."})
        + chunk({"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f", "arguments": "{}"}}]})
        + chunk({"content": "Done."})
        + chunk({}, "stop")
        + b"data: [DONE]\n\n"
    )
    check_anthropic_stream(out)
    assert [b["type"] for b in blocks(out)] == ["text", "tool_use", "text"]
    assert anthropic_events(out)[-2][1]["delta"]["stop_reason"] == "tool_use"


@pytest.mark.parametrize("how", SPLITS)
def test_reasoning_then_text(how: str) -> None:
    upstream = (GOLDEN / "o2a_stream__deepseek_reasoning_then_text.upstream.sse").read_bytes()
    out, stream = run_stream(o2a, upstream, how)
    check_anthropic_stream(out)
    assert blocks(out) == [
        {"type": "thinking", "thinking": "The user greets me. Reply briefly.", "signature": ""},
        {"type": "text", "text": "Hi there! 👋"},
    ]
    assert stream.usage == {"input_tokens": 14, "output_tokens": 25,
                            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def test_message_delta_waits_for_usage_sent_after_finish_reason() -> None:
    stream = o2a(input_tokens_estimate=7)
    first = stream.feed(chunk({"role": "assistant", "content": ""}) + chunk({"content": "Hi"})
                        + chunk({}, "stop"))
    names = [n for n, _ in anthropic_events(first)]
    assert names[-1] == "content_block_stop" and "message_delta" not in names
    assert stream.usage["input_tokens"] == 7 and stream.usage_estimated
    usage = {"prompt_tokens": 100, "completion_tokens": 2, "total_tokens": 102,
             "prompt_tokens_details": {"cached_tokens": 60}}
    second = stream.feed(chunk(choices=[], usage=usage))
    assert [n for n, _ in anthropic_events(second)] == ["message_delta", "message_stop"]
    assert anthropic_events(second)[0][1]["usage"] == {
        "input_tokens": 40, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 60,
        "output_tokens": 2,
    }
    assert stream.finished and not stream.usage_estimated
    assert stream.feed(b"data: [DONE]\n\n") == b"" and stream.close() == b""
    check_anthropic_stream(first + second)


@pytest.mark.parametrize("how", SPLITS)
def test_cut_stream_ends_with_an_error_event_not_a_fake_success(how: str) -> None:
    upstream = (GOLDEN / "o2a_stream__cut_midway.upstream.sse").read_bytes()
    out, stream = run_stream(o2a, upstream, how)
    events = check_anthropic_stream(out)
    assert events[-1] == ("error", {"type": "error", "error": {
        "type": "api_error", "message": "upstream stream ended unexpectedly"}})
    assert "message_stop" not in [n for n, _ in events]
    assert stream.failed and not stream.finished


def test_upstream_error_chunk_becomes_an_error_event_and_stops_output() -> None:
    upstream = (GOLDEN / "o2a_stream__upstream_error_chunk.upstream.sse").read_bytes()
    stream = o2a()
    out = stream.feed(upstream)
    events = check_anthropic_stream(out)
    assert events[-1][1]["error"]["message"].startswith("Provider returned error")
    assert stream.failed and stream.feed(chunk({"content": "more"})) == b"" and stream.close() == b""


def test_error_method_mid_stream() -> None:
    stream = o2a()
    out = stream.feed(chunk({"content": "partial"})) + stream.error(504, "upstream timed out")
    events = check_anthropic_stream(out)
    assert events[-1][1]["error"] == {"type": "timeout_error", "message": "upstream timed out"}
    assert stream.close() == b""


def test_openrouter_comments_become_pings_after_message_start() -> None:
    stream = o2a()
    out = stream.feed(b": OPENROUTER PROCESSING\n\n")
    assert [n for n, _ in anthropic_events(out)] == ["message_start", "ping"]
    out += stream.feed(b": OPENROUTER PROCESSING\n\n" + chunk({"content": "ok"}, "stop"))
    out += stream.close()
    events = check_anthropic_stream(out)
    assert [n for n, _ in events].count("ping") == 2


def test_multibyte_character_split_across_feeds() -> None:
    raw = chunk({"content": "é🦀"}) + chunk({}, "stop") + b"data: [DONE]\n\n"
    cut = raw.index("🦀".encode()) + 2  # in the middle of the 4-byte crab
    stream = o2a()
    out = stream.feed(raw[: raw.index("é".encode()) + 1])
    out += stream.feed(raw[raw.index("é".encode()) + 1 : cut]) + stream.feed(raw[cut:])
    assert blocks(out + stream.close()) == [{"type": "text", "text": "é🦀"}]


def test_no_empty_text_block_is_ever_opened() -> None:
    stream = o2a()
    out = stream.feed(chunk({"role": "assistant", "content": ""}) + chunk({"content": None})
                      + chunk({}, "stop")) + stream.close()
    events = check_anthropic_stream(out)
    assert "content_block_start" not in [n for n, _ in events]


def test_usage_estimate_without_upstream_usage() -> None:
    stream = o2a(input_tokens_estimate=12)
    stream.feed(chunk({"content": "abcdefgh"}) + chunk({}, "length"))
    out = stream.close()
    assert anthropic_events(out)[0][1]["usage"] == {"output_tokens": 2}
    assert anthropic_events(out)[0][1]["delta"]["stop_reason"] == "max_tokens"
    assert stream.usage == {"input_tokens": 12, "output_tokens": 2,
                            "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}


def test_done_without_finish_reason_is_a_proper_end() -> None:
    stream = o2a()
    out = stream.feed(chunk({"content": "x"}) + b"data: [DONE]\n\n")
    assert anthropic_events(out)[-1][0] == "message_stop" and stream.finished


def test_empty_upstream_is_an_error() -> None:
    stream = o2a()
    events = check_anthropic_stream(stream.close())
    assert [n for n, _ in events] == ["error"]


ALPHABET = "ab \n\t\"\\/{}<>é€𝄞日本🦀\u2028\x00\x1f'"


@pytest.mark.parametrize("seed", range(8))
def test_random_text_deltas_survive_unchanged(seed: int) -> None:
    rng = random.Random(seed)
    pieces = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12)))
              for _ in range(rng.randint(1, 40))]
    raw = b"".join(chunk({"content": p}) for p in pieces) + chunk({}, "stop") + b"data: [DONE]\n\n"
    out, _ = run_stream(o2a, raw, f"random:{seed}")
    check_anthropic_stream(out)
    texts = [d["delta"]["text"] for n, d in anthropic_events(out) if n == "content_block_delta"]
    assert texts == pieces


# -- Anthropic upstream -> OpenAI client ---------------------------------------------------


def accumulate_openai(raw: bytes) -> dict[str, Any]:
    """Accumulate an OpenAI stream the way the SDK's stream helper does."""
    message: dict[str, Any] = {"content": "", "reasoning_content": "", "tool_calls": {}}
    finish = usage = None
    for c in openai_chunks(raw):
        if c == "[DONE]":
            continue
        if c.get("usage"):
            usage = c["usage"]
        for choice in c["choices"]:
            delta = choice["delta"]
            message["content"] += delta.get("content") or ""
            message["reasoning_content"] += delta.get("reasoning_content") or ""
            for call in delta.get("tool_calls") or ():
                slot = message["tool_calls"].setdefault(call["index"], {"arguments": ""})
                if "id" in call:
                    slot.update(id=call["id"], name=call["function"]["name"])
                slot["arguments"] += call["function"]["arguments"]
            finish = choice["finish_reason"] or finish
    return {"message": message, "finish_reason": finish, "usage": usage}


@pytest.mark.parametrize("how", SPLITS)
def test_anthropic_tools_and_thinking_to_openai(how: str) -> None:
    upstream = (GOLDEN / "a2o_stream__thinking_text_two_tools.upstream.sse").read_bytes()
    out, stream = run_stream(a2o, upstream, how)
    check_openai_stream(out)
    result = accumulate_openai(out)
    calls = result["message"]["tool_calls"]
    assert [(calls[i]["id"], json.loads(calls[i]["arguments"])) for i in sorted(calls)] == [
        ("toolu_01A09q90qw90lq917835lq9", {"city": "Paris", "unit": "c"}),
        ("toolu_01B19r01rx01mr028946mr0", {"city": "Tōkyō"}),
    ]
    assert result["message"]["content"] == "Checking both."
    assert result["finish_reason"] == "tool_calls"
    assert stream.usage["output_tokens"] == 89 and stream.usage["input_tokens"] == 480


def test_include_usage_adds_a_final_usage_chunk_and_pings_are_dropped() -> None:
    upstream = (GOLDEN / "a2o_stream__text_with_usage.upstream.sse").read_bytes()
    with_usage, _ = run_stream(lambda: a2o(include_usage=True), upstream, "whole")
    without, _ = run_stream(lambda: a2o(include_usage=False), upstream, "whole")
    assert accumulate_openai(with_usage)["usage"] == {
        "prompt_tokens": 2069, "completion_tokens": 12, "total_tokens": 2081,
        "prompt_tokens_details": {"cached_tokens": 2048}}
    assert accumulate_openai(without)["usage"] is None
    assert b"ping" not in with_usage


def test_anthropic_error_event_becomes_an_openai_error_chunk_without_done() -> None:
    upstream = (GOLDEN / "a2o_stream__error_event.upstream.sse").read_bytes()
    out, stream = run_stream(a2o, upstream, "bytes")
    chunks = check_openai_stream(out)
    assert chunks[-1] == {"error": {"message": "Overloaded", "type": "server_error",
                                    "param": None, "code": None}}
    assert stream.failed and not stream.finished


def test_cut_anthropic_stream_is_an_error_for_openai_clients() -> None:
    stream = a2o()
    out = stream.feed(anthropic_event("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "usage": {"input_tokens": 3, "output_tokens": 1}}}))
    out += stream.close()
    assert check_openai_stream(out)[-1]["error"]["message"] == "upstream stream ended unexpectedly"


def test_anthropic_stream_cut_after_message_delta_is_complete() -> None:
    stream = a2o()
    out = stream.feed(
        anthropic_event("message_start", {"type": "message_start", "message": {"id": "msg_1"}})
        + anthropic_event("message_delta", {"type": "message_delta",
                                            "delta": {"stop_reason": "end_turn"},
                                            "usage": {"output_tokens": 4}})
    ) + stream.close()
    check_openai_stream(out)
    assert stream.finished


@pytest.mark.parametrize("seed", range(8))
def test_random_text_deltas_survive_to_openai(seed: int) -> None:
    rng = random.Random(seed)
    pieces = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12)))
              for _ in range(rng.randint(1, 40))]
    raw = anthropic_event("message_start", {"type": "message_start", "message": {"id": "msg_r"}})
    raw += anthropic_event("content_block_start", {"type": "content_block_start", "index": 0,
                                                   "content_block": {"type": "text", "text": ""}})
    for p in pieces:
        raw += anthropic_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                       "delta": {"type": "text_delta", "text": p}})
    raw += anthropic_event("message_stop", {"type": "message_stop"})
    out, _ = run_stream(a2o, raw, f"random:{seed}")
    check_openai_stream(out)
    texts = [c["choices"][0]["delta"]["content"] for c in openai_chunks(out)[1:-2]]
    assert texts == pieces


# -- the checkers themselves ---------------------------------------------------------------


def _sse(*events: tuple[str, dict[str, Any]]) -> bytes:
    return b"".join(anthropic_event(n, d) for n, d in events)


START = ("message_start", {"type": "message_start", "message": {
    "id": "msg_1", "type": "message", "role": "assistant", "content": [], "stop_reason": None,
    "usage": {"input_tokens": 1, "output_tokens": 1}}})
TEXT0 = ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}})
STOP0 = ("content_block_stop", {"type": "content_block_stop", "index": 0})
DELTA = ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
         "stop_sequence": None}, "usage": {"output_tokens": 1}})
END = ("message_stop", {"type": "message_stop"})


@pytest.mark.parametrize("events", [
    (TEXT0, STOP0, DELTA, END),  # no message_start
    (START, TEXT0, DELTA, END),  # block never stopped
    (START, ("content_block_start", {**TEXT0[1], "index": 1}), DELTA, END),  # index gap
    (START, TEXT0, ("content_block_delta", {"type": "content_block_delta", "index": 0,
     "delta": {"type": "input_json_delta", "partial_json": "{}"}}), STOP0, DELTA, END),
    (START, TEXT0, STOP0, END),  # message_stop without message_delta
    (START, TEXT0, STOP0, DELTA, END, ("ping", {"type": "ping"})),  # after message_stop
    (START, TEXT0, STOP0, DELTA),  # never ends
])
def test_checker_rejects_broken_streams(events: tuple[tuple[str, dict[str, Any]], ...]) -> None:
    with pytest.raises(AssertionError):
        check_anthropic_stream(_sse(*events))


def test_checker_accepts_a_minimal_stream() -> None:
    check_anthropic_stream(_sse(START, TEXT0, STOP0, DELTA, END))
    assert msgspec.json.decode(_sse(START)[len(b"event: message_start\ndata: "):])


def test_caller_driven_pings() -> None:
    stream = o2a()
    out = stream.ping() + stream.feed(chunk({"content": "x"}, "stop")) + stream.ping()
    out += stream.close()
    assert [n for n, _ in check_anthropic_stream(out)][:2] == ["message_start", "ping"]
    assert stream.ping() == b""
    openai_side = a2o()
    assert openai_side.ping() == b": ping\n\n"
    assert openai_chunks(openai_side.ping()) == []


def test_named_error_event_with_plain_text_is_an_error() -> None:
    stream = o2a()
    events = check_anthropic_stream(stream.feed(b"event: error\ndata: model overloaded\n\n"))
    assert events[-1][1]["error"]["message"] == "model overloaded" and stream.failed
