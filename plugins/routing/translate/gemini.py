"""Anthropic Messages request -> Gemini generateContent request, and Gemini responses back.

Gemini API v1beta (generativelanguage.googleapis.com), mapped by meaning. The streaming
side is stream_gemini.GeminiToAnthropicStream; it shares the part, stop-reason and usage
rules defined here. Error bodies ({"error": {"code", "message", "status"}}, or a list of
them) need nothing new: errors.error_message_from_upstream already reads both shapes.

Request, by meaning:
- system (string or text blocks) -> systemInstruction.parts; Claude Code's billing-header
  block is skipped, as for OpenAI providers.
- messages -> contents, role "user" / "model"; consecutive turns of one role are merged
  (Gemini wants alternation); empty text is never sent (Gemini rejects empty text parts)
  and a turn left with no parts is dropped.
- text -> {text}; image base64 -> inlineData; image URL -> fileData with a MIME type
  guessed from the extension (default image/jpeg; a data: URL becomes inlineData); image
  file_id (Anthropic Files API) -> dropped. Documents: PDF base64 -> inlineData, URL ->
  fileData (application/pdf unless the extension says otherwise), text/content sources ->
  text; search_result -> text.
- assistant tool_use -> {functionCall: {name, args}}. Gemini has no call ids: none are sent.
  Thought signatures: a functionCall part coming back from Gemini carries thoughtSignature,
  which Gemini 3 requires back on the function calls of the turn. The response side stores
  it on the tool_use block as an extra "signature" key (Anthropic tool_use blocks have no
  such field; clients keep the block as received and send it back), and it goes back as
  the part's thoughtSignature. For gemini-3+ model names, a model turn whose function
  calls carry no signature at all (history from another model, or a client that dropped
  the key) gets Google's documented "skip_thought_signature_validator" sentinel on its
  first call, so the request is not refused with a 400.
- user tool_result -> {functionResponse: {name, response: {"output": ...}}} (the key
  Google documents for a function's output; "error" instead when is_error), the name
  looked up from the earlier tool_use with that id. Function responses open the user turn;
  images inside a tool result follow them as inlineData/fileData parts of the same turn.
  A tool_result whose id matches no earlier tool_use raises TranslationError (Anthropic
  refuses it too).
- thinking / redacted_thinking history, server_tool_use and server tool results: dropped.
  Gemini does not read thought text back, and a signature minted by another provider would
  fail Gemini's base64/validity check.
- tools (client) -> one {functionDeclarations: [...]}, parameters cleaned by
  gemini_schema() (see there); a tool without parameters gets no `parameters` key.
  Server tools: web_search_* -> {googleSearch: {}}, web_fetch_* -> {urlContext: {}};
  other server tools (bash, text_editor, code_execution, computer, memory, ...) dropped.
- tool_choice auto/any/tool/none -> toolConfig.functionCallingConfig.mode AUTO / ANY /
  ANY + allowedFunctionNames [name] / NONE (only when function declarations are sent);
  disable_parallel_tool_use has no Gemini equivalent and is dropped.
- max_tokens -> maxOutputTokens; temperature, top_p, top_k -> temperature, topP, topK;
  stop_sequences -> stopSequences (Gemini allows 5: more are sent and Gemini says so).
- thinking enabled -> thinkingConfig {thinkingBudget: budget_tokens, includeThoughts: true};
  adaptive -> thinkingBudget -1 (dynamic); disabled or absent -> no thinkingConfig (the
  model's default: budget 0 would be a 400 on models that cannot stop thinking).
  output_config.effort is not mapped (thinkingLevel exists on Gemini 3 only).
- output_config.format / output_format json_schema -> responseMimeType application/json +
  responseSchema (cleaned like tool parameters).
- metadata.user_id, cache_control, service_tier, container, mcp_servers: no Gemini field.

Response: candidates[0].content.parts; text -> text block, thought text -> thinking block
(signature ""), adjacent parts of one kind joined; functionCall -> tool_use with a minted
toolu_ id (+ "signature" as above); inlineData, executableCode, codeExecutionResult and
thoughtSignature on text parts are dropped. finishReason STOP -> end_turn, or tool_use when
there is a function call; MAX_TOKENS -> max_tokens; SAFETY, RECITATION, BLOCKLIST,
PROHIBITED_CONTENT, SPII, IMAGE_SAFETY -> refusal; anything else -> end_turn (tool_use
with calls). A prompt blocked before any candidate (promptFeedback.blockReason) ->
refusal with no content. Usage: see usage_from_gemini().

Known gaps, on purpose: function names are sent as they are (Gemini allows 64 characters
of [a-zA-Z0-9_.:-] starting with a letter or "_"; longer MCP names are refused by Gemini,
and renaming would need a map the response side does not have); googleSearch next to
function declarations is sent as asked (Gemini 2.x refuses the combination); the
"signature" key on tool_use blocks is not an Anthropic field: strip it before a body goes
to a real Anthropic upstream.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from ._common import TranslationError, _int, anthropic_message, new_message_id, new_tool_use_id
from .request_a2o import _BILLING_HEADER, _document_parts, _texts

__all__ = [
    "GEMINI_REFUSAL_REASONS",
    "SKIP_SIGNATURE",
    "anthropic_request_to_gemini",
    "gemini_response_to_anthropic",
    "gemini_schema",
    "gemini_stop_reason",
    "usage_from_gemini",
]

SKIP_SIGNATURE = "skip_thought_signature_validator"
"""Google's documented stand-in for a thought signature the history does not have."""

