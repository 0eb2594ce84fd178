"""OpenAI Chat Completions request -> Anthropic Messages request.

Used for OpenAI SDK clients routed to Anthropic providers, and as the canonical shape
the router and token counter look at. Anthropic is stricter (tool results first in a
user turn, max_tokens required, temperature <= 1, thinking rules), so this side also
repairs what would otherwise be a 400 from the provider; each repair is in README.md.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from ._common import TranslationError, encode, tool_input

__all__ = ["openai_request_to_anthropic"]

DEFAULT_MAX_TOKENS = 4096
_BUDGETS = {"low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768}
_BAD_ID = re.compile(r"[^a-zA-Z0-9_-]")
_MIN_BUDGET = 1024


def openai_request_to_anthropic(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    """The Anthropic body for an OpenAI body; raises TranslationError for what has no meaning
    on the Anthropic side (n > 1, audio input, file ids, custom grammar tools)."""
    n = body.get("n")
    if n is not None and n != 1:
        raise TranslationError(f"n: only n=1 is supported by this provider, got {n!r}", param="n")
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for i, message in enumerate(body.get("messages") or ()):
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_text_blocks(message.get("content"), f"messages[{i}].content"))
        elif role == "assistant":
            content = _assistant(message, i)
            if content:
                messages.append({"role": "assistant", "content": content})
        elif role in ("tool", "function"):
            _append_user(messages, [_tool_result(message, i)])
        else:
            _append_user(messages, _user_blocks(message.get("content"), i))

    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    out: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens or DEFAULT_MAX_TOKENS,
        "messages": messages,
    }
    note = _response_format_note(body.get("response_format"))
    if note:
        system.append({"type": "text", "text": note})
    if system:
        out["system"] = system[0]["text"] if len(system) == 1 else system
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else list(stop or ())
    stops = [s for s in stops if isinstance(s, str) and s.strip()]  # Anthropic refuses blank ones
    if stops:
        out["stop_sequences"] = stops
    temperature = body.get("temperature")
    if temperature is not None:  # OpenAI allows 0..2, Anthropic 0..1: clamp, don't rescale
        out["temperature"] = 1.0 if temperature > 1 else (0.0 if temperature < 0 else temperature)
    for key in ("top_p", "top_k"):
        if body.get(key) is not None:
            out[key] = body[key]
    if body.get("stream"):
        out["stream"] = True
    user = body.get("user") or body.get("safety_identifier")
    if user:
        out["metadata"] = {"user_id": str(user)}
    _tools(body, out)
    _thinking(body, out, explicit_max=bool(max_tokens))
    return out


def _append_user(messages: list[dict[str, Any]], blocks: list[dict[str, Any]]) -> None:
    """Consecutive tool and user messages share one Anthropic user turn, tool_results first."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == "user":
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": "user", "content": blocks})


def _text_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for j, part in enumerate(content or ()):
        if part.get("type") in ("text", "input_text", "refusal"):
            text = part.get("text") if "text" in part else part.get("refusal", "")
            if text:
                blocks.append({"type": "text", "text": text})
        else:
            raise TranslationError(
                f"{where}[{j}]: only text parts are allowed here, got {part.get('type')!r}",
                param=f"{where}[{j}]",
            )
    return blocks


def _user_blocks(content: Any, i: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content or ()):
        kind = part.get("type")
        where = f"messages[{i}].content[{j}]"
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url", "") if isinstance(image, dict) else str(image or "")
            blocks.append({"type": "image", "source": _source(url, "image/png")})
        elif kind == "file":
            blocks.append(_document(part.get("file") or {}, where))
        else:
            raise TranslationError(
                f"{where}: content parts of type {kind!r} are not supported by this provider",
                param=where,
            )
    return blocks


def _source(url: str, default_type: str) -> dict[str, Any]:
    """data: URLs become base64 sources (percent-encoded ones are re-encoded), others url."""
    if not url.startswith("data:"):
        return {"type": "url", "url": url}
    header, _, data = url[5:].partition(",")
    media_type = header.split(";", 1)[0] or default_type
    if ";base64" not in header:
        data = base64.b64encode(unquote_to_bytes(data)).decode()
    return {"type": "base64", "media_type": media_type, "data": data}


def _document(file: dict[str, Any], where: str) -> dict[str, Any]:
    data = file.get("file_data")
    if not isinstance(data, str) or not data:
        raise TranslationError(
            f"{where}: file parts need inline file_data; uploaded file ids are not reachable "
            "from this provider",
            param=where,
        )
    block: dict[str, Any] = {"type": "document", "source": _source(data, "application/pdf")}
    if file.get("filename"):
        block["title"] = file["filename"]
    return block


