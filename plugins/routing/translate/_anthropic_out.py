"""The Anthropic Messages SSE side shared by every "<upstream> -> Anthropic client" stream.

Why one class: Claude Code and the Anthropic SDKs accumulate a stream by block index, so
every translator must emit exactly the same grammar: message_start; blocks one at a time
with contiguous indices (content_block_start, deltas, content_block_stop, a thinking block
closed by a signature_delta); message_delta (stop reason, final usage); message_stop; or an
`event: error` and then nothing. Written once here, a fix to that grammar reaches the
OpenAI and the Gemini translators alike; each of them only parses its own upstream
(`_event`) and calls the primitives below.

Why inheritance rather than a helper object: text/thinking deltas are the per-event hot
path, and `self._content` costs one attribute lookup where a composed writer would cost two.
"""

from __future__ import annotations

from typing import Any

from ._common import anthropic_message, encode, new_message_id
from .errors import anthropic_error
from .sse import COMMENT, SSEParser, anthropic_sse

__all__ = ["DELTA_TAIL", "TEXT", "THINKING", "TOOL", "AnthropicStreamOut"]

TEXT, THINKING, TOOL = 1, 2, 3
"""Kinds of the open block (0: none open)."""

# A content_block_delta is HEAD + index + MID[kind] + JSON string + TAIL: the same bytes as
# anthropic_sse() would make, built without encoding a dict per delta.
_DELTA_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_DELTA_MID = {
    TEXT: b',"delta":{"type":"text_delta","text":',
    THINKING: b',"delta":{"type":"thinking_delta","thinking":',
    TOOL: b',"delta":{"type":"input_json_delta","partial_json":',
}
DELTA_TAIL = b"}}\n\n"
_PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


class AnthropicStreamOut:
    """Feed upstream bytes as they arrive; send what feed() returns; call close() at the end.

    `finished` is True once message_stop went out; `failed` once an error event did; after
    either, every call returns b"". `usage` is Anthropic-shaped; output is estimated at
    characters / 4 until the upstream reports real numbers.

    Subclasses implement `_event(event, payload, out)` for each upstream event (comments,
    i.e. keep-alives, are answered with a ping here) and append to `out`. State they may
    set: `_usage` (upstream usage, Anthropic-shaped), `_any_tool`, `_signature` (for the
    thinking block's signature_delta).
    """

    _estimate_zero_output = False
    """Report estimated output while the upstream's own count is still 0 (Gemini sends
    usageMetadata on early chunks, before it counts any output)."""

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
        self._any_tool = False
        self._signature = ""
        self._usage: dict[str, int] | None = None
        self._chars = 0

    # -- public ---------------------------------------------------------------------------

    @property
    def usage(self) -> dict[str, int]:
        """input/output/cache tokens as known so far (Anthropic's meaning of each)."""
        if self._usage is not None:
            usage = dict(self._usage)
            if self._estimate_zero_output and not usage["output_tokens"]:
                usage["output_tokens"] = (self._chars + 3) // 4
            return usage
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
        # The loop is written out here, not shared with close(): feed() runs once per
        # upstream read, and a helper call there is measurable.
        for event, payload in self._parser.feed(data):
            if event == COMMENT:  # an upstream keep-alive becomes ours
                self._ping(out)
            else:
                self._event(event, payload, out)
            if self._closed:
                break
        return b"".join(out)

    def close(self) -> bytes:
        """The upstream ended: `_upstream_ended` decides between finishing and an error."""
        if self._closed:
            return b""
        out: list[bytes] = []
        for event, payload in self._parser.close():
            if event == COMMENT:
                self._ping(out)
            else:
                self._event(event, payload, out)
            if self._closed:
                return b"".join(out)
        self._upstream_ended(out)
        return b"".join(out)

    def ping(self) -> bytes:
        """A keep-alive to send while the upstream is silent: message_start first if it has
        not gone out yet, then an Anthropic `ping` event (what the real API sends)."""
        if self._closed:
            return b""
        out: list[bytes] = []
        self._ping(out)
        return b"".join(out)

    def error(self, status: int, message: str) -> bytes:
        """An error mid-stream (upstream broke, timeout, ...) as an Anthropic error event."""
        if self._closed:
            return b""
        out: list[bytes] = []
        self._fail(out, status, message)
        return b"".join(out)

    # -- for subclasses -------------------------------------------------------------------

    def _event(self, event: str | None, payload: bytes, out: list[bytes]) -> None:
        raise NotImplementedError

    def _upstream_ended(self, out: list[bytes]) -> None:
        """End of upstream with the message unfinished: the stream was cut, and the client
        gets an error event, never a made-up success."""
        self._fail(out, 500, "upstream stream ended unexpectedly", "api_error")

    def _ping(self, out: list[bytes]) -> None:
        self._start(out)
        out.append(_PING)

    def _start(self, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        known = self._usage
        usage = {
            "input_tokens": known["input_tokens"] if known else self._input_estimate,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": known["cache_read_input_tokens"] if known else 0,
            "output_tokens": 1,
        }
        message = anthropic_message(self.message_id, self.model, [], None, None, usage)
        out.append(anthropic_sse("message_start", {"type": "message_start", "message": message}))

    def _open(self, kind: int, block: dict[str, Any], out: list[bytes]) -> None:
        """content_block_start for the next index; the caller has closed the previous block."""
        index = self._next_index
        self._next_index += 1
        self._kind, self._index = kind, index
        self._prefix = _DELTA_HEAD + str(index).encode() + _DELTA_MID[kind]
        event = {"type": "content_block_start", "index": index, "content_block": block}
        out.append(anthropic_sse("content_block_start", event))

    def _close_block(self, out: list[bytes]) -> None:
        if not self._kind:
            return
        if self._kind == THINKING:
            delta = {"type": "signature_delta", "signature": self._signature}
            event = {"type": "content_block_delta", "index": self._index, "delta": delta}
            out.append(anthropic_sse("content_block_delta", event))
            self._signature = ""
        stop = {"type": "content_block_stop", "index": self._index}
        out.append(anthropic_sse("content_block_stop", stop))
        self._kind = 0

    def _close_all(self, out: list[bytes]) -> None:
        """Close everything before another kind of block or the end (a subclass that holds
        back blocks flushes them here)."""
        self._close_block(out)

    def _content(self, kind: int, text: str, out: list[bytes]) -> None:
        """Text or thinking: never an empty block, and a kind switch closes the open block."""
        if self._kind != kind:
            self._close_all(out)
            block: dict[str, Any] = (
                {"type": "text", "text": ""}
                if kind == TEXT
                else {"type": "thinking", "thinking": "", "signature": ""}
            )
            self._open(kind, block, out)
        self._chars += len(text)
        out.append(self._prefix + encode(text) + DELTA_TAIL)

    def _finish(self, out: list[bytes], stop_reason: str, stop_sequence: str | None = None) -> None:
        """message_delta (usage as reported, else the estimate) and message_stop."""
        if self._closed:
            return
        self._start(out)
        self._close_all(out)
        if self._usage is not None:
            u = self.usage
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