GEMINI_REFUSAL_REASONS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)

_CLIENT_TOOL_TYPES = (None, "custom")
_RESULT_KEY = "output"
_SERVER_TOOLS = (("web_search", "googleSearch"), ("web_fetch", "urlContext"))
_GEMINI_MAJOR = re.compile(r"(?:^|/)gemini-(\d+)")
_IMAGE_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
}
_DOCUMENT_TYPES = {
    "pdf": "application/pdf",
    "txt": "text/plain",
    "md": "text/markdown",
    "html": "text/html",
    "csv": "text/csv",
}


# -- request --------------------------------------------------------------------------------


def anthropic_request_to_gemini(body: dict[str, Any], *, model: str) -> tuple[str, dict[str, Any]]:
    """(url suffix, Gemini body) for an Anthropic body; `model` is the upstream model name.

    The suffix is relative to the API base (".../v1beta/"): "models/{model}:generateContent",
    or ":streamGenerateContent?alt=sse" when the body asks to stream. A model given as
    "models/x" or "tunedModels/x" is used as is.
    """
    name = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
    if body.get("stream"):
        suffix = f"{name}:streamGenerateContent?alt=sse"
    else:
        suffix = f"{name}:generateContent"

    out: dict[str, Any] = {}
    system = _system(body.get("system"))
    if system:
        out["systemInstruction"] = {"parts": system}
    out["contents"] = _contents(body.get("messages") or (), _needs_signature(model))
    _tools(body, out)
    config = _generation_config(body)
    if config:
        out["generationConfig"] = config
    return suffix, out


def _needs_signature(model: str) -> bool:
    """Gemini 3 and later refuse function calls in history without a thought signature."""
    found = _GEMINI_MAJOR.search(model)
    return found is not None and int(found.group(1)) >= 3


def _system(system: Any) -> list[dict[str, Any]]:
    if isinstance(system, str):
        return [{"text": system}] if system else []
    parts = []
    for block in system or ():
        if block.get("type", "text") != "text":
            continue
        text = block.get("text", "")
        if text and not text.startswith(_BILLING_HEADER):
            parts.append({"text": text})
    return parts


def _mime_from_url(url: str, table: dict[str, str], default: str) -> str:
    path = urlsplit(url).path
    dot = path.rfind(".")
    if dot < 0 or "/" in path[dot:]:
        return default
    return table.get(path[dot + 1 :].lower(), default)


def _data_url(url: str) -> dict[str, Any] | None:
    """data:<type>;base64,<data> -> inlineData; None for anything else."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    return {"inlineData": {"mimeType": head[:-7] or "image/jpeg", "data": data}}


def _image_part(block: dict[str, Any]) -> dict[str, Any] | None:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "base64":
        mime = source.get("media_type") or "image/jpeg"
        return {"inlineData": {"mimeType": mime, "data": source.get("data", "")}}
    if kind == "url":
        url = source.get("url", "")
        if not url:
            return None
        inline = _data_url(url)
        if inline is not None:
            return inline
        return {"fileData": {"mimeType": _mime_from_url(url, _IMAGE_TYPES, "image/jpeg"), "fileUri": url}}
    return None  # "file": an Anthropic Files API id Gemini cannot reach


def _document(block: dict[str, Any]) -> list[dict[str, Any]]:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "base64":
        mime = source.get("media_type") or "application/pdf"
        return [{"inlineData": {"mimeType": mime, "data": source.get("data", "")}}]
    if kind == "url" and source.get("url"):
        url = source["url"]
        mime = _mime_from_url(url, _DOCUMENT_TYPES, "application/pdf")
        return [{"fileData": {"mimeType": mime, "fileUri": url}}]
    # text, content, file: the same readable text the OpenAI side sends
    return [{"text": p["text"]} for p in _document_parts(block) if p["type"] == "text" and p["text"]]


def _result_content(block: dict[str, Any], media: list[dict[str, Any]]) -> str:
    """A tool_result's text; its images go to `media` (they follow in the same turn)."""
    content = block.get("content")
    if isinstance(content, str):
        return content
    if not content:
        return ""
    for item in content:
        if item.get("type") == "image":
            part = _image_part(item)
            if part is not None:
                media.append(part)
    return "\n".join(_texts(content))


