"""Raw ASGI plumbing for the AI endpoints: they skip Litestar's per-request layers on purpose."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from plugins.routing.model import GatewayError

__all__ = ["SSE_HEADERS", "read_body", "request_headers", "send_bytes", "send_json", "start_response"]

Send = Any
Receive = Any
MAX_BODY = 32 * 1024 * 1024
SSE_HEADERS = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
)
_JSON = ((b"content-type", b"application/json"),)


def request_headers(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


async def read_body(receive: Receive, limit: int = MAX_BODY) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise GatewayError(400, "client disconnected before sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise GatewayError(413, f"request body is larger than {limit // (1024 * 1024)} MiB")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _header_list(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]


async def start_response(send: Send, status: int, base: Iterable[tuple[bytes, bytes]], extra: dict[str, str]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*base, *_header_list(extra.items())]})


async def send_bytes(send: Send, data: bytes, *, more: bool) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


async def send_json(send: Send, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
    body = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
    await start_response(send, status, _JSON, extra or {})
    await send_bytes(send, body, more=False)
