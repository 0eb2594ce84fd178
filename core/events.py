"""A typed in-process event bus.

Events are msgspec structs, so a subscriber knows exactly what it receives and
events serialise cheaply when they must cross a process. A failing subscriber is
logged and counted; it never reaches the publisher or the other subscribers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

import msgspec

__all__ = ["Event", "EventBus"]

log = logging.getLogger("switchyard.events")

Subscriber = Callable[[Any], Any]


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base class of every event; subclass it with typed fields."""


class EventBus:
    """Dispatch events to subscribers of their class or any base class."""

    def __init__(self, *, queue_size: int = 10_000) -> None:
        self._subscribers: dict[type[Event], list[Subscriber]] = {}
        self._resolved: dict[type[Event], tuple[Subscriber, ...]] = {}
        self._queue: asyncio.Queue[Event] | None = None
        self._queue_size = queue_size
        self._worker: asyncio.Task[None] | None = None
        self.failures = 0
        self.dropped = 0
        self.on_failure: Callable[[Event, Subscriber, BaseException], None] | None = None

    def subscribe(self, event_type: type[Event], fn: Subscriber) -> None:
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"subscribe() needs an Event subclass, got {event_type!r}")
        self._subscribers.setdefault(event_type, []).append(fn)
        self._resolved.clear()

    def subscribers_for(self, event_type: type[Event]) -> tuple[Subscriber, ...]:
        cached = self._resolved.get(event_type)
        if cached is None:
            cached = tuple(
                fn for klass in event_type.__mro__ for fn in self._subscribers.get(klass, ())
            )
            self._resolved[event_type] = cached
        return cached

    async def publish(self, event: Event) -> None:
        """Deliver to every subscriber now; async subscribers run concurrently."""
        pending = []
        for fn in self.subscribers_for(type(event)):
            try:
                result = fn(event)
            except Exception as exc:  # noqa: BLE001 - isolation is the point
                self._failed(event, fn, exc)
                continue
            if inspect.isawaitable(result):
                pending.append((fn, result))
        if pending:
            outcomes = await asyncio.gather(*(aw for _, aw in pending), return_exceptions=True)
            for (fn, _), outcome in zip(pending, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    self._failed(event, fn, outcome)

    def publish_nowait(self, event: Event) -> None:
        """Queue for background delivery, so hot paths never wait for subscribers."""
        if self._queue is None:
            raise RuntimeError("EventBus.publish_nowait() needs a started bus (call start())")
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("event queue full, dropped %s", type(event).__name__)

    async def start(self) -> None:
        if self._worker is None:
            self._queue = asyncio.Queue(self._queue_size)
            self._worker = asyncio.create_task(self._drain(), name="switchyard-event-bus")

    async def stop(self, timeout: float = 10.0) -> None:
        """Flush queued events, then stop the worker."""
        if self._worker is None or self._queue is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            log.error("event bus stopped with %d events undelivered", self._queue.qsize())
        self._worker.cancel()
        try:
            await self._worker
        except asyncio.CancelledError:
            pass
        self._worker = None

    async def _drain(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            try:
                await self.publish(event)
            finally:
                self._queue.task_done()

    def _failed(self, event: Event, fn: Subscriber, exc: BaseException) -> None:
        self.failures += 1
        name = getattr(fn, "__qualname__", repr(fn))
        log.error(
            "subscriber %s failed on %s", name, type(event).__name__, exc_info=exc
        )
        if self.on_failure is not None:
            self.on_failure(event, fn, exc)