def _user_parts(
    content: Any, names: dict[str, str], i: int
) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    responses: list[dict[str, Any]] = []
    media: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content or ()):
        kind = block.get("type")
        if kind == "text":
            if block.get("text"):
                parts.append({"text": block["text"]})
        elif kind == "tool_result":
            tool_id = block.get("tool_use_id", "")
            name = names.get(tool_id)
            if name is None:
                where = f"messages.{i}.content.{j}.tool_use_id"
                raise TranslationError(
                    f"{where}: no earlier tool_use block has the id {tool_id!r}", param=where
                )
            text = _result_content(block, media)
            key = "error" if block.get("is_error") else _RESULT_KEY
            responses.append({"functionResponse": {"name": name, "response": {key: text}}})
        elif kind == "image":
            part = _image_part(block)
            if part is not None:
                parts.append(part)
        elif kind == "document":
            parts.extend(_document(block))
        elif kind == "search_result":
            parts.append({"text": "\n".join(_texts((block,)))})
    return responses + media + parts


def _model_parts(content: Any, names: dict[str, str], skip_signature: bool) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    first_call: dict[str, Any] | None = None
    signed = False
    for block in content or ():
        kind = block.get("type")
        if kind == "text":
            if block.get("text"):
                parts.append({"text": block["text"]})
        elif kind == "tool_use":
            name = block.get("name", "")
            names[block.get("id", "")] = name
            args = block.get("input")
            part: dict[str, Any] = {
                "functionCall": {"name": name, "args": args if isinstance(args, dict) else {}}
            }
            signature = block.get("signature")
            if isinstance(signature, str) and signature:
                part["thoughtSignature"] = signature
                signed = True
            if first_call is None:
                first_call = part
            parts.append(part)
        # thinking, redacted_thinking, server_tool_use, *_tool_result: dropped (module doc)
    if skip_signature and first_call is not None and not signed:
        first_call["thoughtSignature"] = SKIP_SIGNATURE
    return parts


def _contents(messages: Any, skip_signature: bool) -> list[dict[str, Any]]:
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for i, message in enumerate(messages):
        if message.get("role") == "assistant":
            role = "model"
            parts = _model_parts(message.get("content"), names, skip_signature)
        else:
            role = "user"
            parts = _user_parts(message.get("content"), names, i)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def _tools(body: dict[str, Any], out: dict[str, Any]) -> None:
    declarations: list[dict[str, Any]] = []
    builtin: list[str] = []
    for tool in body.get("tools") or ():
        kind = tool.get("type")
        if kind in _CLIENT_TOOL_TYPES:
            declaration: dict[str, Any] = {"name": tool.get("name", "")}
            if tool.get("description"):
                declaration["description"] = tool["description"]
            parameters = gemini_schema(tool.get("input_schema") or {})
            if parameters.get("properties") or parameters.get("anyOf"):
                declaration["parameters"] = parameters
            declarations.append(declaration)
        elif isinstance(kind, str):
            name = next((g for prefix, g in _SERVER_TOOLS if kind.startswith(prefix)), None)
            if name is not None and name not in builtin:
                builtin.append(name)
    tools = [{"functionDeclarations": declarations}] if declarations else []
    tools.extend({name: {}} for name in builtin)
    if tools:
        out["tools"] = tools
    if not declarations:
        return
    choice = body.get("tool_choice")
    kind = choice.get("type") if isinstance(choice, dict) else None
    config: dict[str, Any]
    if kind == "auto":
        config = {"mode": "AUTO"}
    elif kind == "any":
        config = {"mode": "ANY"}
    elif kind == "tool":
        config = {"mode": "ANY", "allowedFunctionNames": [choice.get("name", "")]}  # type: ignore[union-attr]
    elif kind == "none":
        config = {"mode": "NONE"}
    else:
        return
    out["toolConfig"] = {"functionCallingConfig": config}


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if body.get("max_tokens") is not None:
        config["maxOutputTokens"] = body["max_tokens"]
    for source, target in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK")):
        if body.get(source) is not None:
            config[target] = body[source]
    if body.get("stop_sequences"):
        config["stopSequences"] = list(body["stop_sequences"])
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "enabled":
        budget = thinking.get("budget_tokens")  # type: ignore[union-attr]
        config["thinkingConfig"] = {
            "thinkingBudget": budget if isinstance(budget, int) else -1,
            "includeThoughts": True,
        }
    elif kind == "adaptive":
        config["thinkingConfig"] = {"thinkingBudget": -1, "includeThoughts": True}
    output_config = body.get("output_config")
    fmt = output_config.get("format") if isinstance(output_config, dict) else None
    fmt = fmt or body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        config["responseMimeType"] = "application/json"
        config["responseSchema"] = gemini_schema(fmt["schema"])
    return config


