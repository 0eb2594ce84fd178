"""Anthropic Messages SSE (upstream) -> OpenAI chat.completion.chunk SSE (client).

The OpenAI SDKs expect: a first chunk with delta {"role":"assistant","content":""}; content
and tool_call deltas (the first delta of a call has id, type and name, later ones only
arguments, all keyed by the call's `index`); a chunk with finish_reason; with
stream_options.include_usage a last chunk with empty choices and usage; then
`data: [DONE]`. A failure is a `data: {"error": {...}}` chunk and no [DONE], which the
SDKs raise as an APIError.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from ._common import ANTHROPIC_TO_OPENAI_STOP, encode, new_completion_id, usage_to_openai
from .errors import openai_error, openai_error_type, status_for_anthropic_error_type
from .sse import SSEParser

__all__ = ["AnthropicToOpenAIStream"]

_CHUNK_TAIL = b',"logprobs":null,"finish_reason":null}]}\n\n'
_DONE = b"data: [DONE]\n\n"
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


class _Event(msgspec.Struct):
    """The keys of an Anthropic stream event we read; `Any` so nothing fails validation."""

    type: Any = None
    index: Any = -1
    delta: Any = None
    content_block: Any = None
    message: Any = None
    usage: Any = None
    error: Any = None


_decode_event = msgspec.json.Decoder(_Event).decode


class AnthropicToOpenAIStream:
    """Feed upstream bytes as they arrive; send what feed() returns; call close() at the end.

    `message_id` is the completion id the client sees (default: chatcmpl- + the upstream
    message id); `created` defaults to now. `finished`, `failed` and `usage` mean what they
    mean on OpenAIToAnthropicStream; usage stays in Anthropic's terms for the usage event.
    """

    def __init__(
        self,
        *,
        model: str,
        message_id: str | None = None,
        input_tokens_estimate: int = 0,
        include_usage: bool = False,
        created: int | None = None,
    ) -> None:
        self.model = model
        self.completion_id = message_id
        self.created = int(time.time()) if created is None else created
        self.include_usage = include_usage
        self.finished = False
        self.failed = False
        self._parser = SSEParser()
        self._closed = False
        self._head = b""  # chunk bytes up to the delta object, once the id is known
        self._tools: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_call index
        self._finish_reason: str | None = None
        self._usage = {
            "input_tokens": input_tokens_estimate,
            "output_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        }

    @property
    def usage(self) -> dict[str, int]:
        return dict(self._usage)

    def feed(self, data: bytes) -> bytes:
        if self._closed:
            return b""
        out: list[bytes] = []
        for event, payload in self._parser.feed(data):
            if event == "ping":
                continue
            self._event(payload, out)
            if self._closed:
                break
        return b"".join(out)

    def close(self) -> bytes:
        """The upstream ended: after message_delta the answer is whole, so finish; before it
        the stream was cut, and the client gets an error chunk instead of [DONE]."""
        if self._closed:
            return b""
        out: list[bytes] = []
        for event, payload in self._parser.close():
            if event != "ping":
                self._event(payload, out)
            if self._closed:
                return b"".join(out)
        if self._finish_reason is not None:
            self._finish(out)
        else:
            self._fail(out, 500, "upstream stream ended unexpectedly")
        return b"".join(out)

    def ping(self) -> bytes:
        """A keep-alive while the upstream is silent: an SSE comment, which OpenAI SDKs skip."""
        return b"" if self._closed else b": ping\n\n"

    def error(self, status: int, message: str) -> bytes:
        if self._closed:
            return b""
        out: list[bytes] = []
        self._fail(out, status, message)
        return b"".join(out)

    # -- upstream events ------------------------------------------------------------------

    def _event(self, payload: bytes, out: list[bytes]) -> None:
        try:
            data = _decode_event(payload)
        except ValueError:
            return
        kind = data.type
        if kind == "content_block_delta":
            self._delta(data, out)
        elif kind == "content_block_start":
            self._block_start(data, out)
        elif kind == "message_start":
            message = data.message if isinstance(data.message, dict) else {}
            self._take_usage(message.get("usage"))
            self._begin(out, message.get("id"))
        elif kind == "message_delta":
            self._take_usage(data.usage)
            self._begin(out, None)
            delta = data.delta if isinstance(data.delta, dict) else {}
            stop = delta.get("stop_reason")
            reason = ANTHROPIC_TO_OPENAI_STOP.get(stop, "stop") if stop else None
            if reason is None:
                reason = "tool_calls" if self._tools else "stop"
            self._finish_chunk(reason, out)
        elif kind == "message_stop":
            self._begin(out, None)
            if self._finish_reason is None:
                self._finish_chunk("tool_calls" if self._tools else "stop", out)
            self._finish(out)
        elif kind == "error":
            error = data.error if isinstance(data.error, dict) else {}
            status = status_for_anthropic_error_type(error.get("type"))
            self._fail(out, status, str(error.get("message") or "upstream error"))
        # content_block_stop and unknown events carry nothing for an OpenAI client

    def _take_usage(self, usage: Any) -> None:
        """Anthropic reports cumulative counts; the latest known value of each wins."""
        if isinstance(usage, dict):
            for key in _USAGE_KEYS:
                value = usage.get(key)
                if isinstance(value, int):
                    self._usage[key] = value

    def _begin(self, out: list[bytes], message_id: str | None) -> None:
        if self._head:
            return
        if self.completion_id is None:
            self.completion_id = new_completion_id(message_id)
        self._head = (
            b'data: {"id":' + encode(self.completion_id)
            + b',"object":"chat.completion.chunk","created":' + str(self.created).encode()
            + b',"model":' + encode(self.model) + b',"choices":[{"index":0,"delta":'
        )
        out.append(self._head + b'{"role":"assistant","content":""}' + _CHUNK_TAIL)

    def _block_start(self, data: _Event, out: list[bytes]) -> None:
        self._begin(out, None)
        block = data.content_block if isinstance(data.content_block, dict) else {}
        kind = block.get("type")
        if kind == "tool_use":
            number = len(self._tools)
            self._tools[data.index] = number
            arguments = encode(block["input"]).decode() if block.get("input") else ""
            call = {
                "index": number,
                "id": block.get("id", ""),
                "type": "function",
                "function": {"name": block.get("name", ""), "arguments": arguments},
            }
            out.append(self._head + b'{"tool_calls":[' + encode(call) + b"]}" + _CHUNK_TAIL)
        elif kind == "text" and block.get("text"):
            out.append(self._head + b'{"content":' + encode(block["text"]) + b"}" + _CHUNK_TAIL)
        elif kind == "thinking" and block.get("thinking"):
            text = encode(block["thinking"])
            out.append(self._head + b'{"reasoning_content":' + text + b"}" + _CHUNK_TAIL)
        # server_tool_use, web search results, redacted_thinking: nothing an OpenAI client reads

    def _delta(self, data: _Event, out: list[bytes]) -> None:
        delta = data.delta if isinstance(data.delta, dict) else {}
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if text:
                self._begin(out, None)
                out.append(self._head + b'{"content":' + encode(text) + b"}" + _CHUNK_TAIL)
        elif kind == "thinking_delta":
            text = delta.get("thinking")
            if text:
                self._begin(out, None)
                out.append(self._head + b'{"reasoning_content":' + encode(text) + b"}" + _CHUNK_TAIL)
        elif kind == "input_json_delta":
            number = self._tools.get(data.index)
            partial = delta.get("partial_json")
            if number is not None and partial:
                out.append(
                    self._head + b'{"tool_calls":[{"index":' + str(number).encode()
                    + b',"function":{"arguments":' + encode(partial) + b"}}]}" + _CHUNK_TAIL
                )
        # signature_delta and citations_delta have no OpenAI field

    def _finish_chunk(self, reason: str, out: list[bytes]) -> None:
        self._finish_reason = reason
        tail = b'{},"logprobs":null,"finish_reason":"' + reason.encode() + b'"}]}\n\n'
        out.append(self._head + tail)

    def _finish(self, out: list[bytes]) -> None:
        self._begin(out, None)
        if self.include_usage:
            chunk = {
                "id": self.completion_id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": usage_to_openai(self._usage),
            }
            out.append(b"data: " + encode(chunk) + b"\n\n")
        out.append(_DONE)
        self.finished = True
        self._closed = True

    def _fail(self, out: list[bytes], status: int, message: str) -> None:
        body = openai_error(status, message, error_type=openai_error_type(status))
        out.append(b"data: " + encode(body) + b"\n\n")
        self.failed = True
        self._closed = True
