"""Request validation: a malformed body gets a 400 that names the field, in the client's shape.

Only the fields the gateway relies on are typed; the rest pass through untouched, so a
new provider feature never needs a gateway release.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from plugins.routing.model import GatewayError

__all__ = ["validate"]

_PositiveInt = Annotated[int, msgspec.Meta(ge=1)]


class _Message(msgspec.Struct):
    role: str
    content: str | list[dict[str, Any]] | None = None


class AnthropicRequest(msgspec.Struct):
    model: Annotated[str, msgspec.Meta(min_length=1)]
    messages: Annotated[list[_Message], msgspec.Meta(min_length=1)]
    max_tokens: _PositiveInt
    stream: bool = False
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None


class CountTokensRequest(msgspec.Struct):
    model: Annotated[str, msgspec.Meta(min_length=1)]
    messages: Annotated[list[_Message], msgspec.Meta(min_length=1)]
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None


class OpenAIRequest(msgspec.Struct):
    model: Annotated[str, msgspec.Meta(min_length=1)]
    messages: Annotated[list[_Message], msgspec.Meta(min_length=1)]
    stream: bool = False
    max_tokens: _PositiveInt | None = None
    max_completion_tokens: _PositiveInt | None = None
    n: int | None = None
    tools: list[dict[str, Any]] | None = None
    temperature: float | None = None
    top_p: float | None = None


SCHEMAS: dict[str, type[msgspec.Struct]] = {
    "anthropic": AnthropicRequest,
    "openai": OpenAIRequest,
    "count_tokens": CountTokensRequest,
}
_PATH = re.compile(r" - at `\$\.?(.*)`$")


def validate(kind: str, body: dict[str, Any]) -> None:
    """Raise a 400 naming the first bad field, e.g. ``max_tokens: Expected `int`, got `str```."""
    try:
        msgspec.convert(body, SCHEMAS[kind])
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _PATH.search(text)
        field = match.group(1) if match else ""
        reason = _PATH.sub("", text)
        if reason.startswith("Object missing required field"):
            missing = reason.rsplit("`", 2)[-2]
            field = f"{field}.{missing}" if field else missing
            reason = "field required"
        raise GatewayError(400, f"{field or 'body'}: {reason}", param=field or None,
                           error_type="invalid_request_error") from None
