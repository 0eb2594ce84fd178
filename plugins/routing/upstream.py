"""Calling providers: pooled keep-alive connections, key rotation, timeouts and retries.

The hot path uses FastClient (asyncio.Protocol + httptools): about 4x less CPU per
request than aiohttp (benchmarks/client_bench.py). aiohttp stays for proxied providers;
httpx is not used at all: under concurrency its pool scans every connection per request
(stack-notes: 3-28x slower than aiohttp).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from plugins.routing.config import ProviderConfig
from plugins.routing.fastclient import FastClient, FastClientError

if TYPE_CHECKING:  # aiohttp is imported only when a proxy is configured (it costs ~10 MB)
    import aiohttp

_TRANSPORT_ERRORS = (TimeoutError, FastClientError, OSError)

__all__ = ["Provider", "UpstreamClient", "UpstreamReply", "UpstreamUnavailable"]

RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class UpstreamUnavailable(Exception):
    """No usable reply from a provider (connection refused, timeout, or retryable status)."""

    def __init__(self, message: str, *, status: int = 502, body: bytes = b"", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.retry_after = retry_after


class _AiohttpBody:
    """aiohttp's response behind the same read/chunks/release surface as FastResponse."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def read(self) -> bytes:
        import aiohttp

        try:
            return await self.response.read()
        except aiohttp.ClientError as exc:
            raise FastClientError(f"{exc.__class__.__name__}: {exc}") from exc
        finally:
            self.response.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        import aiohttp

        try:
            async for data in self.response.content.iter_any():
                yield data
        except aiohttp.ClientError as exc:
            raise FastClientError(f"{exc.__class__.__name__}: {exc}") from exc
        finally:
            self.response.release()

    def release(self) -> None:
        self.response.release()


@dataclass(slots=True)
class UpstreamReply:
    """A provider's answer: status and headers now, body read whole or streamed."""

    status: int
    headers: dict[str, str]
    body: Any  # FastResponse or _AiohttpBody
    key_index: int

    async def read(self) -> bytes:
        return await self.body.read()

    async def chunks(self) -> AsyncIterator[bytes]:
        """Whatever arrived since the last read, as soon as it arrives; never the whole body.

        A connection the provider cuts just ends the iteration: the stream converter sees
        an unfinished stream and tells the client so in its own API's error shape.
        """
        try:
            async for data in self.body.chunks():
                yield data
        except _TRANSPORT_ERRORS:
            return


@dataclass(slots=True)
class _KeyState:
    """Health of one API key: a small circuit breaker and a latency average."""

    failures: int = 0
    open_until: float = 0.0
    latency_ms: float = 0.0


@dataclass
class Provider:
    """A configured provider with its keys' health and the rotation between them."""

    config: ProviderConfig
    failure_threshold: int = 5
    open_seconds: float = 30.0
    keys: list[_KeyState] = field(default_factory=list)
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.keys = [_KeyState() for _ in self.config.api_keys or [""]]

    @property
    def name(self) -> str:
        return self.config.name

    def key_order(self, now: float | None = None) -> list[int]:
        """Usable keys, best first; a key whose circuit is open is left out until it half-opens."""
        now = time.monotonic() if now is None else now
        count = len(self.keys)
        if self.config.key_strategy == "least_latency":
            order = sorted(range(count), key=lambda i: self.keys[i].latency_ms)
        else:
            start = next(self._turn) % count
            order = [(start + i) % count for i in range(count)]
        return [i for i in order if self.keys[i].open_until <= now]

    def succeeded(self, index: int, latency_ms: float) -> None:
        state = self.keys[index]
        state.failures = 0
        state.open_until = 0.0
        state.latency_ms = latency_ms if not state.latency_ms else 0.8 * state.latency_ms + 0.2 * latency_ms

    def failed(self, index: int, now: float | None = None) -> None:
        state = self.keys[index]
        state.failures += 1
        if state.failures >= self.failure_threshold:
            state.open_until = (time.monotonic() if now is None else now) + self.open_seconds

    def circuit(self, index: int, now: float | None = None) -> str:
        """closed, open, or half-open (open time elapsed: one trial request may pass)."""
        state = self.keys[index]
        now = time.monotonic() if now is None else now
        if state.failures < self.failure_threshold:
            return "closed"
        return "open" if state.open_until > now else "half-open"

    def auth_headers(self, index: int) -> dict[str, str]:
        key = self.config.api_keys[index] if self.config.api_keys else ""
        if not key:
            return {}
        if self.config.api == "anthropic":
            return {"x-api-key": key}
        if self.config.api == "gemini":
            return {"x-goog-api-key": key}
        return {"authorization": f"Bearer {key}"}


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        try:
            return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
        except (TypeError, ValueError):
            return None