# -- JSON Schema -> Gemini Schema -------------------------------------------------------------

_FORMATS = {
    "string": frozenset({"enum", "date-time"}),
    "number": frozenset({"float", "double"}),
    "integer": frozenset({"int32", "int64"}),
}
_COPIED = {
    "string": ("minLength", "maxLength", "pattern"),
    "number": ("minimum", "maximum"),
    "integer": ("minimum", "maximum"),
    "array": ("minItems", "maxItems"),
    "object": ("minProperties", "maxProperties"),
}
_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
_MAX_REF_DEPTH = 8


def gemini_schema(schema: Any) -> dict[str, Any]:
    """A JSON Schema (tool input_schema, structured output schema) as a Gemini Schema.

    Gemini reads a subset of OpenAPI 3.0 and refuses unknown keys with a 400, so the output
    is built from an allow-list: type, format, description, nullable, enum, items,
    minItems/maxItems, properties, required, minProperties/maxProperties,
    minLength/maxLength, pattern, minimum/maximum, anyOf. By meaning:
    - $ref ("#", "#/$defs/x", "#/definitions/x") -> inlined; a ref met again inside its
      own expansion (recursive types), nested over 8 deep or not found -> a bare object
      (keeping its description); allOf -> merged into one schema; oneOf -> anyOf;
      const -> enum [const];
    - type ["x", "null"] / a {"type": "null"} branch of anyOf -> nullable: true; several
      non-null types -> anyOf of one schema per type;
    - no type: "object" if properties/required are there, "array" if items is;
    - properties/required only on objects; required keeps only names that are properties;
      an object without properties has neither key;
    - arrays always have items (Gemini refuses an array without): {} when the schema gave
      none; tuple forms (prefixItems / items as a list) -> one schema, or anyOf of them;
    - enum only of strings (Gemini's enum is string-only): other values are dropped and
      listed in the description instead, so the model still sees them;
    - format kept only where Gemini defines it: string enum/date-time, number
      float/double, integer int32/int64 (others, e.g. uri, email, were refused);
    - exclusiveMinimum/exclusiveMaximum (numbers) -> minimum/maximum +/- 1 on integers,
      dropped on numbers (no exact equivalent);
    - dropped: $schema, $id, $comment, title, default, examples, additionalProperties,
      patternProperties, propertyNames, uniqueItems, contains, not, if/then/else,
      dependencies, contentEncoding/contentMediaType, readOnly/writeOnly, deprecated.
    """
    if not isinstance(schema, dict):
        return {}
    defs: dict[str, Any] = {"#": schema}
    for key in ("$defs", "definitions"):
        found = schema.get(key)
        if isinstance(found, dict):
            defs.update({f"#/{key}/{name}": value for name, value in found.items()})
    return _clean(schema, defs, frozenset())


