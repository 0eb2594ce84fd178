"""Test helpers: stream grammar checkers, SSE decoding for assertions, and feed splitting."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from plugins.routing.translate import SSEParser

DELTA_FOR_BLOCK = {
    "text": {"text_delta", "citations_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "tool_use": {"input_json_delta"},
    "server_tool_use": {"input_json_delta"},
}


def anthropic_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs; asserts every event is named and its name matches data.type."""
    events = []
    for name, data in SSEParser().feed(raw) + SSEParser().close():
        assert name is not None, f"unnamed Anthropic event: {data!r}"
        decoded = msgspec.json.decode(data)
        assert decoded["type"] == name, f"event {name!r} carries type {decoded['type']!r}"
        events.append((name, decoded))
    return events


def check_anthropic_stream(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Enforce Anthropic's event grammar, as the SDKs and Claude Code rely on it:

    message_start first (once); then blocks one at a time, indices 0, 1, 2, ... each opened
    by content_block_start, given deltas of its own kind, closed by content_block_stop;
    pings anywhere after message_start; then message_delta (once, with a stop_reason and
    usage.output_tokens), then message_stop, then nothing. An `error` event may end the
    stream at any point (open blocks then stay open, as with the real API).
    """
    events = anthropic_events(raw)
    assert events, "empty stream"
    started = ended = delta_seen = False
    open_block: tuple[int, str] | None = None
    next_index = 0
    for position, (name, data) in enumerate(events):
        where = f"event #{position} {name}"
        assert not ended, f"{where}: after message_stop"
        if name == "error":
            assert set(data) >= {"type", "error"} and set(data["error"]) >= {"type", "message"}
            assert position == len(events) - 1, f"{where}: events after an error"
            return events
        if name == "message_start":
            assert not started, f"{where}: second message_start"
            message = data["message"]
            assert message["type"] == "message" and message["role"] == "assistant"
            assert message["content"] == [] and message["stop_reason"] is None
            assert message["id"].startswith("msg_")
            assert isinstance(message["usage"]["input_tokens"], int)
            assert isinstance(message["usage"]["output_tokens"], int)
            started = True
            continue
        assert started, f"{where}: before message_start"
        if name == "ping":
            continue
        assert not delta_seen or name == "message_stop", f"{where}: after message_delta"
        if name == "content_block_start":
            assert open_block is None, f"{where}: block {open_block} still open"
            assert data["index"] == next_index, f"{where}: index {data['index']} != {next_index}"
            block = data["content_block"]
            if block["type"] == "text":
                assert block["text"] == ""
            elif block["type"] == "thinking":
                assert block["thinking"] == ""
            elif block["type"] == "tool_use":
                assert block["input"] == {} and block["id"] and block["name"]
            open_block = (data["index"], block["type"])
            next_index += 1
        elif name == "content_block_delta":
            assert open_block is not None and data["index"] == open_block[0], f"{where}: no block"
            allowed = DELTA_FOR_BLOCK.get(open_block[1], set())
            assert data["delta"]["type"] in allowed, f"{where}: {data['delta']['type']} in a {open_block[1]}"
        elif name == "content_block_stop":
            assert open_block is not None and data["index"] == open_block[0], f"{where}: no block"
            open_block = None
        elif name == "message_delta":
            assert open_block is None, f"{where}: block {open_block} still open"
            assert data["delta"]["stop_reason"] is not None
            assert "stop_sequence" in data["delta"]
            assert isinstance(data["usage"]["output_tokens"], int)
            delta_seen = True
        elif name == "message_stop":
            assert delta_seen, f"{where}: message_stop without message_delta"
            ended = True
        else:
            raise AssertionError(f"{where}: unknown event")
    assert ended, "stream ended without message_stop or error"
    return events


def openai_chunks(raw: bytes) -> list[Any]:
    """Decoded `data:` payloads of an OpenAI stream; "[DONE]" stays a string."""
    out: list[Any] = []
    for name, data in SSEParser().feed(raw):
        assert name is None, "OpenAI chunks carry no event names"
        out.append("[DONE]" if data == b"[DONE]" else msgspec.json.decode(data))
    return out


def check_openai_stream(raw: bytes) -> list[Any]:
    """The OpenAI stream shape: chunks with one id; the first delta is the assistant role;
    one finish chunk; an optional usage chunk with empty choices; [DONE] last. Or an error
    chunk, last, and no [DONE]."""
    chunks = openai_chunks(raw)
    assert chunks, "empty stream"
    if isinstance(chunks[-1], dict) and "error" in chunks[-1]:
        error = chunks[-1]["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert "[DONE]" not in chunks
        body = chunks[:-1]
    else:
        assert chunks[-1] == "[DONE]" and chunks.count("[DONE]") == 1
        body = chunks[:-1]
        assert sum(1 for c in body if c["choices"] and c["choices"][0]["finish_reason"]) == 1
    if body:
        assert body[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        assert len({c["id"] for c in body}) == 1
    finished = False
    for chunk in body:
        assert chunk["object"] == "chat.completion.chunk" and chunk["id"].startswith("chatcmpl-")
        if not chunk["choices"]:
            assert finished and "usage" in chunk
            continue
        assert not finished, "a content chunk after the finish chunk"
        finished = chunk["choices"][0]["finish_reason"] is not None
    return chunks


def splits(data: bytes, how: str) -> Iterator[bytes]:
    """Feeds for one run: "whole", "bytes" (one byte each) or "random:SEED"."""
    if how == "whole":
        yield data
    elif how == "bytes":
        for i in range(len(data)):
            yield data[i : i + 1]
    else:
        rng = random.Random(int(how.split(":")[1]))
        i = 0
        while i < len(data):
            step = rng.randint(1, 40)
            yield data[i : i + step]
            i += step


SPLITS = ["whole", "bytes", "random:1", "random:2", "random:3"]


def run_stream(factory: Callable[[], Any], data: bytes, how: str) -> tuple[bytes, Any]:
    """Feed `data` split as `how`, then close; returns (all output, the translator)."""
    translator = factory()
    out = b"".join(translator.feed(piece) for piece in splits(data, how))
    return out + translator.close(), translator
