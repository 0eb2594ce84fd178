"""Key changes reach every instance at once: a Redis channel between the key caches.

Each instance answers API keys from its own in-memory :class:`~plugins.auth.keys.KeyCache`.
Without help, a key revoked on instance A would keep working on instance B until B's next
periodic reload. With ``redis.url`` set, the service announces every key change (create,
rotate, revoke, a member removed) after its commit as a message naming the affected key
prefixes; every instance's subscriber re-reads just those keys from the shared database
(:meth:`KeyCache.reload`), so B refuses a revoked key within a network round trip.

The message carries only prefixes, never a decision: the database stays the one truth, so a
message that arrives late, twice or out of order cannot resurrect a key. Messages lost while
an instance was disconnected are covered by a full reload on reconnecting, and the periodic
reload stays as the safety net. Publishing never fails the change that triggered it.

Session revocations (sign-out, sign out everywhere, the CLI's ``users sign-out``) travel the
same way on a second channel, :data:`SESSION_CHANNEL`: the message names session digests
and/or user ids, and every instance drops those entries from its
:class:`~plugins.auth.sessions.SessionStore` cache, so its next lookup reads the revoked row
instead of trusting the cache for up to ``session_cache_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from plugins.auth.keys import KeyCache
    from plugins.auth.sessions import SessionStore

__all__ = ["CHANNEL", "SESSION_CHANNEL", "KeyChanges", "publish_once"]

log = logging.getLogger("switchyard.auth")
CHANNEL = "switchyard:auth:keys"
SESSION_CHANNEL = "switchyard:auth:sessions"
_MAX_BACKOFF = 30.0


def _message(prefixes: Iterable[str] | None, origin: str) -> str:
    """``prefixes=None`` asks every instance for a full reload (e.g. many keys changed)."""
    return json.dumps(
        {"from": origin, "prefixes": None if prefixes is None else sorted(set(prefixes))}
    )


class KeyChanges:
    """Publisher and subscriber for one instance; the plugin starts it at start-up.

    ``publish(prefixes)`` is what :class:`~plugins.auth.service.AuthService` calls after a
    key change; ``start()`` runs the subscriber task that applies other instances' changes to
    ``cache``; ``stop()`` ends it and closes the connection.
    """

    def __init__(
        self,
        url: str,
        cache: KeyCache | None = None,
        *,
        channel: str = CHANNEL,
        session_channel: str = SESSION_CHANNEL,
    ) -> None:
        self.url = url
        self.cache = cache
        self.sessions: SessionStore | None = None  # set by the sign-in side at start-up
        self.channel = channel
        self.session_channel = session_channel
        self.origin = secrets.token_hex(8)  # this instance: its own messages are already applied
        self.client_name = f"switchyard-auth-{self.origin}"  # how it shows in CLIENT LIST
        self.subscribed = asyncio.Event()  # set while the subscription is live (tests wait on it)
        self.applied = 0  # messages from other instances applied so far
        self._client: Redis | None = None
        self._task: asyncio.Task[None] | None = None

    def _redis(self) -> Redis:
        if self._client is None:
            from redis.asyncio import Redis

            self._client = Redis.from_url(
                self.url, socket_connect_timeout=2.0, client_name=self.client_name
            )
        return self._client

    # -- publishing -----------------------------------------------------------------------

    async def publish(self, prefixes: Iterable[str] | None) -> None:
        """Announce changed keys; a Redis failure is logged, the periodic reload covers it."""
        try:
            await self._redis().publish(self.channel, _message(prefixes, self.origin))
        except Exception as exc:  # noqa: BLE001 - never fail the key change itself
            log.warning(
                "could not announce key change on Redis (%s); other instances pick it "
                "up on their next key reload",
                exc,
            )

    async def publish_sessions(
        self, digests: Iterable[str] = (), user_ids: Iterable[int] = ()
    ) -> None:
        """Announce revoked sessions (by digest) or every session of users (by id)."""
        body = json.dumps(
            {"from": self.origin, "digests": sorted(set(digests)), "users": sorted(set(user_ids))}
        )
        try:
            await self._redis().publish(self.session_channel, body)
        except Exception as exc:  # noqa: BLE001 - never fail the sign-out itself
            log.warning(
                "could not announce a session revocation on Redis (%s); other instances "
                "apply it within [auth] session_cache_seconds",
                exc,
            )

    # -- subscribing ----------------------------------------------------------------------

    async def start(self, *, wait: float = 2.0) -> None:
        """Start the subscriber; waits up to ``wait`` s for the subscription, never fails."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="auth.key-changes")
        try:
            await asyncio.wait_for(self.subscribed.wait(), wait)
        except TimeoutError:
            log.warning(
                "Redis at %s not reachable yet; key changes from other instances arrive "
                "with the periodic reload until it is",
                self.url,
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        self.subscribed.clear()

    async def _run(self) -> None:
        backoff = 0.5
        connected_before = False
        while True:
            pubsub = self._redis().pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel, self.session_channel)
                if connected_before and self.cache is not None:
                    # Messages may have been missed while disconnected: reload everything.
                    await self.cache.refresh_quietly()
                if connected_before and self.sessions is not None:
                    self.sessions.forget()  # and look every session up afresh
                connected_before = True
                self.subscribed.set()
                backoff = 0.5
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    if _text(message.get("channel")) == self.session_channel:
                        self._apply_sessions(message["data"])
                    else:
                        await self._apply(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep serving; retry with backoff
                self.subscribed.clear()
                log.warning(
                    "Redis key-change subscription lost (%s); retrying in %.1f s", exc, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
            finally:
                with contextlib.suppress(Exception):  # the connection is gone anyway
                    await pubsub.aclose()

    async def _apply(self, data: Any) -> None:
        try:
            body = json.loads(data)
            origin, prefixes = body["from"], body["prefixes"]
        except (ValueError, TypeError, KeyError):
            log.warning("ignored a malformed key-change message on %s: %r", self.channel, data)
            return
        if origin == self.origin or self.cache is None:
            return
        try:
            if prefixes is None:
                await self.cache.refresh()
            else:
                await self.cache.reload(str(p) for p in prefixes)
        except Exception:  # the periodic reload will retry
            log.warning("could not apply a key change from another instance", exc_info=True)
            return
        self.applied += 1

    def _apply_sessions(self, data: Any) -> None:
        try:
            body = json.loads(data)
            origin = body["from"]
            digests = [str(d) for d in body.get("digests") or ()]
            user_ids = [int(u) for u in body.get("users") or ()]
        except (ValueError, TypeError, KeyError, AttributeError):
            log.warning("ignored a malformed session message on %s: %r", self.session_channel, data)
            return
        if origin == self.origin or self.sessions is None:
            return
        self.sessions.forget(digests=digests, user_ids=user_ids)
        self.applied += 1


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def publish_once(url: str, prefixes: Iterable[str] | None, *, channel: str = CHANNEL) -> None:
    """Announce a change from a short-lived process (the CLI), then close the connection."""
    changes = KeyChanges(url, channel=channel)
    try:
        await changes.publish(prefixes)
    finally:
        await changes.stop()