def _tool_id(value: Any) -> str:
    """Anthropic ids must match ^[a-zA-Z0-9_-]+$; other providers' ids may not. Replacing
    is deterministic, so a tool_use and its tool_result still agree."""
    text = str(value or "")
    return _BAD_ID.sub("_", text) if _BAD_ID.search(text) else text


def _tool_result(message: dict[str, Any], i: int) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, list):
        result: Any = _text_blocks(content, f"messages[{i}].content")
    else:
        result = "" if content is None else str(content)
    tool_id = message.get("tool_call_id") or message.get("name") or ""
    return {"type": "tool_result", "tool_use_id": _tool_id(tool_id), "content": result}


def _assistant(message: dict[str, Any], i: int) -> list[dict[str, Any]]:
    """Text then tool_use blocks. reasoning_content sent back by a client is dropped: an
    Anthropic thinking block needs the signature only Anthropic can make."""
    blocks = _text_blocks(message.get("content"), f"messages[{i}].content")
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": _tool_id(call.get("id")),
                "name": function.get("name", ""),
                "input": tool_input(function.get("arguments")),
            }
        )
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        name = legacy.get("name", "")
        blocks.append(
            {"type": "tool_use", "id": _tool_id(name), "name": name,
             "input": tool_input(legacy.get("arguments"))}
        )
    return blocks


def _tools(body: dict[str, Any], out: dict[str, Any]) -> None:
    tools = []
    for k, tool in enumerate(body.get("tools") or ()):
        if tool.get("type", "function") != "function":
            raise TranslationError(
                f"tools[{k}]: tools of type {tool.get('type')!r} are not supported by this "
                "provider; use function tools",
                param=f"tools[{k}]",
            )
        function = tool.get("function") or {}
        converted: dict[str, Any] = {"name": function.get("name", "")}
        if function.get("description"):
            converted["description"] = function["description"]
        converted["input_schema"] = function.get("parameters") or {
            "type": "object",
            "properties": {},
        }
        if function.get("strict"):
            converted["strict"] = True
        tools.append(converted)
    choice = body.get("tool_choice")
    converted_choice: dict[str, Any] | None = None
    if choice == "auto":
        converted_choice = {"type": "auto"}
    elif choice == "required":
        converted_choice = {"type": "any"}
    elif choice == "none":
        converted_choice = {"type": "none"}
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name", "")
        converted_choice = {"type": "tool", "name": name}
    if body.get("parallel_tool_calls") is False and tools:
        if converted_choice is None:
            converted_choice = {"type": "auto"}
        if converted_choice["type"] != "none":
            converted_choice["disable_parallel_tool_use"] = True
    if tools:
        out["tools"] = tools
        if converted_choice is not None:
            out["tool_choice"] = converted_choice


def _thinking(body: dict[str, Any], out: dict[str, Any], *, explicit_max: bool) -> None:
    """reasoning_effort (or OpenRouter's reasoning object) -> thinking with a budget.

    Anthropic refuses thinking with forced tool use, with temperature changes, with top_k,
    with top_p < 0.95, and with budget_tokens >= max_tokens or < 1024; the explicit request
    settings win over thinking, which is dropped or trimmed to fit (README.md). Without an
    explicit max_tokens the answer keeps its default room on top of the budget.
    """
    effort = body.get("reasoning_effort")
    budget: Any = None
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict):
        effort = effort or reasoning.get("effort")
        budget = reasoning.get("max_tokens")
    if not isinstance(budget, int):
        budget = _BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is None:
        return
    choice = out.get("tool_choice")
    if choice is not None and choice["type"] in ("any", "tool"):
        return
    if explicit_max:
        budget = min(budget, out["max_tokens"] - 1)
    else:
        out["max_tokens"] = budget + DEFAULT_MAX_TOKENS
    if budget < _MIN_BUDGET:
        return
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    out.pop("temperature", None)
    out.pop("top_k", None)
    if out.get("top_p") is not None and out["top_p"] < 0.95:
        del out["top_p"]


def _response_format_note(fmt: Any) -> str | None:
    """Best effort: Anthropic has no JSON mode on every model, so the request becomes an
    instruction in the system prompt (README.md)."""
    if not isinstance(fmt, dict):
        return None
    kind = fmt.get("type")
    if kind == "json_object":
        return "Respond with a single valid JSON object and nothing else (no prose, no code fences)."
    if kind == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = encode(spec.get("schema") or {}).decode()
        name = f" named {spec['name']!r}" if spec.get("name") else ""
        return (
            f"Respond with a single valid JSON object{name} that conforms to this JSON Schema, "
            f"and nothing else (no prose, no code fences):\n{schema}"
        )
    return None
