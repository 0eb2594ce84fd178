"""Gemini streamGenerateContent?alt=sse (upstream) -> Anthropic Messages SSE (client).

Each upstream event is `data: {GenerateContentResponse}` holding the parts generated since
the previous one (Gemini frames them with CRLF; the SSE parser copes with any split).
The output keeps Anthropic's grammar exactly, as stream_o2a does: message_start; blocks
one at a time with contiguous indices; message_delta (stop reason + final usage);
message_stop. By part:
- text streams into a text block, thought text (thought: true) into a thinking block,
  which is closed with a signature_delta of "" (a Gemini thought signature is no
  Anthropic signature) before anything else starts;
- a functionCall arrives whole: content_block_start tool_use (with the thoughtSignature
  as "signature", see gemini.py), one input_json_delta with the whole arguments, stop;
- empty text (often a part carrying only a thoughtSignature), inlineData and code
  execution parts produce nothing.
The chunk with a finishReason ends the message: its usageMetadata is the final usage.
A prompt blocked before any candidate (promptFeedback.blockReason) ends it as a refusal.
An upstream that stops without a finishReason gets an error event, never message_stop;
so does `data: {"error": {...}}` mid-stream.
"""

from __future__ import annotations

from typing import Any

from ._common import decode, encode, new_message_id
from .errors import anthropic_error
from .gemini import gemini_stop_reason, tool_use_block, usage_from_gemini
from .sse import COMMENT, SSEParser, anthropic_sse

__all__ = ["GeminiToAnthropicStream"]

_TEXT, _THINKING = 1, 2
_DELTA_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_DELTA_MID = {
    _TEXT: b',"delta":{"type":"text_delta","text":',
    _THINKING: b',"delta":{"type":"thinking_delta","thinking":',
}
_DELTA_TAIL = b"}}\n\n"
_PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


