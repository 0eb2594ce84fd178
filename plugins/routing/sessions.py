"""The input size of each session's previous turn, for long-context routing.

claude-code-router sends a session to the long-context model when its previous turn was
already long. With one instance the answer is in memory. With several instances behind
a load balancer the previous turn may have been served by another one, so when
``redis.url`` is set every instance also writes the figure to Redis and reads it back
from there. Redis trouble never fails a request: routing falls back to what this
instance saw, and the error is logged once per minute at most.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from plugins.routing.rules import SessionUsage

__all__ = ["SharedSessionUsage", "session_store"]

log = logging.getLogger("switchyard.routing")
KEY_PREFIX = "switchyard:routing:session:"
TTL_SECONDS = 6 * 3600  # a Claude Code session idle longer than this starts afresh
READ_TIMEOUT_S = 0.05


class SharedSessionUsage:
    """SessionUsage's interface (async ``get``), backed by Redis and a local LRU."""

    def __init__(self, url: str, local: SessionUsage | None = None) -> None:
        import redis.asyncio as redis  # only instances configured for Redis load it

        self.local = local or SessionUsage()
        self._redis = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._writes: set[asyncio.Task[Any]] = set()
        self._last_error = 0.0

    async def get(self, session: str | None) -> int:
        if not session:
            return 0
        try:
            value = await asyncio.wait_for(self._redis.get(KEY_PREFIX + session), READ_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - routing must not fail on Redis trouble
            self._complain(exc)
            return self.local.get(session)
        return int(value) if value is not None else self.local.get(session)

    def record(self, session: str | None, input_tokens: int) -> None:
        if not session:
            return
        self.local.record(session, input_tokens)
        task = asyncio.get_running_loop().create_task(self._write(session, input_tokens))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, session: str, input_tokens: int) -> None:
        try:
            await self._redis.set(KEY_PREFIX + session, input_tokens, ex=TTL_SECONDS)
        except Exception as exc:  # noqa: BLE001
            self._complain(exc)

    def _complain(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error > 60:
            self._last_error = now
            log.warning("session usage in Redis unavailable, using this instance's: %s", exc)

    async def close(self) -> None:
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        await self._redis.aclose()


class _LocalSessions:
    """The single-instance store behind the same async ``get``."""

    def __init__(self) -> None:
        self.local = SessionUsage()

    async def get(self, session: str | None) -> int:
        return self.local.get(session)

    def record(self, session: str | None, input_tokens: int) -> None:
        self.local.record(session, input_tokens)

    async def close(self) -> None:
        return None


def session_store(redis_url: str | None) -> SharedSessionUsage | _LocalSessions:
    return SharedSessionUsage(redis_url) if redis_url else _LocalSessions()
