"""OpenAI chat.completion.chunk SSE (upstream) -> Anthropic Messages SSE (client).

Claude Code and the Anthropic SDKs accumulate the stream by block index, so the output
keeps Anthropic's grammar exactly: message_start; per block content_block_start, deltas,
content_block_stop, one block at a time with contiguous indices; message_delta (stop
reason and final usage); message_stop. An error ends the stream with `event: error`.
That output side is AnthropicStreamOut (_anthropic_out.py), shared with stream_gemini;
this module parses OpenAI chunks.

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

from ._anthropic_out import DELTA_TAIL, TEXT, THINKING, TOOL, AnthropicStreamOut
from ._common import anthropic_stop_reason, decode, encode, new_tool_use_id, usage_from_openai

__all__ = ["OpenAIToAnthropicStream"]

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


class OpenAIToAnthropicStream(AnthropicStreamOut):
    """OpenAI chunks in, Anthropic events out; interface and output grammar: AnthropicStreamOut.

    What is OpenAI's own lives here: chunk parsing, the usage chunk that follows the
    finish_reason one, and turning interleaved tool calls into sequential blocks.
    """

    def __init__(
        self, *, model: str, message_id: str | None = None, input_tokens_estimate: int = 0
    ) -> None:
        super().__init__(
            model=model, message_id=message_id, input_tokens_estimate=input_tokens_estimate
        )
        self._active: _Tool | None = None
        self._tools: dict[Any, _Tool] = {}
        self._waiting: list[_Tool] = []
        self._refusal = False
        self._stop: tuple[str, str | None] | None = None

    def _upstream_ended(self, out: list[bytes]) -> None:
        """A finish_reason seen (the usage chunk or [DONE] never came): finish properly.
        Otherwise the stream was cut: an error event."""
        if self._stop is not None:
            self._end_turn(out)
        else:
            super()._upstream_ended(out)

    # -- upstream events ------------------------------------------------------------------

    def _event(self, event: str | None, payload: bytes, out: list[bytes]) -> None:
        if payload == _DONE:
            self._end_turn(out)
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
                self._end_turn(out)

    def _delta(self, delta: dict[str, Any], out: list[bytes]) -> None:
        if len(delta) == 1:  # the common {"content": "..."} delta: skip the other lookups
            content = delta.get("content")
            if content.__class__ is str:
                if content:
                    self._content(TEXT, content, out)
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
            self._content(THINKING, reasoning, out)
        content = delta.get("content")
        if content:
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            if content:
                self._content(TEXT, content, out)
        refusal = delta.get("refusal")
        if refusal and isinstance(refusal, str):
            self._refusal = True
            self._content(TEXT, refusal, out)
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

    # -- tool blocks ----------------------------------------------------------------------

    def _close_block(self, out: list[bytes]) -> None:
        active = self._active  # set only while its tool block is the open one
        if active is not None:
            active.done = True
            self._active = None
        super()._close_block(out)

    def _close_all(self, out: list[bytes]) -> None:
        """Close the open block, then give every waiting tool call its block."""
        self._close_block(out)
        waiting, self._waiting = self._waiting, []
        for tool in waiting:
            self._open_tool(tool, out)
            self._close_block(out)

    def _open_tool(self, tool: _Tool, out: list[bytes]) -> None:
        block = {"type": "tool_use", "id": tool.id, "name": tool.name, "input": {}}
        self._open(TOOL, block, out)
        self._active = tool
        tool.opened = True
        self._any_tool = True
        prefix = self._prefix
        for fragment in tool.fragments:
            out.append(prefix + encode(fragment) + DELTA_TAIL)

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
                out.append(self._prefix + encode(arguments) + DELTA_TAIL)
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
            if self._kind == TOOL and active is not None and not active.is_complete():
                return
            self._close_block(out)
            self._open_tool(self._waiting.pop(0), out)

    def _end_turn(self, out: list[bytes]) -> None:
        """[DONE], the usage chunk after a finish_reason, or the end of the upstream. Without
        a finish_reason the stop reason follows from the calls seen: a waiting call implies
        an opened one, so flushing the waiting ones in _finish cannot change it."""
        self._finish(out, *(self._stop or anthropic_stop_reason(None, {}, self._any_tool)))
