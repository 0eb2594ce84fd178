"""Shared pieces of the translation layer: options, the error type, ids, stop reasons, usage.

Everything here is pure and cheap: it runs once or twice per request on the hot path.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec

__all__ = [
    "ANTHROPIC_TO_OPENAI_STOP",
    "OPENAI_TO_ANTHROPIC_STOP",
    "TranslateOptions",
    "TranslationError",
    "anthropic_message",
    "anthropic_stop_reason",
    "new_completion_id",
    "new_message_id",
    "new_tool_use_id",
    "tool_input",
    "usage_from_openai",
    "usage_to_openai",
]

encode = msgspec.json.encode
decode = msgspec.json.decode


class TranslationError(ValueError):
    """A request that cannot be expressed in the other API; `param` names the offending field.

    A ValueError so callers that already map ValueError to HTTP 400 keep working; the
    message starts with the field name, like the APIs' own validation errors do.
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class TranslateOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Per-provider knobs for Anthropic -> OpenAI requests (the other direction has none).

    OpenAI-compatible providers disagree on a few fields; the provider configuration picks
    these once, so translation itself stays a pure function of (body, model, options).
    """

    max_tokens_field: str = "max_tokens"
    """"max_completion_tokens" for OpenAI reasoning models, which reject max_tokens."""
    reasoning: bool = True
    """Send Anthropic thinking/effort as a reasoning request at all."""
    reasoning_style: str = "effort"
    """"effort": OpenAI's reasoning_effort; "openrouter": OpenRouter's reasoning object."""
    carry_reasoning_content: bool = True
    """Put assistant thinking history back as reasoning_content (DeepSeek needs it)."""
    cache_control: bool = False
    """Keep Anthropic cache_control markers on content parts (OpenRouter honours them)."""
    stream_usage: bool = True
    """Ask for stream_options.include_usage when streaming, so usage is never guessed."""
    top_k: bool = False
    """Pass top_k through (vLLM, OpenRouter and others accept it; OpenAI rejects it)."""


DEFAULT_OPTIONS = TranslateOptions()

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(length: int) -> str:
    """`length` random base62 characters; os.urandom is enough (ids, not secrets)."""
    n = int.from_bytes(os.urandom(length), "big")
    chars = []
    for _ in range(length):
        n, r = divmod(n, 62)
        chars.append(_B62[r])
    return "".join(chars)


def new_message_id() -> str:
    """An Anthropic-looking message id: "msg_" + 24 characters, like msg_01XFDUDYJgAACzvnptvVoYEL."""
    return "msg_01" + _base62(22)


def new_tool_use_id() -> str:
    """An Anthropic-looking tool_use id, for upstreams that stream a tool call without one."""
    return "toolu_01" + _base62(22)


def new_completion_id(message_id: str | None = None) -> str:
    """An OpenAI chat completion id; derived from the Anthropic message id when there is one,
    so a request can be followed across both APIs in logs."""
    if message_id:
        return "chatcmpl-" + (message_id.removeprefix("msg_"))
    return "chatcmpl-" + _base62(29)


def anthropic_message(
    message_id: str,
    model: str,
    content: list[dict[str, Any]],
    stop_reason: str | None,
    stop_sequence: str | None,
    usage: dict[str, int],
) -> dict[str, Any]:
    """An Anthropic message object, keys in the API's order.

    One builder for every place that makes one (both non-streaming translators and the
    streams' message_start), so their bytes cannot drift apart: clients and the golden
    files compare them as they are.
    """
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
    }


OPENAI_TO_ANTHROPIC_STOP: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

ANTHROPIC_TO_OPENAI_STOP: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
    "model_context_window_exceeded": "length",
}


def anthropic_stop_reason(
    finish_reason: str | None, choice: dict[str, Any], has_tool_calls: bool
) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) for an OpenAI choice.

    OpenAI never says which stop sequence matched, so "stop" is end_turn; vLLM (`stop_reason`)
    and SGLang (`matched_stop`) do say, and then it is stop_sequence with the string. Some
    providers report "stop" while returning tool calls: by meaning that is tool_use.
    """
    if finish_reason == "stop" or finish_reason is None:
        if has_tool_calls:
            return "tool_use", None
        hint = choice.get("stop_reason")
        if not isinstance(hint, str):
            hint = choice.get("matched_stop")
        if isinstance(hint, str) and hint:
            return "stop_sequence", hint
        return "end_turn", None
    return OPENAI_TO_ANTHROPIC_STOP.get(finish_reason, "end_turn"), None


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def usage_from_openai(usage: dict[str, Any]) -> dict[str, int]:
    """OpenAI usage -> Anthropic usage. OpenAI's prompt_tokens includes cached tokens;
    Anthropic's input_tokens excludes both cache reads and cache writes."""
    prompt = _int(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    cached = _int(details.get("cached_tokens")) or _int(usage.get("prompt_cache_hit_tokens"))
    written = _int(details.get("cache_write_tokens"))  # OpenRouter
    return {
        "input_tokens": max(prompt - cached - written, 0),
        "output_tokens": _int(usage.get("completion_tokens")),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }


def usage_to_openai(usage: dict[str, Any]) -> dict[str, Any]:
    """Anthropic usage -> OpenAI usage: prompt_tokens counts every input token, cached or not."""
    read = _int(usage.get("cache_read_input_tokens"))
    prompt = _int(usage.get("input_tokens")) + read + _int(usage.get("cache_creation_input_tokens"))
    completion = _int(usage.get("output_tokens"))
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": read},
    }
    details = usage.get("output_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("thinking_tokens"), int):
        out["completion_tokens_details"] = {"reasoning_tokens": details["thinking_tokens"]}
    return out


def tool_input(arguments: Any) -> dict[str, Any]:
    """OpenAI's arguments string -> Anthropic's input object ("" -> {}; unparseable or not an
    object -> {"_raw": arguments}, so nothing the model produced is silently lost)."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        parsed = decode(arguments)
    except (ValueError, TypeError):
        return {"_raw": arguments}
    return parsed if isinstance(parsed, dict) else {"_raw": arguments}
