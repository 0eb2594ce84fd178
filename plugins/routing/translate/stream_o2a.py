"""OpenAI chat.completion.chunk SSE (upstream) -> Anthropic Messages SSE (client).

Claude Code and the Anthropic SDKs accumulate the stream by block index, so the output
keeps Anthropic's grammar exactly: message_start; per block content_block_start, deltas,
content_block_stop, one block at a time with contiguous indices; message_delta (stop
reason and final usage); message_stop. An error ends the stream with `event: error`.

Two things OpenAI streams do that Anthropic's grammar cannot express directly:
- several tool calls may interleave (deltas keyed by `index`): the open tool block streams
  live; another call's fragments wait until the open call's arguments parse as complete
  JSON (or until the turn ends), then follow in their own block, fragments unchanged;
- usage comes in a chunk after the finish_reason one (stream_options.include_usage): the
  message_delta waits for it, or for [DONE], or for the end of the upstream.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._common import (
    anthropic_stop_reason,
    decode,
    encode,
    new_message_id,
    new_tool_use_id,
    usage_from_openai,
)
from .errors import anthropic_error
from .sse import COMMENT, SSEParser, anthropic_sse

__all__ = ["OpenAIToAnthropicStream"]

_TEXT, _THINKING, _TOOL = 1, 2, 3
_DELTA_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_DELTA_MID = {
    _TEXT: b',"delta":{"type":"text_delta","text":',
    _THINKING: b',"delta":{"type":"thinking_delta","thinking":',
    _TOOL: b',"delta":{"type":"input_json_delta","partial_json":',
}
_DELTA_TAIL = b"}}\n\n"
_PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_DONE = b"[DONE]"


class _Chunk(msgspec.Struct):
    """The only keys of a chunk we read; decoding into it skips id, model, fingerprint and
    the rest without building them (~30% faster than a dict). `Any` so that no provider
    quirk can fail validation."""

    choices: Any = None
    usage: Any = None
    error: Any = None


_decode_chunk = msgspec.json.Decoder(_Chunk).decode


class _Tool:
    """One upstream tool call: what has arrived, and where it stands in the output."""

    __slots__ = ("checked", "complete", "done", "fragments", "id", "name", "opened", "queued")

    def __init__(self, tool_id: str, name: str) -> None:
        self.id = tool_id
        self.name = name
        self.fragments: list[str] = []
        self.opened = False
        self.queued = False
        self.done = False
        self.complete = False
        self.checked = 0

    def is_complete(self) -> bool:
        """Do the arguments so far parse? Re-checked only when fragments were added."""
        if not self.complete and self.checked != len(self.fragments):
            self.checked = len(self.fragments)
            try:
                decode("".join(self.fragments))
                self.complete = True
            except ValueError:
                pass
        return self.complete


class OpenAIToAnthropicStream:
    """Feed upstream bytes as they arrive; send what feed() returns; call close() at the end.

    `finished` is True once the stream ended properly (message_stop sent); `failed` once an
    error event was sent. After either, feed() returns b"". `usage` is Anthropic-shaped and
    estimated (output ~ characters / 4) until the upstream reports real numbers.
    """

    def __init__(
        self, *, model: str, message_id: str | None = None, input_tokens_estimate: int = 0
    ) -> None:
        self.model = model
        self.message_id = message_id or new_message_id()
        self.finished = False
        self.failed = False
        self._input_estimate = input_tokens_estimate
        self._parser = SSEParser(keep_comments=True)
        self._closed = False
        self._started = False
        self._next_index = 0
        self._kind = 0  # kind of the open block, 0 when none is open
        self._index = -1
        self._prefix = b""  # delta event bytes up to the JSON string, for the open block
        self._active: _Tool | None = None
        self._tools: dict[Any, _Tool] = {}
        self._waiting: list[_Tool] = []
        self._any_tool = False
        self._refusal = False
        self._signature = ""
        self._stop: tuple[str, str | None] | None = None
        self._usage: dict[str, int] | None = None
        self._chars = 0

    # -- public ---------------------------------------------------------------------------

    @property
    def usage(self) -> dict[str, int]:
        """input/output/cache tokens as known so far (Anthropic's meaning of each)."""
        if self._usage is not None:
            return dict(self._usage)
        return {
            "input_tokens": self._input_estimate,
            "output_tokens": (self._chars + 3) // 4,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        }

    @property
    def usage_estimated(self) -> bool:
        """True while no usage came from the upstream (billing may want to know)."""
        return self._usage is None

    def feed(self, data: bytes) -> bytes:
        if self._closed:
            return b""
        out: list[bytes] = []
        for event, payload in self._parser.feed(data):
            self._event(event, payload, out)
            if self._closed:
                break
        return b"".join(out)

    def close(self) -> bytes:
        """The upstream ended. A finish_reason or [DONE] seen: finish properly. Otherwise the
        stream was cut, and the client gets an error event, never a made-up success."""
        if self._closed:
            return b""
        out: list[bytes] = []
        for event, payload in self._parser.close():
            self._event(event, payload, out)
            if self._closed:
                return b"".join(out)
        if self._stop is not None:
            self._finish(out)
        else:
            self._fail(out, 500, "upstream stream ended unexpectedly", "api_error")
        return b"".join(out)

    def ping(self) -> bytes:
        """A keep-alive to send while the upstream is silent: message_start first if it has
        not gone out yet, then an Anthropic `ping` event (what the real API sends)."""
        if self._closed:
            return b""
        out: list[bytes] = []
        self._start(out)
        out.append(_PING)
        return b"".join(out)

    def error(self, status: int, message: str) -> bytes:
        """An error mid-stream (upstream broke, timeout, ...) as an Anthropic error event."""
        if self._closed:
            return b""
        out: list[bytes] = []
        self._fail(out, status, message)
        return b"".join(out)

    # -- upstream events ------------------------------------------------------------------

    def _event(self, event: str | None, payload: bytes, out: list[bytes]) -> None:
        if event == COMMENT:  # an upstream keep-alive becomes ours
            self._start(out)
            out.append(_PING)
            return
        if payload == _DONE:
            self._finish(out)
            return
        try:
            chunk = _decode_chunk(payload)
        except ValueError:
            if event == "error":
                self._upstream_error(payload.decode("utf-8", "replace"), out)
            return  # not a JSON object (a provider's own keep-alive text): nothing to translate
        error = chunk.error
        if error or event == "error":
            self._upstream_error(error if error else decode(payload), out)
            return
        self._start(out)
        choices = chunk.choices
        if choices and isinstance(choices, list) and isinstance(choices[0], dict):
            choice = choices[0]
            delta = choice.get("delta")
            if delta and isinstance(delta, dict):
                self._delta(delta, out)
            reason = choice.get("finish_reason")
            if reason:
                if reason == "error":
                    self._fail(out, 502, "the upstream model failed mid-stream (finish_reason=error)")
                    return
                self._close_all(out)
                self._stop = anthropic_stop_reason(reason, choice, self._any_tool)
                if self._refusal and not self._any_tool:
                    self._stop = ("refusal", None)
        usage = chunk.usage
        if usage and isinstance(usage, dict):
            self._usage = usage_from_openai(usage)
            if self._stop is not None:
                self._finish(out)

    def _delta(self, delta: dict[str, Any], out: list[bytes]) -> None:
        if len(delta) == 1:  # the common {"content": "..."} delta: skip the other lookups
            content = delta.get("content")
            if content.__class__ is str:
                if content:
                    self._content(_TEXT, content, out)
                return
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        details = delta.get("reasoning_details")
        if isinstance(details, list) and details:
            texts = []
            for item in details:
                if isinstance(item, dict):
                    if item.get("signature"):
                        self._signature = item["signature"]
                    if item.get("type") == "reasoning.text" and item.get("text"):
                        texts.append(item["text"])
            if not reasoning and texts:
                reasoning = "".join(texts)
        if reasoning and isinstance(reasoning, str):
            self._content(_THINKING, reasoning, out)
        content = delta.get("content")
        if content:
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            if content:
                self._content(_TEXT, content, out)
        refusal = delta.get("refusal")
        if refusal and isinstance(refusal, str):
            self._refusal = True
            self._content(_TEXT, refusal, out)
        calls = delta.get("tool_calls")
        if calls:
            for call in calls:
                self._tool_delta(call, out)
        legacy = delta.get("function_call")
        if isinstance(legacy, dict):
            self._tool_delta({"index": "function_call", "function": legacy}, out)

    def _upstream_error(self, error: Any, out: list[bytes]) -> None:
        """{"error": {...}} in a chunk (OpenRouter, vLLM) or an `event: error`."""
        status, message = 502, "upstream error"
        if isinstance(error, dict):
            inner = error.get("error") if isinstance(error.get("error"), dict) else error
            message = str(inner.get("message") or message)
            for key in ("code", "status"):
                code = inner.get(key)
                if isinstance(code, int) and 400 <= code < 600:
                    status = code
                    break
        elif isinstance(error, str):
            message = error
        self._fail(out, status, message)

    # -- output ---------------------------------------------------------------------------

    def _start(self, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        message = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self._input_estimate,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            },
        }
        out.append(anthropic_sse("message_start", {"type": "message_start", "message": message}))

    def _open(self, kind: int, block: dict[str, Any], out: list[bytes]) -> None:
        index = self._next_index
        self._next_index += 1
        self._kind, self._index = kind, index
        self._prefix = _DELTA_HEAD + str(index).encode() + _DELTA_MID[kind]
        event = {"type": "content_block_start", "index": index, "content_block": block}
        out.append(anthropic_sse("content_block_start", event))

    def _close_block(self, out: list[bytes]) -> None:
        if not self._kind:
            return
        if self._kind == _THINKING:
            delta = {"type": "signature_delta", "signature": self._signature}
            event = {"type": "content_block_delta", "index": self._index, "delta": delta}
            out.append(anthropic_sse("content_block_delta", event))
            self._signature = ""
        elif self._active is not None:
            self._active.done = True
            self._active = None
        stop = {"type": "content_block_stop", "index": self._index}
        out.append(anthropic_sse("content_block_stop", stop))
        self._kind = 0

    def _close_all(self, out: list[bytes]) -> None:
        """Close the open block, then give every waiting tool call its block."""
        self._close_block(out)
        waiting, self._waiting = self._waiting, []
        for tool in waiting:
            self._open_tool(tool, out)
            self._close_block(out)

    def _content(self, kind: int, text: str, out: list[bytes]) -> None:
        """Text or thinking: never an empty block, and a kind switch closes the open block."""
        if self._kind != kind:
            self._close_all(out)
            block: dict[str, Any] = (
                {"type": "text", "text": ""}
                if kind == _TEXT
                else {"type": "thinking", "thinking": "", "signature": ""}
            )
            self._open(kind, block, out)
        self._chars += len(text)
        out.append(self._prefix + encode(text) + _DELTA_TAIL)

    def _open_tool(self, tool: _Tool, out: list[bytes]) -> None:
        block = {"type": "tool_use", "id": tool.id, "name": tool.name, "input": {}}
        self._open(_TOOL, block, out)
        self._active = tool
        tool.opened = True
        self._any_tool = True
        prefix = self._prefix
        for fragment in tool.fragments:
            out.append(prefix + encode(fragment) + _DELTA_TAIL)

    def _tool_delta(self, call: dict[str, Any], out: list[bytes]) -> None:
        key = call.get("index")
        if key is None:  # a few providers omit index: key by id, else the latest call
            key = call.get("id") or (next(reversed(self._tools)) if self._tools else 0)
        function = call.get("function") or {}
        tool = self._tools.get(key)
        if tool is None:
            tool = _Tool(call.get("id") or new_tool_use_id(), function.get("name") or "")
            self._tools[key] = tool
        elif not tool.name and not tool.opened and function.get("name"):
            tool.name = function["name"]
        arguments = function.get("arguments")
        if tool.done:
            return  # its block is closed; a late fragment has nowhere to go (README.md)
        if arguments:
            tool.fragments.append(arguments)
            self._chars += len(arguments)
        if tool is self._active:
            if arguments:
                out.append(self._prefix + encode(arguments) + _DELTA_TAIL)
            return
        if not tool.queued:
            tool.queued = True
            self._waiting.append(tool)
        self._advance(out)

    def _advance(self, out: list[bytes]) -> None:
        """Open waiting tool calls in order while the open block may be closed: it is text or
        thinking, or a tool call whose arguments are already complete JSON."""
        while self._waiting:
            active = self._active
            if self._kind == _TOOL and active is not None and not active.is_complete():
                return
            self._close_block(out)
            self._open_tool(self._waiting.pop(0), out)

    def _finish(self, out: list[bytes]) -> None:
        if self._closed:
            return
        self._start(out)
        self._close_all(out)
        stop_reason, stop_sequence = self._stop or anthropic_stop_reason(None, {}, self._any_tool)
        if self._usage is not None:
            u = self._usage
            usage = {
                "input_tokens": u["input_tokens"],
                "cache_creation_input_tokens": u["cache_creation_input_tokens"],
                "cache_read_input_tokens": u["cache_read_input_tokens"],
                "output_tokens": u["output_tokens"],
            }
        else:
            usage = {"output_tokens": (self._chars + 3) // 4}
        delta = {"stop_reason": stop_reason, "stop_sequence": stop_sequence}
        event = {"type": "message_delta", "delta": delta, "usage": usage}
        out.append(anthropic_sse("message_delta", event))
        out.append(_MESSAGE_STOP)
        self.finished = True
        self._closed = True

    def _fail(self, out: list[bytes], status: int, message: str, error_type: str | None = None) -> None:
        out.append(anthropic_sse("error", anthropic_error(status, message, error_type=error_type)))
        self.failed = True
        self._closed = True
