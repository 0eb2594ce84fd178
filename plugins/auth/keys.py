"""The in-memory API key verifier the routing plugin calls on every request.

``KeyCache.verify(key)`` is a sha256 and a dict lookup: no database round trip on the hot
path. The cache is filled from the database at start-up, changed at once by the auth
service in this process (so a revocation made here is effective on the next request), and
reloaded by :meth:`KeyCache.refresh`, which the plugin schedules every few seconds so that
changes made by other instances or by the CLI arrive too. With Redis configured, every key
change is also announced on a channel and each instance reloads just the named keys at once
(:mod:`plugins.auth.revocation`, :meth:`KeyCache.reload`); the periodic reload stays as the
safety net.

No constant-time comparison is needed: the secret itself is never compared. The presented
key is hashed first and the digest is looked up; a timing difference in the dict lookup
could at most tell an attacker something about the digest of a guess they made themselves,
and even learning a stored digest whole would not give them the key (that needs a sha256
preimage of a 256-bit random value).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, exists, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from plugins.auth.credentials import hash_key, looks_like_key
from plugins.auth.models import api_keys, memberships, users, workspaces
from plugins.auth.scopes import allows, compile_scopes

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

    from core.db import Database

__all__ = ["CachedKey", "KeyCache", "Principal", "load_entries"]

log = logging.getLogger("switchyard.auth")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a key belongs to; the same attributes as ``plugins.routing.model.Principal``.

    ``key_id`` is the key's visible prefix, ``user`` the owner's email and ``workspace`` the
    workspace slug (the Casbin domain), so usage events and logs read well without lookups.
    """

    key_id: str | None = None
    user: str | None = None
    workspace: str | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CachedKey:
    """One usable key: its digest, who it stands for, and until when it works."""

    digest: str
    prefix: str
    principal: Principal
    not_after: float | None  # epoch seconds: the earlier of expires_at and grace_until


def _epoch(*moments: datetime | None) -> float | None:
    present = [m.timestamp() for m in moments if m is not None]
    return min(present) if present else None


async def load_entries(
    conn: AsyncConnection, now: datetime, where: ColumnElement[bool] | None = None
) -> list[CachedKey]:
    """Every key usable at ``now``: not revoked, not expired, not past its grace period,
    owned by an active user who is still a member of the key's workspace.

    The service builds its cache updates with the same query, so the two never disagree.
    """
    query = (
        select(
            api_keys.c.prefix,
            api_keys.c.secret_hash,
            api_keys.c.scopes,
            api_keys.c.expires_at,
            api_keys.c.grace_until,
            users.c.email,
            workspaces.c.slug,
        )
        .join(users, users.c.id == api_keys.c.user_id)
        .join(workspaces, workspaces.c.id == api_keys.c.workspace_id)
        .join(
            memberships,
            and_(
                memberships.c.user_id == api_keys.c.user_id,
                memberships.c.workspace_id == api_keys.c.workspace_id,
            ),
        )
        .where(
            api_keys.c.revoked_at.is_(None),
            users.c.is_active == true(),
            or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > now),
            or_(api_keys.c.grace_until.is_(None), api_keys.c.grace_until > now),
        )
    )
    if where is not None:
        query = query.where(where)
    rows = (await conn.execute(query)).all()
    return [
        CachedKey(
            digest=row.secret_hash,
            prefix=row.prefix,
            principal=Principal(
                key_id=row.prefix,
                user=row.email,
                workspace=row.slug,
                # Compiled once here, so scope checks on the hot path are one regex match.
                scopes=compile_scopes(tuple(row.scopes or ())),
            ),
            not_after=_epoch(row.expires_at, row.grace_until),
        )
        for row in rows
    ]


