"""Streams that need no translation: forwarded byte for byte, read only for usage and completeness.

They share the translators' interface (``feed``/``close``/``usage``) so the pipeline
treats every stream alike. Only lines that mention usage are decoded.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["AnthropicPassthrough", "Chain", "OpenAIPassthrough"]

_DECODE = msgspec.json.decode


class _LineScanner:
    """Complete SSE ``data:`` lines out of arbitrarily split chunks."""

    def __init__(self) -> None:
        self._tail = b""

    def lines(self, data: bytes) -> list[bytes]:
        buffer = self._tail + data
        cut = buffer.rfind(b"\n")
        if cut < 0:
            self._tail = buffer
            return []
        self._tail = buffer[cut + 1 :]
        return [line[5:].strip() for line in buffer[:cut].split(b"\n") if line.startswith(b"data:")]


class AnthropicPassthrough:
    """An Anthropic stream to an Anthropic client; a cut stream gets a closing error event."""

    def __init__(self) -> None:
        self._scanner = _LineScanner()
        self.usage: dict[str, int] = {}
        self.finished = False
        self.first_output = False

    def feed(self, data: bytes) -> bytes:
        for line in self._scanner.lines(data):
            if b'"message_stop"' in line:
                self.finished = True
            elif b'"usage"' in line:
                self._usage(_DECODE(line))
        return data

    def _usage(self, event: dict[str, Any]) -> None:
        usage = event.get("usage") or (event.get("message") or {}).get("usage") or {}
        for name, value in usage.items():
            if isinstance(value, int):
                self.usage[name] = value

    def ping(self) -> bytes:
        """Nothing: Anthropic upstreams send their own pings, and ours must not precede message_start."""
        return b""

    def close(self) -> bytes:
        if self.finished:
            return b""
        return (
            b'event: error\ndata: {"type":"error","error":{"type":"api_error",'
            b'"message":"upstream stream ended unexpectedly"}}\n\n'
        )


class OpenAIPassthrough:
    """An OpenAI stream to an OpenAI client; a cut stream gets an error chunk and no [DONE]."""

    def __init__(self) -> None:
        self._scanner = _LineScanner()
        self.usage: dict[str, int] = {}
        self.finished = False

    def feed(self, data: bytes) -> bytes:
        for line in self._scanner.lines(data):
            if line == b"[DONE]":
                self.finished = True
            elif b'"usage"' in line:
                usage = _DECODE(line).get("usage") or {}
                cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
                self.usage = {
                    "input_tokens": int(usage.get("prompt_tokens") or 0) - int(cached),
                    "output_tokens": int(usage.get("completion_tokens") or 0),
                    "cache_read_input_tokens": int(cached),
                }
        return data

    def ping(self) -> bytes:
        return b": ping\n\n"  # an SSE comment: OpenAI SDKs skip it

    def close(self) -> bytes:
        if self.finished:
            return b""
        return b'data: {"error":{"message":"upstream stream ended unexpectedly","type":"server_error"}}\n\n'


class Chain:
    """Two converters in a row (Gemini -> Anthropic -> OpenAI); usage comes from the first."""

    def __init__(self, first: Any, second: Any) -> None:
        self.first, self.second = first, second

    def feed(self, data: bytes) -> bytes:
        return self.second.feed(self.first.feed(data))

    def ping(self) -> bytes:
        return self.second.ping()

    def close(self) -> bytes:
        tail = self.first.close()
        return self.second.feed(tail) + self.second.close()

    @property
    def usage(self) -> dict[str, int]:
        return self.first.usage

    @property
    def finished(self) -> bool:
        return bool(self.first.finished and self.second.finished)
