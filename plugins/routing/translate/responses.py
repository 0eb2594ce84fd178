"""Non-streaming responses: OpenAI chat.completion <-> Anthropic message.

`model` is the name the client should see (the caller decides: usually the model the
client asked for). Ids are minted in the client's format; the Anthropic message id is
carried into the OpenAI id so logs of both sides line up.
"""

from __future__ import annotations

import time
from typing import Any

from ._common import (
    ANTHROPIC_TO_OPENAI_STOP,
    TranslationError,
    anthropic_message,
    anthropic_stop_reason,
    encode,
    new_completion_id,
    new_message_id,
    new_tool_use_id,
    tool_input,
    usage_from_openai,
    usage_to_openai,
)

__all__ = ["anthropic_response_to_openai", "openai_response_to_anthropic"]


def _text_of(content: Any) -> str:
    """Message content as text; a few providers answer with a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _thinking_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    """reasoning_content (DeepSeek) or reasoning (OpenRouter) -> one thinking block.

    OpenRouter's reasoning_details can carry the signature (Anthropic models behind it) or
    encrypted reasoning; both are kept so the history can go back to such a model intact.
    """
    details = message.get("reasoning_details")
    if isinstance(details, list) and details:
        blocks: list[dict[str, Any]] = []
        for item in details:
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            if kind == "reasoning.encrypted" and item.get("data"):
                blocks.append({"type": "redacted_thinking", "data": item["data"]})
            elif kind in ("reasoning.text", "reasoning.summary"):
                text = item.get("text") or item.get("summary") or ""
                blocks.append(
                    {"type": "thinking", "thinking": text, "signature": item.get("signature") or ""}
                )
        if blocks:
            return blocks
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        return [{"type": "thinking", "thinking": reasoning, "signature": ""}]
    return []


def openai_response_to_anthropic(resp: dict[str, Any], *, model: str) -> dict[str, Any]:
    """An OpenAI chat.completion as an Anthropic message (first choice; we refuse n > 1)."""
    choices = resp.get("choices")
    if not choices:
        raise TranslationError("choices: the upstream response has no choices", param="choices")
    choice = choices[0]
    message = choice.get("message") or {}
    content = _thinking_blocks(message)
    text = _text_of(message.get("content"))
    if text:
        content.append({"type": "text", "text": text})
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append({"type": "text", "text": refusal})
    calls = list(message.get("tool_calls") or ())
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        calls.append({"function": legacy})
    for call in calls:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or new_tool_use_id(),
                "name": function.get("name", ""),
                "input": tool_input(function.get("arguments")),
            }
        )
    stop_reason, stop_sequence = anthropic_stop_reason(choice.get("finish_reason"), choice, bool(calls))
    if refusal and not calls:
        stop_reason, stop_sequence = "refusal", None
    usage = resp.get("usage")
    return anthropic_message(
        new_message_id(), model, content, stop_reason, stop_sequence,
        usage_from_openai(usage) if isinstance(usage, dict) else _zero_usage(),
    )


def _zero_usage() -> dict[str, int]:
    return {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def anthropic_response_to_openai(resp: dict[str, Any], *, model: str) -> dict[str, Any]:
    """An Anthropic message as an OpenAI chat.completion.

    Text blocks join into content, thinking into reasoning_content (the de facto field:
    DeepSeek, vLLM, LiteLLM), tool_use into tool_calls. Server tool blocks, citations and
    redacted thinking have no OpenAI field and are dropped.
    """
    texts: list[str] = []
    thinking: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in resp.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "thinking":
            thinking.append(block.get("thinking", ""))
        elif kind == "tool_use":
            tool_calls.append(
                {
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {
                        "name": block.get("name", ""),
                        "arguments": encode(block.get("input") or {}).decode(),
                    },
                }
            )
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not tool_calls else None,
        "refusal": None,
    }
    if thinking:
        message["reasoning_content"] = "\n\n".join(thinking)
    if tool_calls:
        message["tool_calls"] = tool_calls
    stop = resp.get("stop_reason")
    finish = ANTHROPIC_TO_OPENAI_STOP.get(stop, "stop") if isinstance(stop, str) else "stop"
    if tool_calls and stop is None:
        finish = "tool_calls"
    usage = resp.get("usage")
    return {
        "id": new_completion_id(resp.get("id")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        ],
        "usage": usage_to_openai(usage if isinstance(usage, dict) else {}),
    }
