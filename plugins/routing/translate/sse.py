"""Server-sent events: an incremental parser over raw bytes, and the two output framings.

Upstream reads arrive at arbitrary boundaries (mid-line, mid-UTF-8 sequence, between the
"\\r" and "\\n" of a CRLF). The parser works on bytes and only hands out complete events,
so JSON is decoded once per event and never from a partial character.
"""

from __future__ import annotations

from typing import Any

from ._common import encode

__all__ = ["COMMENT", "SSEParser", "anthropic_sse", "openai_sse"]

COMMENT = ":"
"""Event name under which SSEParser(keep_comments=True) reports a comment line."""

_EMPTY = b""


class SSEParser:
    """Incremental SSE parser (WHATWG event-stream rules, minus `id`/`retry`, which no
    model API uses): feed(bytes) -> [(event name or None, data bytes)] for complete events.

    - line ends: "\\n", "\\r\\n" and "\\r", even when a CRLF is split across two feeds;
    - several `data:` lines join with "\\n"; an event without data is not dispatched;
    - comment lines (":" first, e.g. OpenRouter's ": OPENROUTER PROCESSING") are dropped,
      or reported in order as (COMMENT, text) with keep_comments=True, so a translator can
      turn a keep-alive into a keep-alive of its own API.
    """

    __slots__ = ("_buf", "_cr", "_data", "_event", "_keep_comments")

    def __init__(self, *, keep_comments: bool = False) -> None:
        self._buf = _EMPTY
        self._cr = False  # the previous feed ended in "\r": a "\n" opening this one is its pair
        self._event: str | None = None
        self._data: list[bytes] = []
        self._keep_comments = keep_comments

    def feed(self, data: bytes) -> list[tuple[str | None, bytes]]:
        """Parse what is complete in buffer + data; keep the unfinished line for next time."""
        if not data:
            return []
        if b"\r" in data or self._cr:
            data = self._normalize(data)
        buf = self._buf + data if self._buf else data
        events: list[tuple[str | None, bytes]] = []
        start = 0
        find = buf.find
        startswith = buf.startswith
        while True:
            end = find(b"\n", start)
            if end < 0:
                break
            # Fast paths for what model APIs send: "event: X" lines, and single-line
            # "data: ...\n\n" events, handled without the general line machinery.
            if startswith(b"data: ", start) and not self._data and buf[end + 1 : end + 2] == b"\n":
                events.append((self._event, buf[start + 6 : end]))
                self._event = None
                start = end + 2
                continue
            if startswith(b"event: ", start):
                self._event = buf[start + 7 : end].decode("utf-8", "replace")
            else:
                self._line(buf[start:end], events)
            start = end + 1
        self._buf = buf[start:] if start < len(buf) else _EMPTY
        return events

    def close(self) -> list[tuple[str | None, bytes]]:
        """The upstream ended: finish a last line and event that lacked their terminators.

        The spec discards an unterminated event; being lenient costs nothing and keeps a
        final `data: [DONE]` from a sloppy upstream.
        """
        events: list[tuple[str | None, bytes]] = []
        if self._buf:
            self._line(self._buf, events)
            self._buf = _EMPTY
        self._line(_EMPTY, events)
        self._cr = False
        return events

    def _normalize(self, data: bytes) -> bytes:
        if self._cr and data[:1] == b"\n":
            data = data[1:]
        self._cr = data[-1:] == b"\r"
        return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

    def _line(self, line: bytes, events: list[tuple[str | None, bytes]]) -> None:
        if not line:
            if self._data:
                data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
                events.append((self._event, data))
                self._data = []
            self._event = None
            return
        if line[0] == 58:  # ":"
            if self._keep_comments:
                events.append((COMMENT, line[1:].strip()))
            return
        colon = line.find(b":")
        if colon < 0:
            name, value = line, _EMPTY
        else:
            name, value = line[:colon], line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")


def anthropic_sse(event: str, data: dict[str, Any]) -> bytes:
    """b"event: X\\ndata: {compact json}\\n\\n", the framing the Anthropic API and SDKs use."""
    return b"event: " + event.encode() + b"\ndata: " + encode(data) + b"\n\n"


def openai_sse(data: dict[str, Any]) -> bytes:
    """b"data: {compact json}\\n\\n", an OpenAI stream chunk (no event names)."""
    return b"data: " + encode(data) + b"\n\n"
