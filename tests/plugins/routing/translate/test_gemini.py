"""Native Gemini translation: golden cases for every rule, and stream properties.

Golden files live in golden_gemini/ (kept apart from golden/, whose runner owns every
file there):
- `<kind>__<case>.input.json` + `.expected.json`, kind one of request (-> {"url", "body"}),
  response, schema (gemini_schema) and error (error_message_from_upstream on a Gemini
  error body). An expected {"$raises": ...} means TranslationError naming that field.
- `stream__<case>.upstream.sse` + `.expected.sse` (+ optional `.meta.json` with
  constructor kwargs): hand-written Gemini SSE fed whole, one byte at a time and in random
  pieces; the output (minted toolu_ ids replaced by a placeholder) must equal the expected
  bytes every time and pass the Anthropic grammar check.

SWITCHYARD_REGEN_GOLDEN=1 rewrites the expected files from the current code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from plugins.routing.translate import error_message_from_upstream
from plugins.routing.translate.gemini import (
    SKIP_SIGNATURE,
    anthropic_request_to_gemini,
    gemini_response_to_anthropic,
    gemini_schema,
    usage_from_gemini,
)
from plugins.routing.translate.stream_gemini import GeminiToAnthropicStream

from .helpers import (
    SPLITS,
    TOOL_ID,
    anthropic_events,
    blocks,
    check_anthropic_stream,
    check_golden_files,
    check_json_golden,
    check_stream_golden,
    golden_names,
    run_golden_stream,
    run_stream,
    sdk_stream_message,
    stream_meta,
)

GOLDEN = Path(__file__).parent / "golden_gemini"
TOOL_ID_BYTES = re.compile(rb"toolu_01[0-9A-Za-z]{22}")
KINDS = {"request", "response", "schema", "error", "stream"}
STREAM_SPLITS = [*SPLITS, "random:4", "random:5", "random:6", "random:7"]


def _call(kind: str, case: dict[str, Any]) -> Any:
    if kind == "request":
        url, body = anthropic_request_to_gemini(case["body"], model=case["model"])
        return {"url": url, "body": body}
    if kind == "response":
        return gemini_response_to_anthropic(case["body"], model=case["model"])
    if kind == "schema":
        return gemini_schema(case["schema"])
    if kind == "error":
        return {"message": error_message_from_upstream(case["status"], case["body"].encode())}
    raise AssertionError(f"unknown golden kind {kind!r}")


@pytest.mark.parametrize("name", golden_names(GOLDEN, "*.input.json"))
def test_json_golden(name: str) -> None:
    check_json_golden(GOLDEN, name, _call, unmutated=True)


def gemini_stream(**kwargs: Any) -> GeminiToAnthropicStream:
    defaults = {"model": "claude-sonnet-4-5", "message_id": "msg_01GoldenGoldenGoldenGold",
                "input_tokens_estimate": 42}
    return GeminiToAnthropicStream(**{**defaults, **kwargs})


def _stream_factory(name: str) -> Any:
    meta = stream_meta(GOLDEN, name)
    return lambda: gemini_stream(**meta)


STREAMS = golden_names(GOLDEN, "*.upstream.sse")


@pytest.mark.parametrize("how", STREAM_SPLITS)
@pytest.mark.parametrize("name", STREAMS)
def test_stream_golden(name: str, how: str) -> None:
    out = run_golden_stream(GOLDEN, name, _stream_factory(name), how)
    check_anthropic_stream(out)
    check_stream_golden(GOLDEN, name, how, TOOL_ID_BYTES.sub(b"<toolu_id>", out))


def test_every_golden_file_belongs_to_a_case() -> None:
    check_golden_files(GOLDEN, KINDS)
    for name in STREAMS:
        assert name.startswith("stream__"), name


# -- stream properties ----------------------------------------------------------------------


def chunk(parts: list[dict[str, Any]] | None = None, finish: str | None = None,
          usage: dict[str, Any] | None = None) -> bytes:
    candidate: dict[str, Any] = {"content": {"parts": parts or [], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    body: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash"}
    if usage:
        body["usageMetadata"] = usage
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\r\n\r\n"


def _upstream(name: str) -> bytes:
    return (GOLDEN / f"stream__{name}.upstream.sse").read_bytes()


@pytest.mark.parametrize("how", STREAM_SPLITS)
def test_thinking_text_and_parallel_calls_reassemble(how: str) -> None:
    out, stream = run_stream(gemini_stream, _upstream("thinking_text_parallel_calls"), how)
    content = blocks(out)
    assert [b["type"] for b in content] == ["thinking", "text", "tool_use", "tool_use"]
    assert content[0]["signature"] == ""
    assert content[0]["thinking"].startswith("**Planning the lookup**")
    assert content[1]["text"] == "Je vais vérifier les deux villes 🌦️."
    assert [(b["name"], b["input"]) for b in content[2:]] == [
        ("get_weather", {"city": "Paris", "unit": "celsius"}),
        ("get_weather", {"city": "São Paulo", "unit": "celsius"}),
    ]
    assert content[2]["signature"].startswith("CiQB") and "signature" not in content[3]
    assert TOOL_ID.fullmatch(content[2]["id"]) and content[2]["id"] != content[3]["id"]
    assert anthropic_events(out)[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert stream.finished and not stream.failed and not stream.usage_estimated
    assert stream.usage == {"input_tokens": 187, "output_tokens": 131,
                            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def test_byte_at_a_time_equals_whole_for_every_fixture() -> None:
    for name in STREAMS:
        upstream = (GOLDEN / f"{name}.upstream.sse").read_bytes()
        whole, _ = run_stream(gemini_stream, upstream, "whole")
        single, _ = run_stream(gemini_stream, upstream, "bytes")
        assert TOOL_ID_BYTES.sub(b"", whole) == TOOL_ID_BYTES.sub(b"", single), name


@pytest.mark.parametrize("how", SPLITS)
def test_cut_stream_is_an_error_not_a_success(how: str) -> None:
    out, stream = run_stream(gemini_stream, _upstream("cut_midway"), how)
    events = check_anthropic_stream(out)
    assert events[-1] == ("error", {"type": "error", "error": {
        "type": "api_error", "message": "upstream stream ended unexpectedly"}})
    assert "message_stop" not in [n for n, _ in events]
    assert stream.failed and not stream.finished
    assert stream.usage["output_tokens"] > 0  # estimated from what was streamed


def test_error_chunk_stops_the_stream() -> None:
    stream = gemini_stream()
    events = check_anthropic_stream(stream.feed(_upstream("error_chunk")))
    assert events[-1][1]["error"] == {
        "type": "overloaded_error", "message": "The model is overloaded. Please try again later."}
    assert stream.failed
    assert stream.feed(chunk([{"text": "more"}], "STOP")) == b"" and stream.close() == b""


def test_message_start_carries_the_real_prompt_tokens_when_the_first_chunk_has_them() -> None:
    stream = gemini_stream(input_tokens_estimate=5)
    out = stream.feed(chunk([{"text": "Hi"}], usage={"promptTokenCount": 900,
                                                      "cachedContentTokenCount": 600}))
    start = anthropic_events(out)[0][1]["message"]["usage"]
    assert (start["input_tokens"], start["cache_read_input_tokens"]) == (300, 600)
    assert not stream.usage_estimated and stream.usage["output_tokens"] == 1  # "Hi" estimated
    out += stream.feed(chunk([], "STOP", {"promptTokenCount": 900, "cachedContentTokenCount": 600,
                                          "candidatesTokenCount": 3}))
    events = check_anthropic_stream(out)
    assert events[-2][1]["usage"] == {"input_tokens": 300, "cache_creation_input_tokens": 0,
                                      "cache_read_input_tokens": 600, "output_tokens": 3}


def test_usage_is_estimated_without_usage_metadata() -> None:
    stream = gemini_stream(input_tokens_estimate=12)
    out = stream.feed(chunk([{"text": "abcdefgh"}], "MAX_TOKENS"))
    events = check_anthropic_stream(out)
    assert events[-2][1] == {"type": "message_delta",
                             "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
                             "usage": {"output_tokens": 2}}
    assert stream.usage_estimated and stream.usage == {
        "input_tokens": 12, "output_tokens": 2, "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0}


def test_thinking_block_is_closed_with_an_empty_signature_before_text() -> None:
    stream = gemini_stream()
    out = stream.feed(chunk([{"text": "hmm", "thought": True}]) + chunk([{"text": "Answer"}], "STOP"))
    names = [(n, d.get("delta", {}).get("type")) for n, d in check_anthropic_stream(out)]
    assert names[1:7] == [
        ("content_block_start", None), ("content_block_delta", "thinking_delta"),
        ("content_block_delta", "signature_delta"), ("content_block_stop", None),
        ("content_block_start", None), ("content_block_delta", "text_delta"),
    ]


def test_text_after_a_call_opens_a_new_block_and_empty_parts_open_none() -> None:
    stream = gemini_stream()
    out = stream.feed(
        chunk([{"text": ""}, {"text": "Looking."}])
        + chunk([{"functionCall": {"name": "Read", "args": {}}}])
        + chunk([{"text": "", "thoughtSignature": "c2ln"}, {"text": "Done."}], "STOP")
    )
    check_anthropic_stream(out)
    assert blocks(out)[0] == {"type": "text", "text": "Looking."}
    assert [b["type"] for b in blocks(out)] == ["text", "tool_use", "text"]
    assert blocks(out)[1]["input"] == {}
    assert anthropic_events(out)[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_ping_comment_and_caller_pings() -> None:
    stream = gemini_stream()
    out = stream.ping() + stream.feed(b": keep-alive\r\n\r\n") + stream.feed(chunk([{"text": "x"}], "STOP"))
    events = check_anthropic_stream(out)
    assert [n for n, _ in events][:3] == ["message_start", "ping", "ping"]
    assert stream.ping() == b"" and stream.error(500, "late") == b"" and stream.close() == b""


def test_error_method_mid_stream() -> None:
    stream = gemini_stream()
    out = stream.feed(chunk([{"text": "partial"}])) + stream.error(504, "upstream timed out")
    events = check_anthropic_stream(out)
    assert events[-1][1]["error"] == {"type": "timeout_error", "message": "upstream timed out"}
    assert stream.close() == b""


def test_empty_upstream_is_an_error() -> None:
    stream = gemini_stream()
    assert [n for n, _ in check_anthropic_stream(stream.close())] == ["error"]


def test_unparseable_payload_is_skipped() -> None:
    stream = gemini_stream()
    out = stream.feed(b"data: not json\r\n\r\n" + chunk([{"text": "ok"}], "STOP"))
    assert blocks(out) == [{"type": "text", "text": "ok"}]


# -- round trips and API surface ---------------------------------------------------------------


def test_signature_survives_a_round_trip_through_the_client() -> None:
    """What Gemini signs comes back on the function call of the next request."""
    response = {"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "Bash", "args": {"command": "ls"}}, "thoughtSignature": "CiQBSig="},
    ]}, "finishReason": "STOP"}]}
    message = gemini_response_to_anthropic(response, model="gemini-3-pro-preview")
    tool = message["content"][0]
    body = {"max_tokens": 100, "messages": [
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": message["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool["id"],
                                      "content": "a.txt"}]},
    ]}
    _, gemini = anthropic_request_to_gemini(body, model="gemini-3-pro-preview")
    assert gemini["contents"][1] == {"role": "model", "parts": [
        {"functionCall": {"name": "Bash", "args": {"command": "ls"}}, "thoughtSignature": "CiQBSig="}]}
    assert gemini["contents"][2]["parts"] == [
        {"functionResponse": {"name": "Bash", "response": {"output": "a.txt"}}}]
    assert SKIP_SIGNATURE not in json.dumps(gemini)


def test_usage_mapping() -> None:
    assert usage_from_gemini({"promptTokenCount": 1000, "cachedContentTokenCount": 800,
                              "toolUsePromptTokenCount": 50, "candidatesTokenCount": 10,
                              "thoughtsTokenCount": 90}) == {
        "input_tokens": 250, "output_tokens": 100,
        "cache_creation_input_tokens": 0, "cache_read_input_tokens": 800}
    assert usage_from_gemini(None)["input_tokens"] == 0


def test_inputs_are_not_mutated_by_schema_cleaning() -> None:
    schema = {"type": "object", "$defs": {"A": {"type": "string", "format": "uri"}},
              "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"allOf": [{"type": "integer"}]}},
              "additionalProperties": False}
    snapshot = msgspec.json.encode(schema)
    gemini_schema(schema)
    assert msgspec.json.encode(schema) == snapshot


def _sdk_client(body: bytes, content_type: str) -> Any:
    """An anthropic SDK client reading `body` from an in-process transport."""
    import importlib.util

    anthropic = pytest.importorskip("anthropic")
    httpx = pytest.importorskip("httpx2" if importlib.util.find_spec("httpx2") else "httpx")

    def handler(request: Any) -> Any:
        return httpx.Response(200, content=body, headers={"content-type": content_type})

    return anthropic.Anthropic(api_key="k", base_url="http://gateway", max_retries=0,
                               http_client=httpx.Client(transport=httpx.MockTransport(handler)))


SDK_REQUEST = {"model": "gemini-3-pro-preview", "max_tokens": 100,
               "messages": [{"role": "user", "content": "weather?"}]}


@pytest.mark.parametrize("name", STREAMS)
def test_anthropic_sdk_accumulates_every_stream(name: str) -> None:
    out = run_golden_stream(GOLDEN, name, _stream_factory(name), "whole")
    message = sdk_stream_message(_sdk_client(out, "text/event-stream"), SDK_REQUEST, out)
    if message is None:
        return
    assert message.stop_reason is not None
    assert [b.model_dump(exclude_none=True) for b in message.content] == blocks(out)


def test_sdk_keeps_the_signature_so_the_next_request_carries_it() -> None:
    """Streamed through the real SDK, dumped as a client would send it back: the first
    call keeps Gemini's signature, so Gemini 3 gets it, and no sentinel is needed."""
    out, _ = run_stream(gemini_stream, _upstream("thinking_text_parallel_calls"), "bytes")
    with _sdk_client(out, "text/event-stream").messages.stream(**SDK_REQUEST) as s:
        message = s.get_final_message()
    history = [b.model_dump(exclude_none=True) for b in message.content]
    calls = [b for b in history if b["type"] == "tool_use"]
    body = {"max_tokens": 100, "messages": [
        SDK_REQUEST["messages"][0],
        {"role": "assistant", "content": history},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": c["id"], "content": "sunny"}
                                     for c in calls]},
    ]}
    _, gemini = anthropic_request_to_gemini(body, model="gemini-3-pro-preview")
    model_parts = gemini["contents"][1]["parts"]
    assert [list(p) for p in model_parts] == [["text"], ["functionCall", "thoughtSignature"],
                                              ["functionCall"]]
    assert model_parts[1]["thoughtSignature"].startswith("CiQB")
    assert SKIP_SIGNATURE not in json.dumps(gemini)
    assert [p["functionResponse"]["name"] for p in gemini["contents"][2]["parts"]] == [
        "get_weather", "get_weather"]


def test_sdk_reads_a_non_streaming_message() -> None:
    response = {"candidates": [{"content": {"role": "model", "parts": [
        {"text": "plan", "thought": True}, {"text": "Hi!"},
        {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"}]},
        "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2}}
    message = gemini_response_to_anthropic(response, model="gemini-2.5-flash")
    client = _sdk_client(msgspec.json.encode(message), "application/json")
    parsed = client.messages.create(**SDK_REQUEST)
    assert [b.type for b in parsed.content] == ["thinking", "text", "tool_use"]
    assert parsed.content[2].model_dump()["signature"] == "c2ln"
    assert parsed.stop_reason == "tool_use" and parsed.usage.output_tokens == 2