class GeminiToAnthropicStream:
    """Feed upstream bytes as they arrive; send what feed() returns; call close() at the end.

    Same interface as OpenAIToAnthropicStream: `finished` once message_stop went out,
    `failed` once an error event did; after either, every call returns b"". `usage` is
    Anthropic-shaped: Gemini reports usageMetadata on its chunks, and until it does (or
    while it reports no output yet) output is estimated at characters / 4.
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
        self._kind = 0  # kind of the open text/thinking block, 0 when none is open
        self._index = -1
        self._prefix = b""
        self._any_tool = False
        self._usage: dict[str, int] | None = None
        self._chars = 0

    # -- public ---------------------------------------------------------------------------

    @property
    def usage(self) -> dict[str, int]:
        """input/output/cache tokens as known so far (Anthropic's meaning of each)."""
        estimate = (self._chars + 3) // 4
        if self._usage is not None:
            usage = dict(self._usage)
            if not usage["output_tokens"]:
                usage["output_tokens"] = estimate
            return usage
        return {
            "input_tokens": self._input_estimate,
            "output_tokens": estimate,
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
        """The upstream ended. Without a finishReason the stream was cut: error event."""
        if self._closed:
            return b""
        out: list[bytes] = []
        for event, payload in self._parser.close():
            self._event(event, payload, out)
            if self._closed:
                return b"".join(out)
        self._fail(out, 500, "upstream stream ended unexpectedly", "api_error")
        return b"".join(out)

    def ping(self) -> bytes:
        """A keep-alive while the upstream is silent: message_start first if it has not gone
        out yet, then an Anthropic `ping` event."""
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
        if event == COMMENT:
            self._start(out)
            out.append(_PING)
            return
        try:
            chunk = decode(payload)
        except ValueError:
            return  # not JSON: nothing to translate
        if isinstance(chunk, list) and chunk:  # a JSON-array framing of the same objects
            chunk = chunk[0]
        if not isinstance(chunk, dict):
            return
        error = chunk.get("error")
        if error:
            self._upstream_error(error, out)
            return
        meta = chunk.get("usageMetadata")
        if isinstance(meta, dict):
            self._usage = usage_from_gemini(meta)
        self._start(out)
        candidates = chunk.get("candidates")
        candidate = candidates[0] if isinstance(candidates, list) and candidates else None
        if not isinstance(candidate, dict):
            feedback = chunk.get("promptFeedback")
            if isinstance(feedback, dict) and feedback.get("blockReason"):
                self._finish("refusal", out)
            return
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        if isinstance(parts, list):
            for part in parts:
                if isinstance(part, dict):
                    self._part(part, out)
        reason = candidate.get("finishReason")
        if reason:
            self._finish(gemini_stop_reason(reason, self._any_tool), out)

    def _part(self, part: dict[str, Any], out: list[bytes]) -> None:
        call = part.get("functionCall")
        if isinstance(call, dict):
            self._tool(call, part, out)
            return
        text = part.get("text")
        if text.__class__ is str and text:
            self._content(_THINKING if part.get("thought") else _TEXT, text, out)

    def _upstream_error(self, error: Any, out: list[bytes]) -> None:
        """{"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED"}}."""
        status, message = 502, "upstream error"
        if isinstance(error, dict):
            message = str(error.get("message") or error.get("status") or message)
            code = error.get("code")
            if isinstance(code, int) and 400 <= code < 600:
                status = code
        elif isinstance(error, str):
            message = error
        self._fail(out, status, message)

    # -- output ---------------------------------------------------------------------------

    def _start(self, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        known = self._usage
        message = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": known["input_tokens"] if known else self._input_estimate,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": known["cache_read_input_tokens"] if known else 0,
                "output_tokens": 1,
            },
        }
        out.append(anthropic_sse("message_start", {"type": "message_start", "message": message}))

    def _open(self, block: dict[str, Any], out: list[bytes]) -> int:
        index = self._next_index
        self._next_index += 1
        event = {"type": "content_block_start", "index": index, "content_block": block}
        out.append(anthropic_sse("content_block_start", event))
        return index

    def _close_block(self, out: list[bytes]) -> None:
        if not self._kind:
            return
        if self._kind == _THINKING:
            delta = {"type": "signature_delta", "signature": ""}
            event = {"type": "content_block_delta", "index": self._index, "delta": delta}
            out.append(anthropic_sse("content_block_delta", event))
        stop = {"type": "content_block_stop", "index": self._index}
        out.append(anthropic_sse("content_block_stop", stop))
        self._kind = 0

    def _content(self, kind: int, text: str, out: list[bytes]) -> None:
        if self._kind != kind:
            self._close_block(out)
            block: dict[str, Any] = (
                {"type": "text", "text": ""}
                if kind == _TEXT
                else {"type": "thinking", "thinking": "", "signature": ""}
            )
            self._index = self._open(block, out)
            self._kind = kind
            self._prefix = _DELTA_HEAD + str(self._index).encode() + _DELTA_MID[kind]
        self._chars += len(text)
        out.append(self._prefix + encode(text) + _DELTA_TAIL)

    def _tool(self, call: dict[str, Any], part: dict[str, Any], out: list[bytes]) -> None:
        self._close_block(out)
        block = tool_use_block(call, part)
        arguments = encode(block["input"]).decode()
        block["input"] = {}
        index = self._open(block, out)
        delta = {"type": "input_json_delta", "partial_json": arguments}
        out.append(anthropic_sse("content_block_delta", {"type": "content_block_delta",
                                                          "index": index, "delta": delta}))
        out.append(anthropic_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        self._chars += len(arguments)
        self._any_tool = True

    def _finish(self, stop_reason: str, out: list[bytes]) -> None:
        self._start(out)
        self._close_block(out)
        usage: dict[str, int]
        if self._usage is not None:
            usage = {
                "input_tokens": self._usage["input_tokens"],
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": self._usage["cache_read_input_tokens"],
                "output_tokens": self.usage["output_tokens"],
            }
        else:
            usage = {"output_tokens": (self._chars + 3) // 4}
        delta = {"stop_reason": stop_reason, "stop_sequence": None}
        event = {"type": "message_delta", "delta": delta, "usage": usage}
        out.append(anthropic_sse("message_delta", event))
        out.append(_MESSAGE_STOP)
        self.finished = True
        self._closed = True

    def _fail(self, out: list[bytes], status: int, message: str, error_type: str | None = None) -> None:
        out.append(anthropic_sse("error", anthropic_error(status, message, error_type=error_type)))
        self.failed = True
        self._closed = True
