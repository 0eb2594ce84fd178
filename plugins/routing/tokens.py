"""Offline token estimates: no tokenizer is downloaded at run time.

The text is mapped to one class byte per character (lower/upper letter, digit,
punctuation, space, newline, accented Latin, CJK, other scripts, ...) by
``bytes.translate``; the estimate is a weighted sum of counts over that class
string and its one-class copies, all taken by C-speed ``bytes.count``: words,
letters, camelCase humps, digit runs, punctuation runs, newlines and the
characters of each non-Latin script. There is no per-word Python loop: about
20 µs per KB, ten times less than the regex pre-tokenizer it replaced. The
weights were fitted to the legacy Claude tokenizer (the only one Anthropic
published); the method, the corpus, the error against it and against OpenAI's
o200k_base/cl100k_base, and the limits are in plugins/routing/TOKENS.md. Used for
long-context routing, ``count_tokens`` and usage when a provider reports none.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["count_request_tokens", "count_text_tokens"]


def _class_table() -> bytes:
    """UTF-8 byte -> class byte. Continuation bytes are deleted, so a character is one class byte,
    told by its lead byte (that is, by its Unicode block)."""
    table = bytearray(256)
    for byte in range(256):
        char = chr(byte)
        if byte < 0x80:
            cls = ("a" if char.islower() else "A" if char.isupper() else "0" if char.isdigit()
                   else "\n" if char in "\n\r" else " " if char in " \f\v" else ".")  # a tab is a token
        elif byte < 0xC0:
            cls = "?"  # continuation byte: deleted
        elif byte == 0xC2:
            cls = "s"  # U+0080-00BF: no-break space, « » ° ± ...
        elif byte <= 0xCD:
            cls = "l"  # U+00C0-037F: accented Latin letters, IPA, combining marks
        elif byte <= 0xCF:
            cls = "G"  # Greek, Coptic
        elif byte <= 0xD4:
            cls = "g"  # Cyrillic
        elif byte <= 0xDF:
            cls = "h"  # Armenian, Hebrew, Arabic, Syriac, Thaana, N'Ko
        elif byte <= 0xE1:
            cls = "i"  # U+0800-1FFF: Indic scripts, Thai, Georgian, Ethiopic, ...
        elif byte == 0xE2:
            cls = "s"  # U+2000-2FFF: general punctuation, arrows, maths, box drawing, ...
        elif byte <= 0xE9:
            cls = "C"  # U+3000-9FFF: CJK punctuation, kana, CJK ideographs
        elif byte <= 0xED:
            cls = "K"  # U+A000-DFFF: mostly Hangul syllables
        elif byte <= 0xEF:
            cls = "s"  # U+E000-FFFF: private use, CJK compatibility, fullwidth forms (，！)
        else:
            cls = "E"  # four-byte characters: emoji, rare CJK
        table[byte] = ord(cls)
    return bytes(table)


def _only(keep: bytes, mark: bytes) -> bytes:
    """Translation table: the bytes in ``keep`` become ``mark``, every other byte a space."""
    return bytes(mark[0] if byte in keep else 0x20 for byte in range(256))


_CLASSES = _class_table()
_CONTINUATION = bytes(range(0x80, 0xC0))
_LETTERS = _only(b"aA", b"w")
_DIGITS = _only(b"0", b"d")
_PUNCT = _only(b".", b"p")
_LATIN = b"aA0. \n"  # the classes of ASCII characters
_PUNCT_64, _SPACE_128 = b"p" * 64, b" " * 128

# Tokens per feature, fitted (non-negative least squares) to the legacy Claude tokenizer on
# tests/plugins/routing/token_corpus and checked on held-out text; see TOKENS.md.
_WORD = 0.55  # each run of ASCII letters: a word, or a part of an identifier
_LETTER = 0.113  # each ASCII letter: long and rare words split into more tokens
_HUMP = 1.9  # each lower->upper change (camelCase humps, base64, hashes)
_NUMBER = 1.2  # each run of digits
_DIGIT3 = 0.6  # each three digits of a run
_PUNCT_RUN = 0.96  # each run of ASCII punctuation: "(", "):", '":"' often merge into one token
_LONG_RUN = 1.0  # each 64 characters of a punctuation run ("=====") and 128 of a run of spaces
_NEWLINE = 0.97  # each newline, but every second one of a run is free
_ACCENT = 1.0  # each accented Latin letter (ä, é, ñ, ...)
_NON_ENGLISH = 8.0  # each accented letter also marks non-English text: its words split more ...
_NON_ENGLISH_CAP = 0.1  # ... by at most this many tokens per ASCII letter of the text
_SCRIPT = {  # tokens per character of other scripts
    b"C": 1.11,  # Chinese, Japanese
    b"K": 1.3,  # Hangul
    b"g": 0.7,  # Cyrillic
    b"G": 1.2,  # Greek
    b"h": 1.0,  # Hebrew, Arabic, ...
    b"i": 1.4,  # Indic, Thai, ...
    b"s": 1.16,  # symbols and punctuation outside ASCII
    b"E": 2.0,  # emoji
}
_IMAGE_TOKENS = 1_600  # a typical 1 MP image, per Anthropic's (width*height)/750 rule of thumb


def count_text_tokens(text: str) -> int:
    if not text:
        return 0
    ascii_only = text.isascii()
    if ascii_only:
        classes = text.encode("ascii").translate(_CLASSES)
    else:
        classes = text.encode("utf-8", "surrogatepass").translate(_CLASSES, _CONTINUATION)
    # One-class copies: a run ends before a space of its copy, or at the end of the text.
    words = classes.translate(_LETTERS)
    digits = classes.translate(_DIGITS)
    punct = classes.translate(_PUNCT)
    letters = words.count(b"w")
    total = (
        _WORD * (words.count(b"w ") + words.endswith(b"w"))
        + _LETTER * letters
        + _HUMP * classes.count(b"aA")
        + _NUMBER * (digits.count(b"d ") + digits.endswith(b"d"))
        + _DIGIT3 * digits.count(b"ddd")
        + _PUNCT_RUN * (punct.count(b"p ") + punct.endswith(b"p"))
        + _LONG_RUN * (punct.count(_PUNCT_64) + classes.count(_SPACE_128))
        + _NEWLINE * (text.count("\n") - text.count("\n\n"))
    )
    if not ascii_only:
        rest = classes.translate(None, _LATIN)  # the characters outside ASCII
        accents = rest.count(b"l")
        total += _ACCENT * accents + min(_NON_ENGLISH * accents, _NON_ENGLISH_CAP * letters)
        for cls, cost in _SCRIPT.items():
            total += cost * rest.count(cls)
    return max(1, int(total + 0.5))


def _count_content(content: Any) -> int:
    if isinstance(content, str):
        return count_text_tokens(content)
    if not isinstance(content, list):
        return 0
    total = 0
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            total += count_text_tokens(str(block.get("text", "")))
        elif kind in ("image", "image_url"):
            total += _IMAGE_TOKENS
        elif kind == "tool_use":
            total += count_text_tokens(str(block.get("name", ""))) + count_text_tokens(
                msgspec.json.encode(block.get("input", {})).decode()
            )
        elif kind == "tool_result":
            total += _count_content(block.get("content"))
        elif kind == "thinking":
            total += count_text_tokens(str(block.get("thinking", "")))
    return total


def count_request_tokens(body: dict[str, Any]) -> int:
    """Input tokens of an Anthropic-shaped request: system, messages and tool definitions."""
    total = _count_content(body.get("system"))
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            total += 3 + _count_content(message.get("content"))
    tools = body.get("tools")
    if tools:
        total += count_text_tokens(msgspec.json.encode(tools).decode())
    return total
