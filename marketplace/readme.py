"""A plugin's README as safe HTML for its marketplace page.

A README is written by whoever published the plugin, so it is untrusted input shown to an
admin about to grant it capabilities. markdown-it renders it with raw HTML switched off
(every ``<script>`` or ``<img onerror>`` comes out as text); on top of that only absolute
``http(s)`` and ``mailto`` links survive (``javascript:``, ``data:``, relative paths that
would point into the UI become plain text), images become links instead of loading from a
third party in the admin's browser, and headings are renumbered to sit under the page's own.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import escape

__all__ = ["MAX_README_CHARS", "render_readme", "safe_link"]

MAX_README_CHARS = 200_000
_SCHEMES = ("http", "https", "mailto")


def safe_link(url: str) -> bool:
    """True for an absolute http(s)/mailto URL or a ``#fragment`` on the same page."""
    url = url.strip()
    if url.startswith("#"):
        return True
    parts = urlsplit(url)
    if parts.scheme.lower() not in _SCHEMES:
        return False
    return parts.scheme.lower() == "mailto" or bool(parts.netloc)


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = safe_link  # type: ignore[method-assign]
    rules = md.renderer.rules
    rules["image"] = _image
    rules["link_open"] = _link_open
    rules["table_open"] = _table_open
    rules["table_close"] = _table_close
    return md


def _image(tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    """An image as a link to it (or its alt text): nothing is fetched from elsewhere."""
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = "".join(child.content for child in token.children or []) or "image"

    if not safe_link(src):
        return str(escape(alt))
    return f'<a href="{escape(src)}" rel="nofollow noopener noreferrer">{escape("Image: " + alt)}</a>'


def _link_open(tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    href = str(token.attrGet("href") or "")
    if not href.startswith("#"):
        token.attrSet("rel", "nofollow noopener noreferrer")
    return _render_token(tokens, idx, options, env)


def _render_token(tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    return str(_RENDERER_DEFAULT.renderToken(tokens, idx, options, env))


def _table_open(tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    """Wide tables scroll inside a focusable region instead of widening the page at 320 px."""
    env["tables"] = env.get("tables", 0) + 1
    return (f'<div class="table-wrap" role="region" tabindex="0" '
            f'aria-label="README table {env["tables"]}"><table>\n')


def _table_close(tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    return "</table></div>\n"


def _renumber_headings(tokens: list[Token], top: int) -> None:
    """README headings start at ``top`` and never skip a level (h1, h3 -> h3, h4)."""
    previous = top - 1
    for token in tokens:
        if token.type not in ("heading_open", "heading_close"):
            continue
        if token.type == "heading_open":
            asked = int(token.tag[1])
            level = min(6, max(top, min(asked + top - 1, previous + 1)))
            previous = level
        token.tag = f"h{previous}"


_RENDERER_DEFAULT = MarkdownIt("commonmark").renderer


def render_readme(text: str, *, top_heading: int = 3) -> str:
    """Safe HTML for ``text``; long READMEs are cut at MAX_README_CHARS with a note."""
    note = ""
    if len(text) > MAX_README_CHARS:
        text, note = text[:MAX_README_CHARS], "\n\n*(README shortened)*\n"
    md = _parser()
    env: dict[str, Any] = {}
    tokens = md.parse(text + note, env)
    _renumber_headings(tokens, top_heading)
    return str(md.renderer.render(tokens, md.options, env))