def _resolve(
    schema: dict[str, Any], defs: dict[str, Any], seen: frozenset[str]
) -> tuple[dict[str, Any], frozenset[str]]:
    """Inline $ref (sibling keys win, as in JSON Schema 2019+) and merge allOf. `seen` holds
    the refs being expanded on the way here: meeting one again is a cycle, cut there."""
    while isinstance(schema.get("$ref"), str):
        ref = schema["$ref"]
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        target = defs.get(ref)
        if not isinstance(target, dict) or ref in seen or len(seen) >= _MAX_REF_DEPTH:
            cut: dict[str, Any] = {"type": "object"}
            description = rest.get("description") or (target or {}).get("description")
            if isinstance(description, str) and description:
                cut["description"] = description
            return cut, seen
        schema = {**target, **rest}
        seen = seen | {ref}
    parts = schema.get("allOf")
    if isinstance(parts, list) and parts:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        entered, seen = seen, frozenset(seen)
        for part in parts:
            if not isinstance(part, dict):
                continue
            part, part_seen = _resolve(part, defs, entered)
            seen |= part_seen
            for key, value in part.items():
                if key == "properties" and isinstance(value, dict):
                    properties = dict(merged.get("properties") or {})
                    for name, item in value.items():
                        properties.setdefault(name, item)
                    merged["properties"] = properties
                elif key == "required" and isinstance(value, list):
                    known = list(merged.get("required") or ())
                    merged["required"] = known + [r for r in value if r not in known]
                else:
                    merged.setdefault(key, value)
        schema = merged
    return schema, seen


def _describe(out: dict[str, Any], note: str) -> None:
    text = out.get("description")
    out["description"] = f"{text} ({note})" if text else note


def _clean(schema: Any, defs: dict[str, Any], seen: frozenset[str]) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}  # `true` (anything) or a malformed node
    schema, seen = _resolve(schema, defs, seen)
    out: dict[str, Any] = {}
    nullable = schema.get("nullable") is True
    raw_type = schema.get("type")
    types = [raw_type] if isinstance(raw_type, str) else list(raw_type or ())
    if "null" in types:
        nullable = True
    types = [t for t in types if t in _TYPES]
    description = schema.get("description")
    if isinstance(description, str) and description:
        out["description"] = description

    branches = schema.get("anyOf")
    if not isinstance(branches, list):
        branches = schema.get("oneOf")
    if isinstance(branches, list) and branches and not types:
        cleaned = []
        for branch in branches:
            if isinstance(branch, dict) and branch.get("type") == "null" and len(branch) == 1:
                nullable = True
                continue
            cleaned.append(_clean(branch, defs, seen))
        if len(cleaned) == 1:
            single = cleaned[0]
            if "description" in out:
                single.pop("description", None)
            out.update(single)
        elif cleaned:
            out["anyOf"] = cleaned
        if nullable:
            out["nullable"] = True
        return out

    if len(types) > 1:
        base = {k: v for k, v in schema.items() if k not in ("type", "description", "nullable")}
        out["anyOf"] = [_clean({**base, "type": t}, defs, seen) for t in types]
        if nullable:
            out["nullable"] = True
        return out

    kind = types[0] if types else None
    if kind is None:
        if "properties" in schema or "required" in schema:
            kind = "object"
        elif "items" in schema or "prefixItems" in schema:
            kind = "array"
    enum = schema.get("enum")
    if "const" in schema:
        enum = [schema["const"]]
    if isinstance(enum, list) and enum:
        if None in enum:
            nullable = True
            enum = [v for v in enum if v is not None]
        if enum and all(isinstance(v, str) for v in enum) and kind in (None, "string"):
            kind = "string"
            out["enum"] = enum
        elif enum:
            values = ", ".join(v if isinstance(v, str) else _json_text(v) for v in enum)
            _describe(out, f"one of: {values}")
            kind = kind or _enum_type(enum)
    if kind is not None:
        out["type"] = kind
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS.get(kind or "", ()):
        out["format"] = fmt
    for key in _COPIED.get(kind or "", ()):
        value = schema.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) or (
            key == "pattern" and isinstance(value, str)
        ):
            out[key] = value
    if kind == "integer":
        _exclusive_bounds(schema, out)
    elif kind == "object":
        _object(schema, out, defs, seen)
    elif kind == "array":
        out["items"] = _items(schema, defs, seen)
    if nullable:
        out["nullable"] = True
    return out


def _enum_type(values: list[Any]) -> str | None:
    """The one JSON type of untyped enum values, if they share one."""
    if all(isinstance(v, bool) for v in values):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "number"
    return None


def _json_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _exclusive_bounds(schema: dict[str, Any], out: dict[str, Any]) -> None:
    low = schema.get("exclusiveMinimum")
    if isinstance(low, (int, float)) and not isinstance(low, bool):
        bound = math.floor(low) + 1
        out["minimum"] = max(bound, out.get("minimum", bound))
    high = schema.get("exclusiveMaximum")
    if isinstance(high, (int, float)) and not isinstance(high, bool):
        bound = math.ceil(high) - 1
        out["maximum"] = min(bound, out.get("maximum", bound))


