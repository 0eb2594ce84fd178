"""The event bus: typed events, sync and async subscribers, failures kept apart."""

from __future__ import annotations

import asyncio

import pytest

from core.events import Event, EventBus


class Thing(Event):
    name: str


class SpecialThing(Thing):
    level: int = 1


class Other(Event):
    pass


async def test_sync_and_async_subscribers_both_receive() -> None:
    bus = EventBus()
    got: list[str] = []

    async def later(event: Thing) -> None:
        await asyncio.sleep(0)
        got.append(f"async:{event.name}")

    bus.subscribe(Thing, lambda e: got.append(f"sync:{e.name}"))
    bus.subscribe(Thing, later)
    await bus.publish(Thing(name="x"))
    assert sorted(got) == ["async:x", "sync:x"]


async def test_subclass_events_reach_base_subscribers_only_by_type() -> None:
    bus = EventBus()
    got: list[str] = []
    bus.subscribe(Thing, lambda e: got.append("thing"))
    bus.subscribe(SpecialThing, lambda e: got.append("special"))
    bus.subscribe(Other, lambda e: got.append("other"))
    await bus.publish(SpecialThing(name="s"))
    await bus.publish(Thing(name="t"))
    assert got == ["special", "thing", "thing"]  # most specific subscribers first


async def test_a_failing_subscriber_does_not_reach_the_others_or_the_publisher() -> None:
    bus = EventBus()
    got: list[str] = []
    failed: list[str] = []

    def broken(event: Thing) -> None:
        raise ValueError("sync boom")

    async def broken_async(event: Thing) -> None:
        raise ValueError("async boom")

    bus.on_failure = lambda event, fn, exc: failed.append(str(exc))
    bus.subscribe(Thing, broken)
    bus.subscribe(Thing, broken_async)
    bus.subscribe(Thing, lambda e: got.append(e.name))
    await bus.publish(Thing(name="ok"))
    assert got == ["ok"]
    assert sorted(failed) == ["async boom", "sync boom"]
    assert bus.failures == 2


async def test_queued_events_are_flushed_on_stop() -> None:
    bus = EventBus()
    got: list[int] = []

    async def slow(event: SpecialThing) -> None:
        await asyncio.sleep(0.001)
        got.append(event.level)

    bus.subscribe(SpecialThing, slow)
    await bus.start()
    for level in range(50):
        bus.publish_nowait(SpecialThing(name="n", level=level))
    await bus.stop()
    assert got == list(range(50))


def test_only_event_types_may_be_subscribed() -> None:
    with pytest.raises(TypeError, match="Event subclass"):
        EventBus().subscribe(dict, print)  # type: ignore[arg-type]


async def test_publish_nowait_needs_a_started_bus() -> None:
    with pytest.raises(RuntimeError, match="start"):
        EventBus().publish_nowait(Thing(name="x"))
