"""SSEParser: complete events only, whatever the read boundaries."""

from __future__ import annotations

import pytest

from plugins.routing.translate import SSEParser, anthropic_sse, openai_sse
from plugins.routing.translate.sse import COMMENT

from .helpers import SPLITS, splits

STREAM = (
    b": OPENROUTER PROCESSING\r\n\r\n"
    b"event: message_start\r\ndata: {\"a\":1}\r\n\r\n"
    b"data: line one\ndata: line two\n\n"
    b"event: ping\rdata: {}\r\r"
    b"id: 7\nretry: 100\ndata:no-space\n\n"
    b"event: lonely\n\n"
    b"data\n\n"
    b"data: \xf0\x9f\xa6\x80\n\n"
)
EXPECTED = [
    ("message_start", b'{"a":1}'),
    (None, b"line one\nline two"),
    ("ping", b"{}"),
    (None, b"no-space"),
    (None, b""),
    (None, "🦀".encode()),
]


@pytest.mark.parametrize("how", SPLITS)
def test_events_are_the_same_for_every_split(how: str) -> None:
    parser = SSEParser()
    events = [e for piece in splits(STREAM, how) for e in parser.feed(piece)]
    assert events + parser.close() == EXPECTED


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: x\r") == []
    assert parser.feed(b"\n") == []  # the LF of that CRLF: not a second (blank) line
    assert parser.feed(b"\r") == [(None, b"x")]  # a lone CR is a line end of its own
    assert parser.feed(b"\ndata: y\n\n") == [(None, b"y")]


def test_comments_are_reported_in_order_when_asked() -> None:
    parser = SSEParser(keep_comments=True)
    events = parser.feed(b": keep-alive\n\ndata: 1\n\n:\n")
    assert events == [(COMMENT, b"keep-alive"), (None, b"1"), (COMMENT, b"")]


def test_close_flushes_an_unterminated_last_event() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: [DONE]") == []
    assert parser.close() == [(None, b"[DONE]")]
    assert parser.close() == []


def test_output_framings() -> None:
    assert anthropic_sse("ping", {"type": "ping"}) == b'event: ping\ndata: {"type":"ping"}\n\n'
    assert openai_sse({"a": "é"}) == 'data: {"a":"é"}\n\n'.encode()
