"""Anthropic Messages request -> OpenAI Chat Completions request.

Mapped by meaning, not by name (see README.md for the full table). Fields that mean
nothing to an OpenAI-compatible provider are dropped on purpose: the output is built
from an allow-list, so an unknown Anthropic field can never leak into an OpenAI body.
"""

from __future__ import annotations

from typing import Any

from ._common import DEFAULT_OPTIONS, TranslateOptions, encode

__all__ = ["anthropic_request_to_openai", "drop_unsigned_thinking"]

_CLIENT_TOOL_TYPES = (None, "custom")
_BILLING_HEADER = "x-anthropic-billing-header:"
"""Claude Code's first system block: per-request metadata for Anthropic, not an instruction;
forwarded, it would only change the prompt prefix every turn and defeat provider caching."""
_MAX_USER = 128
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


def anthropic_request_to_openai(
    body: dict[str, Any], *, model: str, options: TranslateOptions | None = None
) -> dict[str, Any]:
    """The OpenAI body for an Anthropic body; `model` is the upstream model name to send."""
    opts = options or DEFAULT_OPTIONS
    messages: list[dict[str, Any]] = []
    system = _system_message(body.get("system"), opts)
    if system is not None:
        messages.append(system)
    for message in body.get("messages") or ():
        if message.get("role") == "assistant":
            messages.append(_assistant(message.get("content"), opts))
        else:
            _user(message.get("content"), opts, messages)

    out: dict[str, Any] = {"model": model, "messages": messages}
    if "max_tokens" in body:
        out[opts.max_tokens_field] = body["max_tokens"]
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    if opts.top_k and body.get("top_k") is not None:
        out["top_k"] = body["top_k"]
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])
    if body.get("stream"):
        out["stream"] = True
        if opts.stream_usage:
            out["stream_options"] = {"include_usage": True}
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and metadata.get("user_id"):
        # 128: the documented cap of safety_identifier, the field replacing `user`; Claude
        # Code's ids keep their unique device/user part well inside that prefix.
        out["user"] = str(metadata["user_id"])[:_MAX_USER]
    _tools(body, out)
    if opts.reasoning:
        _reasoning(body, out, opts)
    _output_format(body, out)
    return out


def _text_part(block: dict[str, Any], opts: TranslateOptions) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "text", "text": block.get("text", "")}
    if opts.cache_control and "cache_control" in block:
        part["cache_control"] = block["cache_control"]
    return part


