#!/usr/bin/env python3
"""A very fast fake model provider: OpenAI Chat Completions and Anthropic Messages.

Why it exists: to measure what a gateway *adds*, the upstream must cost almost
nothing and answer in the exact wire format real providers use, so the gateway
runs its real parsing, translation and streaming code. This server is raw
asyncio (uvloop when installed) + httptools with keep-alive and no framework;
responses are built once per (endpoint, model, stream, input size) and cached
as bytes, so the per-request cost is parsing the request and one write.

Endpoints (everything else is a 404 in the provider's error format):
  POST /v1/chat/completions   OpenAI; ``"stream": true`` gives SSE chunks
  POST /v1/messages           Anthropic; ``"stream": true`` gives the full event sequence
  GET  /v1/models             a small model list
  GET  /healthz               {"status":"ok"} (readiness probe for the harness)

Stream shape, ``--stream-chunks N`` (default 20):
  OpenAI:    role chunk (content "") + N content chunks + finish chunk
             (finish_reason "stop") + usage chunk (choices []) + ``data: [DONE]``.
             The usage chunk is always sent, as if ``stream_options.include_usage``
             were set (gateways set it to count tokens).
  Anthropic: message_start, content_block_start, ping, N x content_block_delta,
             content_block_stop, message_delta (stop_reason, usage), message_stop.
Streams use ``Transfer-Encoding: chunked``, one HTTP chunk per SSE event, like
the real APIs. With no delays, a whole response goes out in one write.

Usage tokens are fake but consistent: input = request body bytes / 4,
output = number of text pieces. Ids are fixed per cached response.

Run: python benchmarks/fake_provider.py --port 9100 [--delay-ms 0] [--stream-chunks 20]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import httptools

try:  # uvloop roughly doubles throughput; plain asyncio still works without it
    import uvloop
except ImportError:  # pragma: no cover - optional
    uvloop = None  # type: ignore[assignment]

try:  # msgspec decodes only the fields we need, skipping the rest fast
    import msgspec

    class _Req(msgspec.Struct):
        model: str = "fake-model"
        stream: bool = False

    _decode_req = msgspec.json.Decoder(_Req).decode

    def _read_request(body: bytes) -> tuple[str, bool]:
        req = _decode_req(body)
        return req.model, bool(req.stream)

    _DecodeError: tuple[type[Exception], ...] = (msgspec.DecodeError, msgspec.ValidationError)
except ImportError:  # pragma: no cover - fallback when msgspec is absent

    def _read_request(body: bytes) -> tuple[str, bool]:
        req = json.loads(body)
        if not isinstance(req, dict):
            raise TypeError("body is not a JSON object")
        return str(req.get("model") or "fake-model"), bool(req.get("stream"))

    _DecodeError = (ValueError, TypeError)

WORDS = (
    "Sure", ",", " here", " is", " a", " short", " answer", " from", " the", " fake",
    " provider", ":", " the", " gateway", " forwarded", " your", " request", " and", " this",
    " reply", " came", " back", " token", " by", " token", ".",
)
_CACHE_LIMIT = 512


def _j(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _pieces(n: int) -> list[str]:
    return [WORDS[i % len(WORDS)] for i in range(max(1, n))]


def _http_json(status: str, body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 " + status.encode() + b"\r\ncontent-type: application/json\r\n"
        + extra + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
)


def _chunk(data: str) -> bytes:
    raw = data.encode()
    return b"%x\r\n%b\r\n" % (len(raw), raw)


# -- OpenAI -------------------------------------------------------------------------------

def openai_response(model: str, stream: bool, in_tok: int, n: int) -> list[bytes]:
    """The response as parts to write in order (one part unless streaming)."""
    cid = "chatcmpl-FAKE0" + "0" * 24
    created = int(time.time())
    fp = "fp_fake0000ab"
    pieces = _pieces(n)
    usage = {
        "prompt_tokens": in_tok,
        "completion_tokens": len(pieces),
        "total_tokens": in_tok + len(pieces),
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    extra = b"x-request-id: req_fake0000000000000000000000\r\nopenai-processing-ms: 1\r\n"
    if not stream:
        body = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "".join(pieces),
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": fp,
        }
        return [_http_json("200 OK", _j(body).encode(), extra)]

    def chunk(delta: dict[str, Any], finish: str | None) -> str:
        obj = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": fp,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": None,
        }
        return "data: " + _j(obj) + "\n\n"

    events = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    events += [chunk({"content": p}, None) for p in pieces]
    events.append(chunk({}, "stop"))
    events.append(
        "data: "
        + _j({
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": fp,
            "choices": [],
            "usage": usage,
        })
        + "\n\n"
    )
    events.append("data: [DONE]\n\n")
    return _sse_parts(events, extra)


# -- Anthropic ----------------------------------------------------------------------------

def anthropic_response(model: str, stream: bool, in_tok: int, n: int) -> list[bytes]:
    mid = "msg_01FAKE" + "0" * 18
    pieces = _pieces(n)
    extra = b"request-id: req_01FAKE000000000000000000\r\nanthropic-organization-id: fake\r\n"
    if not stream:
        body = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "".join(pieces)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": in_tok,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                "output_tokens": len(pieces),
                "service_tier": "standard",
            },
        }
        return [_http_json("200 OK", _j(body).encode(), extra)]

    def ev(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {_j(data)}\n\n"

    events = [
        ev("message_start", {
            "type": "message_start",
            "message": {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": in_tok,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                    "output_tokens": 1,
                    "service_tier": "standard",
                },
            },
        }),
        ev("content_block_start", {
            "type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""},
        }),
        ev("ping", {"type": "ping"}),
    ]
    events += [
        ev("content_block_delta", {
            "type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p},
        })
        for p in pieces
    ]
    events += [
        ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ev("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {
                "input_tokens": in_tok,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": len(pieces),
            },
        }),
        ev("message_stop", {"type": "message_stop"}),
    ]
    return _sse_parts(events, extra)


def _sse_parts(events: list[str], extra: bytes) -> list[bytes]:
    """Headers ride with the first event; the terminating 0-chunk with the last."""
    parts = [_chunk(e) for e in events]
    parts[0] = _SSE_HEAD + extra + b"\r\n" + parts[0]
    parts[-1] += b"0\r\n\r\n"
    return parts


def _error(kind: str, status: str, message: str) -> bytes:
    if kind == "anthropic":
        body = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    else:
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
    return _http_json(status, _j(body).encode())


HEALTH = _http_json("200 OK", b'{"status":"ok"}')
MODELS = _http_json(
    "200 OK",
    _j({
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"}
            for m in ("gpt-4o-mini", "claude-sonnet-5-5", "fake-model")
        ],
    }).encode(),
)
NOT_FOUND = _error("openai", "404 Not Found", "no such endpoint on the fake provider")
BUILDERS: dict[bytes, tuple[str, Callable[[str, bool, int, int], list[bytes]]]] = {
    b"/v1/chat/completions": ("openai", openai_response),
    b"/v1/messages": ("anthropic", anthropic_response),
}


class Config:
    """Options shared by every connection, plus the response cache."""

    def __init__(self, delay_ms: float, chunk_delay_ms: float, stream_chunks: int) -> None:
        self.delay = delay_ms / 1000.0
        self.chunk_delay = chunk_delay_ms / 1000.0
        self.stream_chunks = stream_chunks
        self.cache: dict[tuple[bytes, str, bool, int], tuple[bytes, list[bytes]]] = {}

    def respond(self, method: bytes, path: bytes, body: bytes) -> tuple[bytes, list[bytes]]:
        """(the whole response, the same response as parts) for one request."""
        found = BUILDERS.get(path)
        if found is None:
            if method == b"GET" and path == b"/healthz":
                return HEALTH, [HEALTH]
            if method == b"GET" and path == b"/v1/models":
                return MODELS, [MODELS]
            return NOT_FOUND, [NOT_FOUND]
        kind, build = found
        if method != b"POST":
            err = _error(kind, "405 Method Not Allowed", "use POST")
            return err, [err]
        try:
            model, stream = _read_request(body)
        except _DecodeError as exc:
            err = _error(kind, "400 Bad Request", f"invalid JSON body: {exc}")
            return err, [err]
        in_tok = max(1, len(body) // 4)
        key = (path, model, stream, in_tok)
        hit = self.cache.get(key)
        if hit is None:
            parts = build(model, stream, in_tok, self.stream_chunks)
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            hit = self.cache[key] = (b"".join(parts), parts)
        return hit


class FakeProvider(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; pipelined requests are answered in order."""

    __slots__ = ("body", "cfg", "parser", "pending", "transport", "url", "worker")

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body = b""
        self.pending: collections.deque[tuple[list[bytes], bool]] = collections.deque()
        self.worker: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.worker is not None:
            self.worker.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reply(_error("openai", "400 Bad Request", "upgrade not supported"), [], close=True)
        except httptools.HttpParserError:
            self._reply(_error("openai", "400 Bad Request", "malformed HTTP request"), [], close=True)

    # httptools callbacks (no on_header: we need no header, and each callback costs a call)
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        whole, parts = self.cfg.respond(
            self.parser.get_method(), self.url.partition(b"?")[0], self.body
        )
        self._reply(whole, parts, close=not self.parser.should_keep_alive())

    def _reply(self, whole: bytes, parts: list[bytes], *, close: bool) -> None:
        transport = self.transport
        if transport is None:
            return
        if (self.cfg.delay or self.cfg.chunk_delay) and parts:
            self.pending.append((parts, close))
            if self.worker is None:
                self.worker = asyncio.get_running_loop().create_task(self._drain())
            return
        transport.write(whole)
        if close:
            transport.close()

    async def _drain(self) -> None:
        """Delayed responses, one at a time so pipelined replies keep their order."""
        try:
            while self.pending:
                parts, close = self.pending.popleft()
                if self.cfg.delay:
                    await asyncio.sleep(self.cfg.delay)
                for i, part in enumerate(parts):
                    if self.transport is None or self.transport.is_closing():
                        return
                    if i and self.cfg.chunk_delay:
                        await asyncio.sleep(self.cfg.chunk_delay)
                    self.transport.write(part)
                if close and self.transport is not None:
                    self.transport.close()
        finally:
            self.worker = None


async def serve(host: str, port: int, cfg: Config, exit_after: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: FakeProvider(cfg), host, port, backlog=4096, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if exit_after > 0:  # a safety net so a forgotten process cannot run forever
        loop.call_later(exit_after, stop.set)
    impl = "uvloop" if uvloop is not None and isinstance(loop, uvloop.Loop) else "asyncio"
    print(f"fake provider on http://{host}:{port} ({impl}, pid {os.getpid()})", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="wait before answering (time to first byte)")
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="wait between stream events")
    parser.add_argument("--stream-chunks", type=int, default=20, help="text pieces per response (default 20)")
    parser.add_argument("--exit-after", type=float, default=0.0, help="stop after this many seconds (0: never)")
    parser.add_argument("--no-uvloop", action="store_true", help="use the stock asyncio loop")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("warning: the fake provider is meant for loopback only", file=sys.stderr)
    cfg = Config(args.delay_ms, args.chunk_delay_ms, args.stream_chunks)
    factory = None if args.no_uvloop or uvloop is None else uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(args.host, args.port, cfg, args.exit_after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
