"""Error bodies in each API's own shape, and a readable message out of any upstream error.

Clients branch on the HTTP status and the error `type`, and show the `message`; so the
type follows the status the way each API documents it, and the message is whatever the
upstream said, never a raw HTML page.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from ._common import decode

__all__ = [
    "anthropic_error",
    "anthropic_error_type",
    "error_message_from_upstream",
    "openai_error",
    "openai_error_type",
    "status_for_anthropic_error_type",
]

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}

_STATUS_OF_ANTHROPIC_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def anthropic_error_type(status: int) -> str:
    """Anthropic's documented type for a status; other 4xx are invalid_request_error, 5xx api_error.

    503 is the upstream saying "busy, retry": that is overloaded_error by meaning; 504 is
    Anthropic's own timeout_error (in the SDK's ErrorType since 2025).
    """
    found = _ANTHROPIC_TYPES.get(status)
    if found is not None:
        return found
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def openai_error_type(status: int) -> str:
    """The `type` an OpenAI-shaped error carries; SDKs branch on the status, people read this."""
    found = _OPENAI_TYPES.get(status)
    if found is not None:
        return found
    return "invalid_request_error" if 400 <= status < 500 else "server_error"


def status_for_anthropic_error_type(error_type: str | None, default: int = 500) -> int:
    """The HTTP status an Anthropic error type stands for (used for mid-stream error events)."""
    return _STATUS_OF_ANTHROPIC_TYPE.get(error_type or "", default)


def anthropic_error(status: int, message: str, *, error_type: str | None = None) -> dict[str, Any]:
    """{"type":"error","error":{"type":...,"message":...}}, the Anthropic error body and event."""
    return {
        "type": "error",
        "error": {"type": error_type or anthropic_error_type(status), "message": message},
    }


def openai_error(
    status: int,
    message: str,
    *,
    error_type: str | None = None,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """{"error":{"message","type","param","code"}}: all four keys, as OpenAI always sends them."""
    return {
        "error": {
            "message": message,
            "type": error_type or openai_error_type(status),
            "param": param,
            "code": code,
        }
    }


_MAX_MESSAGE = 2000
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _from_json(value: Any) -> str | None:
    """The message in the shapes seen in the wild: Anthropic and OpenAI ({"error":{...}}),
    OpenRouter (with metadata.raw from the provider behind it), Google ([{"error":...}]),
    FastAPI/vLLM ({"detail": ...}) and plain {"message": ...}."""
    if isinstance(value, list) and value:
        return _from_json(value[0])
    if not isinstance(value, dict):
        return None
    error = value.get("error")
    if isinstance(error, str) and error:
        return error
    if isinstance(error, dict):
        message = error.get("message")
        text = message if isinstance(message, str) and message else None
        metadata = error.get("metadata")
        raw = metadata.get("raw") if isinstance(metadata, dict) else None
        if isinstance(raw, str) and raw and raw != text:
            text = f"{text}: {raw}" if text else raw
        if text:
            return text
        nested = _from_json(error)
        if nested:
            return nested
    for key in ("message", "detail", "msg", "error_message"):
        item = value.get(key)
        if isinstance(item, str) and item:
            return item
        if isinstance(item, list) and item:
            first = item[0]
            if isinstance(first, dict) and isinstance(first.get("msg"), str):
                loc = first.get("loc")
                where = ".".join(str(p) for p in loc) + ": " if isinstance(loc, list) and loc else ""
                return where + first["msg"]
    return None


def error_message_from_upstream(status: int, body: bytes) -> str:
    """A short human message out of an upstream error body in either API's shape or plain text.

    Best effort by design: the body may be JSON, a proxy's HTML page, or empty. The status
    phrase stands in when nothing readable is there.
    """
    fallback = f"upstream returned HTTP {status}"
    try:
        fallback += f" {HTTPStatus(status).phrase}"
    except ValueError:
        pass
    stripped = body.strip()
    if not stripped:
        return fallback
    if stripped[:1] in (b"{", b"["):
        try:
            found = _from_json(decode(stripped))
        except ValueError:
            found = None
        if found:
            return found[:_MAX_MESSAGE]
    if stripped[:1] == b"<":
        title = _TITLE.search(stripped)
        if title:
            text = b" ".join(title.group(1).split()).decode("utf-8", "replace")
            return f"{fallback}: {text}"[:_MAX_MESSAGE]
        return fallback
    text = stripped.decode("utf-8", "replace")
    return text[:_MAX_MESSAGE]