def _object(
    schema: dict[str, Any], out: dict[str, Any], defs: dict[str, Any], seen: frozenset[str]
) -> None:
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return
    out["properties"] = {name: _clean(value, defs, seen) for name, value in properties.items()}
    required = schema.get("required")
    if isinstance(required, list):
        kept = [name for name in required if isinstance(name, str) and name in properties]
        if kept:
            out["required"] = list(dict.fromkeys(kept))


def _items(schema: dict[str, Any], defs: dict[str, Any], seen: frozenset[str]) -> dict[str, Any]:
    items = schema.get("items")
    if isinstance(items, dict):
        return _clean(items, defs, seen)
    tuple_items = schema.get("prefixItems") if not isinstance(items, list) else items
    if isinstance(tuple_items, list) and tuple_items:
        cleaned = [_clean(item, defs, seen) for item in tuple_items]
        unique = [c for n, c in enumerate(cleaned) if c not in cleaned[:n]]
        return unique[0] if len(unique) == 1 else {"anyOf": unique}
    return {}


# -- responses --------------------------------------------------------------------------------


def gemini_stop_reason(finish_reason: str | None, has_tool_calls: bool) -> str:
    """Anthropic stop_reason for a Gemini finishReason (Gemini never says which stop
    sequence matched, so there is no stop_sequence)."""
    if finish_reason == "MAX_TOKENS":
        return "max_tokens"
    if finish_reason in GEMINI_REFUSAL_REASONS:
        return "refusal"
    return "tool_use" if has_tool_calls else "end_turn"


def usage_from_gemini(meta: Any) -> dict[str, int]:
    """usageMetadata -> Anthropic usage.

    promptTokenCount includes cached tokens (cachedContentTokenCount), which Anthropic counts
    apart as cache_read_input_tokens; toolUsePromptTokenCount (Google Search results read
    by the model) is billed as input and added to input_tokens. Output is what the model
    generated, thoughts included: candidatesTokenCount + thoughtsTokenCount.
    """
    meta = meta if isinstance(meta, dict) else {}
    cached = _int(meta.get("cachedContentTokenCount"))
    prompt = _int(meta.get("promptTokenCount")) + _int(meta.get("toolUsePromptTokenCount"))
    return {
        "input_tokens": max(prompt - cached, 0),
        "output_tokens": _int(meta.get("candidatesTokenCount")) + _int(meta.get("thoughtsTokenCount")),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def tool_use_block(call: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """A functionCall part as an Anthropic tool_use block (input as given by Gemini)."""
    args = call.get("args")
    block: dict[str, Any] = {
        "type": "tool_use",
        "id": new_tool_use_id(),
        "name": call.get("name") or "",
        "input": args if isinstance(args, dict) else {},
    }
    signature = part.get("thoughtSignature")
    if isinstance(signature, str) and signature:
        block["signature"] = signature
    return block


def gemini_response_to_anthropic(resp: dict[str, Any], *, model: str) -> dict[str, Any]:
    """A Gemini GenerateContentResponse as an Anthropic message (first candidate)."""
    candidates = resp.get("candidates")
    candidate = candidates[0] if isinstance(candidates, list) and candidates else None
    content: list[dict[str, Any]] = []
    if not isinstance(candidate, dict):
        feedback = resp.get("promptFeedback")
        if not (isinstance(feedback, dict) and feedback.get("blockReason")):
            raise TranslationError(
                "candidates: the upstream response has no candidates", param="candidates"
            )
        stop_reason = "refusal"
    else:
        has_calls = False
        body = candidate.get("content")
        parts = body.get("parts") if isinstance(body, dict) else None
        for part in parts or ():
            if not isinstance(part, dict):
                continue
            call = part.get("functionCall")
            if isinstance(call, dict):
                content.append(tool_use_block(call, part))
                has_calls = True
                continue
            text = part.get("text")
            if not isinstance(text, str) or not text:
                continue
            if part.get("thought"):
                last = content[-1] if content else None
                if last is not None and last["type"] == "thinking":
                    last["thinking"] += text
                else:
                    content.append({"type": "thinking", "thinking": text, "signature": ""})
            else:
                last = content[-1] if content else None
                if last is not None and last["type"] == "text":
                    last["text"] += text
                else:
                    content.append({"type": "text", "text": text})
        stop_reason = gemini_stop_reason(candidate.get("finishReason"), has_calls)
    usage = usage_from_gemini(resp.get("usageMetadata"))
    return anthropic_message(new_message_id(), model, content, stop_reason, None, usage)
