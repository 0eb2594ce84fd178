"""A recording fake provider on a real socket: OpenAI and Anthropic shapes, streaming, and failures.

It stands in for the real providers, which are outside this machine; answers follow the
public API formats so the gateway's translation is tested against what providers send.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeUpstream:
    base: str = ""
    requests: list[Recorded] = field(default_factory=list)
    tool_call: bool = False

    def last(self, path_suffix: str = "") -> Recorded:
        matching = [r for r in self.requests if r.path.endswith(path_suffix)]
        assert matching, f"no request reached the fake upstream at *{path_suffix}"
        return matching[-1]


def _openai_answer(body: dict[str, Any], tool: bool) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "Hi from the fake OpenAI provider."}
    finish = "stop"
    if tool and body.get("tools"):
        name = body["tools"][0]["function"]["name"]
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_fake1", "type": "function", "function": {"name": name, "arguments": '{"city": "Paris"}'}}]}
        finish = "tool_calls"
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28,
                      "prompt_tokens_details": {"cached_tokens": 5}}}


def _openai_stream(body: dict[str, Any], cut: bool) -> list[bytes]:
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": body["model"]}
    chunks = [dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    for word in ["Hi ", "from ", "the ", "fake ", "stream."]:
        chunks.append(dict(base, choices=[{"index": 0, "delta": {"content": word}, "finish_reason": None}]))
    if cut:
        return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks[:3]]
    chunks.append(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    chunks.append(dict(base, choices=[], usage={"prompt_tokens": 21, "completion_tokens": 5, "total_tokens": 26}))
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]


def _anthropic_answer(body: dict[str, Any]) -> dict[str, Any]:
    return {"id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "text", "text": "Hi from the fake Anthropic provider."}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 8}}


def _app(state: FakeUpstream) -> web.Application:
    async def record(request: web.Request) -> dict[str, Any]:
        body = await request.json()
        state.requests.append(Recorded(request.path, dict(request.headers), body))
        return body

    async def openai(request: web.Request) -> web.StreamResponse:
        body = await record(request)
        mode = request.match_info.get("mode", "ok")
        if mode == "fail":
            return web.json_response({"error": {"message": "fake upstream exploded", "type": "server_error"}}, status=500)
        if mode == "ratelimit":
            return web.json_response({"error": {"message": "slow down", "type": "rate_limit"}}, status=429,
                                     headers={"retry-after": "0"})
        if mode == "bad":
            return web.json_response({"error": {"message": "model 'x' does not exist", "type": "invalid_request_error"}},
                                     status=404)
        if mode == "slow":
            await asyncio.sleep(5)
        if not body.get("stream"):
            return web.json_response(_openai_answer(body, state.tool_call))
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        if mode == "lazy":  # headers at once, first token a second later, like a thinking model
            await asyncio.sleep(1.0)
        for chunk in _openai_stream(body, cut=mode == "cut"):
            await response.write(chunk)
            await asyncio.sleep(0.005)
        if mode == "cut":
            request.transport.close() if request.transport else None
            return response
        await response.write_eof()
        return response

    async def anthropic(request: web.Request) -> web.StreamResponse:
        body = await record(request)
        if not body.get("stream"):
            return web.json_response(_anthropic_answer(body))
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        answer = _anthropic_answer(body)
        events = [
            ("message_start", {"type": "message_start", "message": dict(answer, content=[], stop_reason=None)}),
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi from the fake "}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Anthropic provider."}}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 8}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        for name, data in events:
            await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        await response.write_eof()
        return response

    async def gemini(request: web.Request) -> web.StreamResponse:
        await record(request)
        model, _, action = request.match_info["target"].partition(":")
        usage = {"promptTokenCount": 14, "candidatesTokenCount": 6, "totalTokenCount": 20}
        if action == "generateContent":
            return web.json_response({"candidates": [{"content": {"role": "model", "parts": [
                {"text": f"Hi from the fake Gemini ({model})."}]}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": usage, "modelVersion": model})
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        pieces = ["Hi from ", "the fake ", "Gemini stream."]
        for number, piece in enumerate(pieces):
            chunk: dict[str, Any] = {"candidates": [{"content": {"role": "model", "parts": [{"text": piece}]},
                                                     "index": 0}], "modelVersion": model}
            if number == len(pieces) - 1:
                chunk["candidates"][0]["finishReason"] = "STOP"
                chunk["usageMetadata"] = usage
            await response.write(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1beta/models/{target}", gemini)
    app.router.add_post("/v1/chat/completions", openai)
    app.router.add_post("/{mode}/v1/chat/completions", openai)
    app.router.add_post("/v1/messages", anthropic)
    return app


@contextmanager
def fake_upstream() -> Iterator[FakeUpstream]:
    """Run the fake on 127.0.0.1 in a background thread for the duration of the block."""
    state = FakeUpstream()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner = web.AppRunner(_app(state), access_log=None)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        state.base = f"http://127.0.0.1:{port}"
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10), "fake upstream did not start"
    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        time.sleep(0)


@dataclass
class FakeProxy:
    base: str = ""
    request_lines: list[str] = field(default_factory=list)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@contextmanager
def recording_proxy() -> Iterator[FakeProxy]:
    """A plain HTTP forward proxy that records each connection's first request line."""
    state = FakeProxy()
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line, _, rest = head.partition(b"\r\n")
        method, target, version = line.decode().split(" ")
        state.request_lines.append(f"{method} {target}")
        hostport, _, path = target.removeprefix("http://").partition("/")
        host, _, port = hostport.partition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port or 80))
        up_writer.write(f"{method} /{path} {version}\r\n".encode() + rest)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def serve() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0))
        state.base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10), "proxy did not start"
    try:
        yield state
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
