"""Reading an index: the document's types, fetching it (or a package) with a size limit.

The client reads indexes it does not control (a static host, another instance), so the
document is validated into typed values with errors that name the field, unknown fields
are ignored (newer servers may add some), and every download stops at a limit instead of
trusting a declared size. ``http``, ``https`` and ``file`` URLs work; package and bundle URLs
may be relative to the index URL.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urljoin

import msgspec

__all__ = [
    "MAX_INDEX",
    "IndexDocument",
    "IndexError_",
    "IndexPlugin",
    "IndexVersion",
    "Publisher",
    "fetch",
    "parse_index",
    "resolve",
]

MAX_INDEX = 16 * 1024 * 1024
_TIMEOUT = 30.0


class IndexError_(Exception):
    """An index could not be fetched or read; the message names the URL and the field."""


class TooLarge(IndexError_):
    """A download went past its limit (the bytes read so far are not returned)."""


class Publisher(msgspec.Struct, frozen=True):
    identity: str
    issuer: str


class IndexVersion(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    sha256: str
    size: int
    download_url: str
    bundle_url: str | None = None  # None: unsigned
    abi: int = 1
    min_host_version: str = "0.0.0"
    capabilities: list[str] = msgspec.field(default_factory=list)
    hooks: list[str] = msgspec.field(default_factory=list)
    published_at: str = ""
    downloads: int = 0


class IndexPlugin(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    versions: list[IndexVersion]
    summary: str = ""
    category: str = ""
    publisher: Publisher | None = None
    downloads: int = 0
    rating: dict[str, Any] = msgspec.field(default_factory=dict)

    def release(self, version: str | None = None) -> IndexVersion | None:
        """``version``, or the newest one."""
        from sandbox.manifest import parse_version

        if version is not None:
            return next((v for v in self.versions if v.version == version), None)
        valid = [v for v in self.versions if _is_semver(v.version)]
        return max(valid, key=lambda v: parse_version(v.version), default=None)


class IndexDocument(msgspec.Struct, frozen=True, kw_only=True):
    schema: int
    plugins: list[IndexPlugin]
    name: str = ""
    generated_at: str = ""
    url: str = ""  # where it was read from (set by the client, not the server)


def _is_semver(text: str) -> bool:
    from sandbox.manifest import parse_version

    try:
        parse_version(text)
    except ValueError:
        return False
    return True


def parse_index(data: bytes, url: str) -> IndexDocument:
    try:
        document = msgspec.json.decode(data, type=IndexDocument)
    except msgspec.ValidationError as exc:
        raise IndexError_(f"{url}: not a marketplace index: {exc}") from None
    except msgspec.DecodeError as exc:
        raise IndexError_(f"{url}: not JSON: {exc}") from None
    if document.schema != 1:
        raise IndexError_(f"{url}: index schema {document.schema}; this switchyard reads schema 1")
    return msgspec.structs.replace(document, url=url)


def resolve(index_url: str, url: str) -> str:
    """A package or bundle URL as given, or relative to the index's URL."""
    return urljoin(index_url, url)


def fetch(url: str, limit: int, *, what: str = "file", timeout: float = _TIMEOUT) -> bytes:
    """GET ``url``; at most ``limit`` bytes (TooLarge past it). Blocking: run it in a thread."""
    request = urllib.request.Request(url, headers={"user-agent": "switchyard-marketplace"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise IndexError_(f"{what} {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise IndexError_(f"{what} {url}: cannot download: {reason}") from None
    if len(body) > limit:
        raise TooLarge(f"{what} {url}: more than {limit} bytes")
    return body