def _collapse(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """One plain text part becomes a string: every OpenAI-compatible server accepts that,
    and several (older DeepSeek, some vLLM builds) accept nothing else."""
    if len(parts) == 1 and parts[0]["type"] == "text" and "cache_control" not in parts[0]:
        return parts[0]["text"]
    return parts


def _system_message(system: Any, opts: TranslateOptions) -> dict[str, Any] | None:
    if isinstance(system, str):
        return {"role": "system", "content": system} if system else None
    if not system:
        return None
    parts = [
        _text_part(b, opts)
        for b in system
        if b.get("type", "text") == "text" and not b.get("text", "").startswith(_BILLING_HEADER)
    ]
    return {"role": "system", "content": _collapse(parts)} if parts else None


def _image_part(block: dict[str, Any]) -> dict[str, Any] | None:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "base64":
        url = f"data:{source.get('media_type') or 'image/png'};base64,{source.get('data', '')}"
    elif kind == "url":
        url = source.get("url", "")
    else:  # "file" (Anthropic Files API id): OpenAI has no way to reach it
        return None
    return {"type": "image_url", "image_url": {"url": url}}


def _document_parts(block: dict[str, Any]) -> list[dict[str, Any]]:
    """Best effort: PDFs become OpenAI `file` parts, text documents become text parts."""
    source = block.get("source") or {}
    kind = source.get("type")
    title = block.get("title")
    head = f"Document: {title}\n" if title else ""
    if block.get("context"):
        head += f"Context: {block['context']}\n"
    if kind == "base64":
        media_type = source.get("media_type") or "application/pdf"
        part = {
            "type": "file",
            "file": {
                "filename": title or "document.pdf",
                "file_data": f"data:{media_type};base64,{source.get('data', '')}",
            },
        }
        return [{"type": "text", "text": head.rstrip("\n")}, part] if head else [part]
    if kind == "text":
        return [{"type": "text", "text": head + str(source.get("data", ""))}]
    if kind == "content":
        inner = source.get("content")
        text = inner if isinstance(inner, str) else "\n".join(_texts(inner or ()))
        return [{"type": "text", "text": head + text}]
    if kind == "url":
        return [{"type": "text", "text": f"{head}[document at {source.get('url', '')}]"}]
    return [{"type": "text", "text": f"{head}[document {source.get('file_id', '')} not available]"}]


def _texts(blocks: Any) -> list[str]:
    """Text of text-like blocks (text, search results, text documents) in order."""
    texts: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "search_result":
            head = f"{block.get('title', '')} ({block.get('source', '')})".strip()
            texts.append("\n".join([head, *_texts(block.get("content") or ())]))
        elif kind == "document":
            texts.extend(p["text"] for p in _document_parts(block) if p["type"] == "text")
    return texts


def _user(content: Any, opts: TranslateOptions, out: list[dict[str, Any]]) -> None:
    """One Anthropic user turn -> tool messages first (OpenAI wants them right after the
    assistant's tool_calls), then one user message with images from tool results and the
    rest of the turn's content."""
    if isinstance(content, str):
        out.append({"role": "user", "content": content})
        return
    parts: list[dict[str, Any]] = []
    tool_images: list[dict[str, Any]] = []
    for block in content or ():
        kind = block.get("type")
        if kind == "text":
            parts.append(_text_part(block, opts))
        elif kind == "tool_result":
            out.append(_tool_message(block, tool_images))
        elif kind == "image":
            part = _image_part(block)
            if part is not None:
                if opts.cache_control and "cache_control" in block:
                    part["cache_control"] = block["cache_control"]
                parts.append(part)
        elif kind == "document":
            parts.extend(_document_parts(block))
        elif kind == "search_result":
            parts.append({"type": "text", "text": "\n".join(_texts((block,)))})
    parts = tool_images + parts
    if parts:
        out.append({"role": "user", "content": _collapse(parts)})


def _tool_message(block: dict[str, Any], images: list[dict[str, Any]]) -> dict[str, Any]:
    """tool_result -> role "tool". OpenAI tool messages carry text only, so images in the
    result move to the user message that follows; is_error has no field, so it becomes an
    "Error: " prefix the model can read."""
    content = block.get("content")
    if isinstance(content, str):
        text = content
    elif content:
        text = "\n".join(_texts(content))
        for item in content:
            if item.get("type") == "image":
                part = _image_part(item)
                if part is not None:
                    images.append(part)
    else:
        text = ""
    if block.get("is_error"):
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": block.get("tool_use_id", ""), "content": text}


def _assistant(content: Any, opts: TranslateOptions) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    parts: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    reasoning: list[str] = []
    for block in content or ():
        kind = block.get("type")
        if kind == "text":
            parts.append(_text_part(block, opts))
        elif kind == "tool_use":
            arguments = encode(block.get("input") or {}).decode()
            tool_calls.append(
                {
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": arguments},
                }
            )
        elif kind == "thinking":
            reasoning.append(block.get("thinking", ""))
        # redacted_thinking (encrypted), server_tool_use and server tool results: no meaning
        # to an OpenAI-compatible model; dropped (README.md).
    message: dict[str, Any] = {"role": "assistant"}
    if parts:
        message["content"] = _collapse(parts)
    else:
        message["content"] = None if tool_calls else ""
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning and opts.carry_reasoning_content:
        message["reasoning_content"] = "\n\n".join(reasoning)
    return message


def _tools(body: dict[str, Any], out: dict[str, Any]) -> None:
    """Client tools become functions; server tools (web_search_*, bash_*, text_editor_*,
    code_execution_*, ...) run on Anthropic's side only and are dropped."""
    tools = []
    for tool in body.get("tools") or ():
        if tool.get("type") not in _CLIENT_TOOL_TYPES:
            continue
        function: dict[str, Any] = {"name": tool.get("name", "")}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
        if tool.get("strict") is not None:
            function["strict"] = tool["strict"]
        tools.append({"type": "function", "function": function})
    if not tools:
        return
    out["tools"] = tools
    choice = body.get("tool_choice")
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name", "")}}
    if choice.get("disable_parallel_tool_use") and kind != "none":
        out["parallel_tool_calls"] = False


def _budget_effort(budget: Any) -> str:
    if not isinstance(budget, int) or budget <= 2048:
        return "low"
    return "medium" if budget <= 16384 else "high"


def _reasoning(body: dict[str, Any], out: dict[str, Any], opts: TranslateOptions) -> None:
    """thinking / output_config.effort -> a reasoning request. An explicit effort wins (Claude
    Code sends it with adaptive thinking); thinking disabled means no reasoning request."""
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "disabled":
        return
    config = body.get("output_config")
    effort = _EFFORTS.get(config.get("effort")) if isinstance(config, dict) else None
    budget = None
    if effort is None:
        if kind == "enabled":
            budget = thinking.get("budget_tokens")  # type: ignore[union-attr]
            effort = _budget_effort(budget)
        elif kind == "adaptive":
            effort = "medium"
        else:
            return
    if opts.reasoning_style == "openrouter":
        out["reasoning"] = {"max_tokens": budget} if isinstance(budget, int) else {"effort": effort}
    else:
        out["reasoning_effort"] = effort


def _output_format(body: dict[str, Any], out: dict[str, Any]) -> None:
    """Structured outputs (output_config.format, or the beta output_format) -> response_format."""
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    fmt = fmt or body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and "schema" in fmt:
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": fmt["schema"], "strict": True},
        }


def drop_unsigned_thinking(body: dict[str, Any]) -> dict[str, Any]:
    """For an Anthropic body going to a real Anthropic model: remove what other providers'
    answers left in the history that the Anthropic API rejects: thinking blocks with no
    signature (minted from reasoning_content) and the Gemini ``signature`` key on tool_use
    blocks. Returns `body` itself when there is nothing to change (no copy on the hot
    path), else a shallow copy with new message lists; messages left empty go."""
    messages = body.get("messages")
    if not messages or not any(_has_foreign(m) for m in messages):
        return body
    kept = []
    for message in messages:
        if _has_foreign(message):
            content = [_clean(b) for b in message["content"] if not _unsigned(b)]
            if not content:
                continue
            message = {**message, "content": content}
        kept.append(message)
    return {**body, "messages": kept}


def _unsigned(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "thinking" and not block.get("signature")


def _signed_tool_use(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "tool_use" and "signature" in block


def _clean(block: Any) -> Any:
    if _signed_tool_use(block):
        return {k: v for k, v in block.items() if k != "signature"}
    return block


def _has_foreign(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return (
        message.get("role") == "assistant"
        and isinstance(content, list)
        and any(_unsigned(b) or _signed_tool_use(b) for b in content)
    )
