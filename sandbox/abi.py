"""ABI version 1 between the host and a guest module: names, payloads, decisions.

The guest exports ``sy_abi_version() -> i32``, ``sy_input(len) -> ptr`` (a buffer it keeps
and grows) and one ``sy_<hook>(len) -> i64`` per hook, returning ``ptr << 32 | len`` of the
JSON answer it wrote. Inputs and answers are JSON (msgspec); the shapes are here and in
``sandbox/ABI.md``. An answer that does not decode into its hook's shape is a fault.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import msgspec

if TYPE_CHECKING:
    from plugins.routing.model import GatewayRequest

__all__ = [
    "ABI_VERSION",
    "CORE_IMPORTS",
    "HOOK_EXPORTS",
    "OUTPUTS",
    "OnRequestOut",
    "OnResponseOut",
    "OnUsageOut",
    "OutputError",
    "Rejection",
    "RouteOut",
    "decode_output",
    "encode_input",
    "request_view",
    "unpack",
]

ABI_VERSION = 1
HOOK_EXPORTS = {
    "on_request": "sy_on_request",
    "route": "sy_route",
    "on_response": "sy_on_response",
    "on_usage": "sy_on_usage",
}
REQUIRED_EXPORTS = ("memory", "sy_abi_version", "sy_input")
IMPORT_MODULE = "switchyard"
CORE_IMPORTS = ("abort", "result")  # always linked; every other import needs a capability

_encode = msgspec.json.Encoder().encode


class OutputError(ValueError):
    """The guest's answer is not what its hook promises."""


class Rejection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    status: Annotated[int, msgspec.Meta(ge=400, le=599)] = 403


class OnRequestOut(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """``{}`` changes nothing; ``body`` replaces the request body; ``reject`` refuses it."""

    body: dict[str, Any] | None = None
    reject: Rejection | None = None


class RouteOut(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """``{"route": "provider,model"}`` chooses; ``{}`` leaves it to the next router."""

    route: Annotated[str, msgspec.Meta(pattern=r"^[^,\s]+,[^\s]+$", max_length=300)] | None = None
    reason: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,40}$")] | None = None


class OnResponseOut(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    response: dict[str, Any] | None = None


class OnUsageOut(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    pass


OUTPUTS: dict[str, type[msgspec.Struct]] = {
    "on_request": OnRequestOut,
    "route": RouteOut,
    "on_response": OnResponseOut,
    "on_usage": OnUsageOut,
}
_DECODERS = {hook: msgspec.json.Decoder(kind) for hook, kind in OUTPUTS.items()}


def unpack(result: Any) -> tuple[int, int]:
    """``ptr << 32 | len`` -> (ptr, len); OutputError if it is not an i64 of that form."""
    if not isinstance(result, int) or result < 0:
        raise OutputError(f"expected ptr<<32|len as a non-negative i64, got {result!r}")
    return result >> 32, result & 0xFFFFFFFF


def encode_input(hook: str, payload: dict[str, Any]) -> bytes:
    """The bytes written into the guest's input buffer: ``{"hook": ..., **payload}``."""
    return _encode({"hook": hook, **payload})


def decode_output(hook: str, raw: bytes) -> msgspec.Struct:
    try:
        return _DECODERS[hook].decode(raw)
    except msgspec.DecodeError as exc:
        preview = raw[:80].decode("utf-8", "replace")
        raise OutputError(f"answer is not a valid {hook} decision ({exc}); got {preview!r}") from None


def request_view(req: GatewayRequest) -> dict[str, Any]:
    """What a guest sees of a request: never its headers (they carry the client's keys)."""
    principal = req.principal
    return {
        "client_api": req.client_api,
        "path": req.path,
        "request_id": req.request_id,
        "model": req.body.get("model"),
        "stream": req.stream,
        "token_estimate": req.token_estimate,
        "session_id": req.session_id,
        "user": principal.user,
        "workspace": principal.workspace,
        "key_id": principal.key_id,
        "body": req.body,
    }
