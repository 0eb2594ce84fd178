"""Slowing down password guessing: a per-address rate limit and a per-account lockout.

* **Per client address**: at most ``[auth] signin_attempts_per_minute`` sign-in and
  second-step attempts per minute (a fixed one-minute window). Counted in memory, or in
  Redis when ``redis.url`` is set so that every instance shares the count. If Redis cannot
  be reached the count falls back to this process's memory (logged) rather than refusing
  every sign-in.
* **Per account**: ``lockout_threshold`` failed passwords or codes in a row lock the account
  for ``lockout_minutes``. The counter and the lock are columns on ``auth_users``, so they
  hold across instances and restarts; a successful sign-in clears them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from core.db import Database
from plugins.auth.models import users

__all__ = ["AccountLock", "MemoryLimiter", "RedisLimiter", "make_limiter"]

log = logging.getLogger("switchyard.auth")
WINDOW_SECONDS = 60
_MAX_TRACKED = 50_000


class MemoryLimiter:
    """Fixed-window counts per key in this process."""

    def __init__(self, limit: int, *, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.clock = clock
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window, count)

    async def hit(self, key: str) -> float | None:
        """Count one attempt; None if allowed, else the seconds until the window resets."""
        now = self.clock()
        window = int(now // WINDOW_SECONDS)
        seen_window, count = self._counts.get(key, (window, 0))
        count = count + 1 if seen_window == window else 1
        if len(self._counts) >= _MAX_TRACKED:
            self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
        self._counts[key] = (window, count)
        if count > self.limit:
            return (window + 1) * WINDOW_SECONDS - now
        return None

    async def close(self) -> None:
        return None


class RedisLimiter:
    """The same count in Redis (``INCR`` + ``EXPIRE``), shared by every instance."""

    def __init__(
        self,
        url: str,
        limit: int,
        *,
        prefix: str = "switchyard:auth:signin:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.limit = limit
        self.prefix = prefix
        self.clock = clock
        self._redis: Any = None
        self._fallback = MemoryLimiter(limit, clock=clock)

    async def hit(self, key: str) -> float | None:
        now = self.clock()
        window = int(now // WINDOW_SECONDS)
        try:
            if self._redis is None:
                from redis.asyncio import Redis

                self._redis = Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
            pipe = self._redis.pipeline(transaction=True)
            name = f"{self.prefix}{key}:{window}"
            pipe.incr(name)
            pipe.expire(name, WINDOW_SECONDS * 2)
            count, _ = await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - an unreachable Redis must not stop sign-in
            log.warning("sign-in rate limit: Redis unavailable (%s); counting in memory", exc)
            return await self._fallback.hit(key)
        if int(count) > self.limit:
            return (window + 1) * WINDOW_SECONDS - now
        return None

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


def make_limiter(redis_url: str | None, limit: int) -> MemoryLimiter | RedisLimiter:
    return RedisLimiter(redis_url, limit) if redis_url else MemoryLimiter(limit)


def minutes_text(seconds: float) -> str:
    """ "1 minute", "15 minutes": for messages people read."""
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class AccountLock:
    """Failed-attempt counting and lockout on ``auth_users`` (shared through the database)."""

    def __init__(self, db: Database, *, threshold: int, lock_for: timedelta) -> None:
        self.db = db
        self.threshold = threshold
        self.lock_for = lock_for

    @staticmethod
    def locked_for(locked_until: datetime | None, now: datetime) -> float | None:
        """Seconds the account stays locked, or None when it is not locked."""
        if locked_until is None or locked_until <= now:
            return None
        return (locked_until - now).total_seconds()

    async def failed(self, user_id: int, now: datetime) -> datetime | None:
        """Count a failure; when it reaches the threshold, lock. Returns the lock's end if set."""
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(failed_logins=users.c.failed_logins + 1)
            )
            count = (
                await conn.execute(select(users.c.failed_logins).where(users.c.id == user_id))
            ).scalar_one()
            if count < self.threshold:
                return None
            until = now + self.lock_for
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(failed_logins=0, locked_until=until)
            )
            return until

    async def succeeded(self, user_id: int, now: datetime) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(failed_logins=0, locked_until=None, last_sign_in_at=now)
            )
