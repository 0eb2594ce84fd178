"""The built-in ``mock`` provider: a deterministic local model that needs no key.

It speaks the Anthropic Messages API (other client APIs reach it through the
same translation as any provider), streams, and makes a tool call when the
request offers tools and asks for one, so newcomers, tests and benchmarks can
send real traffic with no account anywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import msgspec

from plugins.routing.tokens import count_request_tokens, count_text_tokens
from plugins.routing.translate._common import anthropic_message
from plugins.routing.translate.sse import anthropic_sse

__all__ = ["mock_message", "mock_stream"]

_ENCODE = msgspec.json.encode


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
            spoken = [t for t in texts if not t.lstrip().startswith("<system-reminder>")]
            if spoken or texts:
                return (spoken or texts)[-1]  # Claude Code puts reminders first, the prompt last
            results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
            if results:
                return f"[tool result for {results[-1].get('tool_use_id', '?')}]"
        return ""
    return ""


def _example(schema: Any) -> Any:
    """A deterministic value that satisfies a JSON schema's type (required fields only)."""
    if not isinstance(schema, dict):
        return None
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)[:1]
        return {name: _example(props.get(name, {})) for name in required}
    return {"string": "example", "integer": 1, "number": 1.0, "boolean": True, "array": []}.get(
        str(kind), "example"
    )


def _tool_to_call(body: dict[str, Any], prompt: str) -> dict[str, Any] | None:
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("name")]
    choice = body.get("tool_choice") or {}
    if not tools or choice.get("type") == "none":
        return None
    if choice.get("type") == "tool":
        return next((t for t in tools if t["name"] == choice.get("name")), None)
    if choice.get("type") == "any":
        return tools[0]
    lowered = prompt.lower()
    named = next((t for t in tools if t["name"].lower() in lowered), None)
    if named is not None:
        return named
    return tools[0] if "tool" in lowered.split() or "use a tool" in lowered else None


def _message_id(body: dict[str, Any]) -> str:
    return "msg_mock" + hashlib.sha256(_ENCODE(body.get("messages"))).hexdigest()[:20]


def _plan(body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(text, tool call or None): the mock's whole answer, decided from the request alone."""
    prompt = _last_user_text(body)
    tool = _tool_to_call(body, prompt)
    if tool is not None:
        call = {
            "type": "tool_use",
            "id": "toolu_mock" + hashlib.sha256(prompt.encode()).hexdigest()[:16],
            "name": tool["name"],
            "input": _example(tool.get("input_schema", {})) or {},
        }
        return f"I'll use the {tool['name']} tool.", call
    echo = " ".join(prompt.split())[:200]
    return f"Hello from Switchyard's mock model. You said: {echo}", None


def _stop(body: dict[str, Any], text: str, tool: dict[str, Any] | None) -> tuple[str, str, str | None]:
    """Apply max_tokens and stop_sequences as a real model would."""
    for stop in body.get("stop_sequences") or []:
        if stop and stop in text:
            return text[: text.index(stop)], "stop_sequence", stop
    limit = body.get("max_tokens")
    words = text.split(" ")
    if isinstance(limit, int) and limit < count_text_tokens(text):
        return " ".join(words[: max(limit // 2, 1)]), "max_tokens", None
    return text, "tool_use" if tool else "end_turn", None


def mock_message(body: dict[str, Any], model: str) -> dict[str, Any]:
    text, tool = _plan(body)
    text, stop_reason, stop_sequence = _stop(body, text, tool)
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if tool and stop_reason == "tool_use":
        content.append(tool)
    output = count_text_tokens(text) + (count_text_tokens(_ENCODE(tool["input"]).decode()) if tool else 0)
    usage = {
        "input_tokens": count_request_tokens(body),
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    return anthropic_message(_message_id(body), model, content, stop_reason, stop_sequence, usage)


def mock_stream(body: dict[str, Any], model: str) -> Iterator[bytes]:
    """The same answer as :func:`mock_message`, as Anthropic SSE events, a few words per delta."""
    message = mock_message(body, model)
    usage = message["usage"]
    start = dict(message, content=[], stop_reason=None, stop_sequence=None)
    start["usage"] = dict(usage, output_tokens=1)
    yield anthropic_sse("message_start", {"type": "message_start", "message": start})
    yield anthropic_sse("ping", {"type": "ping"})
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield anthropic_sse("content_block_start", {"type": "content_block_start", "index": index,
                                                 "content_block": {"type": "text", "text": ""}})
            words = block["text"].split(" ")
            for at in range(0, len(words), 3):
                piece = " ".join(words[at : at + 3]) + (" " if at + 3 < len(words) else "")
                yield anthropic_sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                     "delta": {"type": "text_delta", "text": piece}})
        else:
            yield anthropic_sse("content_block_start", {"type": "content_block_start", "index": index,
                                                 "content_block": dict(block, input={})})
            arguments = _ENCODE(block["input"]).decode()
            for at in range(0, len(arguments), 8):
                yield anthropic_sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                     "delta": {"type": "input_json_delta",
                                                               "partial_json": arguments[at : at + 8]}})
        yield anthropic_sse("content_block_stop", {"type": "content_block_stop", "index": index})
    yield anthropic_sse("message_delta", {"type": "message_delta",
                                   "delta": {"stop_reason": message["stop_reason"],
                                             "stop_sequence": message["stop_sequence"]},
                                   "usage": {"output_tokens": usage["output_tokens"]}})
    yield anthropic_sse("message_stop", {"type": "message_stop"})