class KeyCache:
    """``verify(key) -> Principal | None`` from memory; provided as ``auth.api_keys``."""

    def __init__(
        self,
        db: Database | None = None,
        *,
        clock: Callable[[], float] = time.time,
        always_required: bool = False,
    ) -> None:
        self.db = db  # attached at start-up; the registry has no database at include time
        self.clock = clock
        self.always_required = always_required
        self.loaded_at: float | None = None  # when refresh() last succeeded
        self._any_key_ever: bool | None = None  # None: not known until a load succeeds
        self._by_digest: dict[str, CachedKey] = {}
        self._by_prefix: dict[str, str] = {}
        self._generation = 0  # bumped by every local change, so refresh() never undoes one
        self._refreshing = asyncio.Lock()

    # -- the hot path ---------------------------------------------------------------------

    @property
    def required(self) -> bool:
        """Whether clients must present a key: once any key was ever created (revoked ones
        count, so revoking the last key never opens the gateway), always when configured, and
        while the database could not be read yet (fail closed).

        Until then the embedded default stays usable without a key, as the product contract
        promises; the routing plugin is expected to treat ``required == False`` like having
        no verifier at all (see this plugin's README).
        """
        return self.always_required or self._any_key_ever is not False

    def verify(self, key: str) -> Principal | None:
        """The key's principal if it is usable now; None for unknown, revoked or expired."""
        if not looks_like_key(key):
            return None
        entry = self._by_digest.get(hash_key(key))
        if entry is None:
            return None
        if entry.not_after is not None and self.clock() >= entry.not_after:
            return None
        return entry.principal

    @staticmethod
    def allows(principal: Principal, path: str, model: str | None = None) -> bool:
        """Whether the key's scopes let it call ``path`` for ``model`` (routing asks this
        for keys that have scopes); the patterns were compiled when the key was loaded."""
        return allows(principal.scopes, path, model)

    # -- local changes (the service calls these after its transaction commits) ------------

    def put(self, entries: Iterable[CachedKey]) -> None:
        """Add or replace keys (a new key; an old key whose grace period just started)."""
        for entry in entries:
            self._generation += 1
            self._by_digest[entry.digest] = entry
            self._by_prefix[entry.prefix] = entry.digest
            self._any_key_ever = True

    def discard(self, prefix: str) -> None:
        """Forget a key at once (revoked, or no longer usable for another reason)."""
        self._generation += 1
        digest = self._by_prefix.pop(prefix, None)
        if digest is not None:
            self._by_digest.pop(digest, None)

    def __len__(self) -> int:
        return len(self._by_digest)

    def __contains__(self, prefix: object) -> bool:
        return prefix in self._by_prefix

    # -- reloading ------------------------------------------------------------------------

    async def reload(self, prefixes: Iterable[str]) -> int:
        """Re-read just these keys: the usable ones are put, the rest forgotten.

        This is how a change announced by another instance (created, rotated, revoked, owner
        removed) applies here at once without a full reload; returns how many are usable.
        """
        if self.db is None:
            raise RuntimeError("KeyCache.reload() before a database was attached (cache.db)")
        wanted = sorted(set(prefixes))
        if not wanted:
            return 0
        now = datetime.fromtimestamp(self.clock(), UTC)
        async with self.db.engine.connect() as conn:
            entries = await load_entries(conn, now, api_keys.c.prefix.in_(wanted))
            known = (
                await conn.execute(select(exists().where(api_keys.c.prefix.in_(wanted))))
            ).scalar()
        if known:  # a key exists (maybe revoked): keys are required from now on
            self._any_key_ever = True
        usable = {e.prefix for e in entries}
        for prefix in wanted:
            if prefix not in usable:
                self.discard(prefix)
        self.put(entries)
        return len(entries)

    async def refresh(self) -> int:
        """Reload every usable key from the database; returns how many there are.

        A local change made while the query ran would be undone by swapping in a snapshot
        read before it, so the load is repeated (a few times at most) until none happened.
        """
        if self.db is None:
            raise RuntimeError("KeyCache.refresh() before a database was attached (cache.db)")
        async with self._refreshing:
            for _ in range(3):
                generation = self._generation
                now = datetime.fromtimestamp(self.clock(), UTC)
                async with self.db.engine.connect() as conn:
                    entries = await load_entries(conn, now)
                    any_key = bool((await conn.execute(select(exists(api_keys.select())))).scalar())
                if generation == self._generation:
                    self._any_key_ever = bool(self._any_key_ever) or any_key
                    self._by_digest = {e.digest: e for e in entries}
                    self._by_prefix = {e.prefix: e.digest for e in entries}
                    self.loaded_at = self.clock()
                    return len(entries)
            log.info("auth keys changed during every reload attempt; keeping the current set")
            return len(self._by_digest)

    async def refresh_quietly(self, **_: Any) -> None:
        """:meth:`refresh` for the scheduler: a failure keeps the last good set and is logged."""
        try:
            await self.refresh()
        except Exception:
            log.warning("could not reload API keys; keeping the last loaded set", exc_info=True)
