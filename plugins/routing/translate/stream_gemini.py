"""Gemini streamGenerateContent?alt=sse (upstream) -> Anthropic Messages SSE (client).

Each upstream event is `data: {GenerateContentResponse}` holding the parts generated since
the previous one (Gemini frames them with CRLF; the SSE parser copes with any split).
The output keeps Anthropic's grammar exactly (message_start; blocks one at a time with
contiguous indices; message_delta with stop reason and final usage; message_stop): that
is AnthropicStreamOut's (_anthropic_out.py), shared with stream_o2a. By part:
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

from ._anthropic_out import DELTA_TAIL, TEXT, THINKING, TOOL, AnthropicStreamOut
from ._common import decode, encode
from .gemini import gemini_stop_reason, tool_use_block, usage_from_gemini

__all__ = ["GeminiToAnthropicStream"]


class GeminiToAnthropicStream(AnthropicStreamOut):
    """Gemini chunks in, Anthropic events out; interface and output grammar: AnthropicStreamOut.

    Same interface as OpenAIToAnthropicStream. Gemini reports usageMetadata on its chunks;
    until it does (or while it reports no output yet) output is estimated at characters / 4.
    A finishReason ends the message at once, so an upstream that simply stops is always cut.
    """

    _estimate_zero_output = True

    # -- upstream events ------------------------------------------------------------------

    def _event(self, event: str | None, payload: bytes, out: list[bytes]) -> None:
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
                self._finish(out, "refusal")
            return
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        if isinstance(parts, list):
            for part in parts:
                if isinstance(part, dict):
                    self._part(part, out)
        reason = candidate.get("finishReason")
        if reason:
            self._finish(out, gemini_stop_reason(reason, self._any_tool))

    def _part(self, part: dict[str, Any], out: list[bytes]) -> None:
        call = part.get("functionCall")
        if isinstance(call, dict):
            self._tool(call, part, out)
            return
        text = part.get("text")
        if text.__class__ is str and text:
            self._content(THINKING if part.get("thought") else TEXT, text, out)

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

    # -- tool blocks ----------------------------------------------------------------------

    def _tool(self, call: dict[str, Any], part: dict[str, Any], out: list[bytes]) -> None:
        """A functionCall arrives whole: a tool_use block with one input_json_delta."""
        self._close_block(out)
        block = tool_use_block(call, part)
        arguments = encode(block["input"]).decode()
        block["input"] = {}
        self._open(TOOL, block, out)
        out.append(self._prefix + encode(arguments) + DELTA_TAIL)
        self._close_block(out)
        self._chars += len(arguments)
        self._any_tool = True
