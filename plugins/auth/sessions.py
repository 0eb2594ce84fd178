"""Server-side sessions: the signed cookie holds a random token, the database its sha256.

Why server-side: a signed cookie alone cannot be revoked, and "sign out everywhere", a
password change or an admin deactivating someone must end sessions at once. The cookie
session (``sy_session``, HttpOnly, SameSite=Lax, AES-GCM by Litestar) carries only
``request.session["sid"]``; the row ``auth_sessions.id = sha256(token)`` says whose it is,
when it expires (idle and absolute), whether the TOTP step was passed, and whether it was
revoked. A leaked table signs nobody in.

The ``identify`` hook runs on every guarded request, so lookups are cached in memory for a
few seconds (``[auth] session_cache_seconds``). Revocations made in this process drop the
cache entry at once; those made by another instance apply when the entry ages out, or at once
when ``redis.url`` is set: the store's ``announce`` callback publishes every revocation and
each instance's subscriber calls :meth:`SessionStore.forget` (:mod:`plugins.auth.revocation`).
``last_seen_at`` is written at most once a minute per session, not on every request.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, or_, select, true, update

from core.db import Database
from plugins.auth.models import sessions, users
from plugins.auth.proxies import Network, client_address

__all__ = [
    "SESSION_KEY",
    "SessionInfo",
    "SessionStore",
    "client_ip",
    "session_token",
    "start_cookie_session",
]

SESSION_KEY = "sid"
_FLASHES = "_flashes"  # where core.templating.flash queues messages
_TOUCH_EVERY = timedelta(seconds=60)
_MAX_CACHED = 10_000

# announce(digests, user_ids): tell other instances which sessions ended (KeyChanges)
Announcer = Callable[[Iterable[str], Iterable[int]], Awaitable[None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One live session and its user, as the security page and ``identify`` need them."""

    digest: str
    user_id: int
    email: str
    display_name: str
    mfa_passed: bool
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str
    ip: str