class UpstreamClient:
    """One aiohttp session per proxy setting, shared by every request (pooled keep-alive)."""

    def __init__(self, *, timeout_ms: int, retries: int, proxy_url: str | None = None) -> None:
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.proxy_url = proxy_url
        self._session: aiohttp.ClientSession | None = None
        self._fast = FastClient()

    def session(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=512, keepalive_timeout=60, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True, trust_env=False)
        return self._session

    async def close(self) -> None:
        await self._fast.close()
        if self._session is not None:
            await self._session.close()

    async def post(self, provider: Provider, url: str, body: bytes, headers: dict[str, str]) -> UpstreamReply:
        """POST with retries on 429/5xx/connection errors, honouring retry-after, across keys."""
        timeout_ms = provider.config.timeout_ms or self.timeout_ms
        proxy = provider.config.proxy_url or self.proxy_url
        last: UpstreamUnavailable | None = None
        for attempt in range(self.retries + 1):
            usable = provider.key_order()
            if not usable:
                raise last or UpstreamUnavailable(f"{provider.name}: circuit open for every key", status=503)
            index = usable[0]
            started = time.monotonic()
            try:
                reply = await self._send(url, body, {**headers, **provider.auth_headers(index)}, timeout_ms, proxy)
            except _TRANSPORT_ERRORS as exc:
                provider.failed(index)
                last = UpstreamUnavailable(f"{provider.name}: {exc.__class__.__name__}: {exc}".rstrip(": "))
            else:
                if reply.status not in RETRYABLE:
                    provider.succeeded(index, (time.monotonic() - started) * 1000)
                    reply.key_index = index
                    return reply
                provider.failed(index)
                last = UpstreamUnavailable(
                    f"{provider.name} answered {reply.status}", status=reply.status,
                    body=await reply.read(), retry_after=_retry_after(reply.headers),
                )
            if attempt < self.retries:
                await asyncio.sleep(_backoff(attempt, last.retry_after))
        assert last is not None
        raise last

    async def _send(self, url: str, body: bytes, headers: dict[str, str], timeout_ms: int,
                    proxy: str | None) -> UpstreamReply:
        """The small keep-alive client on the hot path; aiohttp only when a proxy is configured."""
        if proxy is None:
            response = await self._fast.post(url, body, headers, read_timeout=timeout_ms / 1000)
            return UpstreamReply(response.status, response.headers, response, 0)
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout_ms / 1000)
        try:
            raw = await self.session().post(url, data=body, headers=headers, timeout=timeout, proxy=proxy)
        except aiohttp.ClientError as exc:
            raise FastClientError(f"{exc.__class__.__name__}: {exc}") from exc
        return UpstreamReply(raw.status, {k.lower(): v for k, v in raw.headers.items()}, _AiohttpBody(raw), 0)


def _backoff(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter, or the provider's retry-after when it says (capped)."""
    if retry_after is not None:
        return min(retry_after, 30.0)
    return min(0.25 * (2**attempt), 4.0) * (0.5 + random.random() / 2)
