"""Offline token estimates: no tokenizer is downloaded at run time.

A pre-tokenizer in the spirit of BPE tokenizers splits text into words, numbers,
punctuation and CJK characters; long words cost about one token per four
characters. Used for long-context routing, ``count_tokens`` and usage when a
provider reports none. Accuracy is documented in plugins/routing/README.md.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

__all__ = ["count_request_tokens", "count_text_tokens"]

_PIECES = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]"  # CJK: about a token each
    r"|[^\W\d_]+"  # words
    r"|\d{1,3}"  # numbers split in groups of three digits
    r"|\s+"  # whitespace runs merge with the next piece
    r"|[^\w\s]",  # punctuation and symbols
    re.UNICODE,
)
_IMAGE_TOKENS = 1_600  # a typical 1 MP image, per Anthropic's (width*height)/750 rule of thumb


def count_text_tokens(text: str) -> int:
    tokens = 0
    for match in _PIECES.finditer(text):
        piece = match.group(0)
        if piece.isspace():
            if len(piece) > 1 and "\n" in piece:
                tokens += 1
            continue
        tokens += 1 + (len(piece) - 1) // 4 if len(piece) > 4 else 1
    return tokens


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