class SessionStore:
    """Create, look up (cached), touch and revoke sessions in one database."""

    def __init__(
        self,
        db: Database,
        *,
        idle: timedelta,
        absolute: timedelta,
        cache_seconds: float = 5.0,
        clock: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.idle = idle
        self.absolute = absolute
        self.cache_seconds = cache_seconds
        self.clock = clock
        self.monotonic = monotonic
        self._cache: dict[str, tuple[SessionInfo | None, float]] = {}
        self.announce: Announcer | None = None

    async def create(
        self,
        user_id: int,
        *,
        mfa_passed: bool = True,
        user_agent: str = "",
        ip: str = "",
        lifetime: timedelta | None = None,
    ) -> str:
        """A new session; returns the token for the cookie (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        async with self.db.engine.begin() as conn:
            await conn.execute(
                insert(sessions).values(
                    id=_digest(token),
                    user_id=user_id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + (lifetime or self.absolute),
                    mfa_passed=mfa_passed,
                    user_agent=user_agent[:300],
                    ip=ip[:64],
                )
            )
        return token

    async def lookup(self, token: str) -> SessionInfo | None:
        """The live session for ``token`` (pending the TOTP step or not), else None."""
        digest = _digest(token)
        now = self.clock()
        cached = self._cache.get(digest)
        if cached is not None and self.monotonic() - cached[1] < self.cache_seconds:
            info = cached[0]
        else:
            info = await self._load(digest)
            self._remember(digest, info)
        if info is None or not self._alive(info, now):
            return None
        if now - info.last_seen_at >= _TOUCH_EVERY:
            info = await self._touch(info, now)
        return info

    async def revoke(self, token: str) -> None:
        await self.revoke_digest(_digest(token))

    async def revoke_digest(self, digest: str) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.id == digest, sessions.c.revoked_at.is_(None))
                .values(revoked_at=self.clock())
            )
        self._cache[digest] = (None, self.monotonic())
        if self.announce is not None:
            await self.announce([digest], [])

    async def revoke_user(self, user_id: int, *, keep: str | None = None) -> int:
        """End every session of a user (except the one whose token is ``keep``); how many."""
        kept = _digest(keep) if keep else None
        condition = [sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)]
        if kept is not None:
            condition.append(sessions.c.id != kept)
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                update(sessions).where(*condition).values(revoked_at=self.clock())
            )
        for digest, (info, _) in list(self._cache.items()):
            if info is not None and info.user_id == user_id and digest != kept:
                self._cache[digest] = (None, self.monotonic())
        if self.announce is not None:
            await self.announce([], [user_id])
        return int(result.rowcount or 0)

    def forget(self, *, digests: Iterable[str] = (), user_ids: Iterable[int] = ()) -> None:
        """Drop cache entries (another instance revoked them); no arguments: drop them all.
        The next lookup reads the row, so a late or repeated message cannot revive a session."""
        digests, users_gone = set(digests), set(user_ids)
        if not digests and not users_gone:
            self._cache.clear()
            return
        for digest, (info, _) in list(self._cache.items()):
            if digest in digests or (info is not None and info.user_id in users_gone):
                self._cache.pop(digest, None)

    async def list_for_user(self, user_id: int) -> list[SessionInfo]:
        """The user's live, signed-in sessions, most recently used first."""
        now = self.clock()
        async with self.db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    _select()
                    .where(
                        sessions.c.user_id == user_id,
                        sessions.c.revoked_at.is_(None),
                        sessions.c.mfa_passed == true(),
                        sessions.c.expires_at > now,
                        sessions.c.last_seen_at > now - self.idle,
                    )
                    .order_by(sessions.c.last_seen_at.desc())
                )
            ).all()
        return [_info(row) for row in rows]

    async def purge(self, *, older_than: timedelta = timedelta(days=7)) -> int:
        """Delete rows that ended (expired, idle or revoked) more than ``older_than`` ago."""
        cutoff = self.clock() - older_than
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                delete(sessions).where(
                    or_(
                        sessions.c.expires_at < cutoff,
                        sessions.c.revoked_at < cutoff,
                        sessions.c.last_seen_at < cutoff - self.idle,
                    )
                )
            )
        return int(result.rowcount or 0)

    # -- internals ------------------------------------------------------------------------

    def _alive(self, info: SessionInfo, now: datetime) -> bool:
        return now < info.expires_at and now - info.last_seen_at < self.idle

    async def _load(self, digest: str) -> SessionInfo | None:
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(
                    _select().where(
                        sessions.c.id == digest,
                        sessions.c.revoked_at.is_(None),
                        users.c.is_active == true(),
                    )
                )
            ).one_or_none()
        return None if row is None else _info(row)

    async def _touch(self, info: SessionInfo, now: datetime) -> SessionInfo:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(sessions).where(sessions.c.id == info.digest).values(last_seen_at=now)
            )
        touched = replace(info, last_seen_at=now)
        if info.digest in self._cache:
            self._cache[info.digest] = (touched, self._cache[info.digest][1])
        return touched

    def _remember(self, digest: str, info: SessionInfo | None) -> None:
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()  # crude but bounded; entries are cheap to reload
        self._cache[digest] = (info, self.monotonic())


def _select() -> Any:
    return select(
        sessions.c.id,
        sessions.c.user_id,
        sessions.c.mfa_passed,
        sessions.c.created_at,
        sessions.c.last_seen_at,
        sessions.c.expires_at,
        sessions.c.user_agent,
        sessions.c.ip,
        users.c.email,
        users.c.display_name,
    ).join(users, users.c.id == sessions.c.user_id)


def _info(row: Any) -> SessionInfo:
    return SessionInfo(
        digest=row.id,
        user_id=row.user_id,
        email=row.email,
        display_name=row.display_name,
        mfa_passed=bool(row.mfa_passed),
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        user_agent=row.user_agent,
        ip=row.ip,
    )


# -- the cookie side ----------------------------------------------------------------------


def session_token(connection: Any) -> str | None:
    """The token in the cookie session, or None (no session middleware ran, or no sign-in)."""
    session = connection.scope.get("session")
    if not isinstance(session, dict):
        return None
    token = session.get(SESSION_KEY)
    return token if isinstance(token, str) and token else None


def start_cookie_session(request: Any, token: str, **extra: Any) -> None:
    """Replace whatever the cookie session held by the new token: no fixation, no leftovers
    (except messages queued for the next page, core.templating.flash)."""
    old = request.scope.get("session")
    flashes = old.get(_FLASHES) if isinstance(old, dict) else None
    request.set_session({SESSION_KEY: token, **extra, **({_FLASHES: flashes} if flashes else {})})


def client_ip(connection: Any, trusted: Sequence[Network] = ()) -> str:
    """The client's address: the peer, or behind a trusted proxy the right-most untrusted
    ``X-Forwarded-For`` entry (:mod:`plugins.auth.proxies`)."""
    return client_address(connection, trusted)
