"""Hook points and their ordered implementations.

A plugin declares a hook point once (``add_hook_point``); any plugin may then
implement it (``add_hook``). Order is explicit: ``before=``/``after=`` name other
implementations or whole plugins, and a topological sort decides, never import order.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.actions import ConfigurationError

__all__ = ["HookImpl", "HookPoint", "HookRegistry", "order_impls"]


@dataclass(frozen=True, slots=True)
class HookPoint:
    """A named extension point; ``doc`` is what the plugins page and the docs show."""

    name: str
    doc: str
    plugin: str
    firstresult: bool = False


@dataclass(frozen=True, slots=True)
class HookImpl:
    """One implementation of a hook point."""

    point: str
    fn: Callable[..., Any]
    name: str
    plugin: str
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    is_async: bool = field(default=False)


def _matches(ref: str, impl: HookImpl) -> bool:
    return ref == impl.name or ref == impl.plugin


def order_impls(impls: Sequence[HookImpl]) -> list[HookImpl]:
    """Sort by before/after constraints; ties keep registration order.

    References to names that are not registered are ignored, so a plugin may
    order itself against an optional plugin that is disabled.
    """
    edges: dict[int, set[int]] = {i: set() for i in range(len(impls))}
    for i, impl in enumerate(impls):
        for j, other in enumerate(impls):
            if i == j:
                continue
            if any(_matches(ref, other) for ref in impl.before):
                edges[i].add(j)  # i runs before j
            if any(_matches(ref, other) for ref in impl.after):
                edges[j].add(i)
    indegree = {i: 0 for i in edges}
    for targets in edges.values():
        for j in targets:
            indegree[j] += 1
    ready = sorted(i for i, d in indegree.items() if d == 0)
    result: list[int] = []
    while ready:
        i = ready.pop(0)
        result.append(i)
        for j in sorted(edges[i]):
            indegree[j] -= 1
            if indegree[j] == 0:
                ready.append(j)
                ready.sort()
    if len(result) != len(impls):
        stuck = ", ".join(repr(impls[i].name) for i in edges if i not in result)
        point = impls[0].point
        raise ConfigurationError(
            f"Hook {point!r}: before/after constraints form a cycle among {stuck}; "
            "remove one of the constraints."
        )
    return [impls[i] for i in result]


class HookRegistry:
    """The committed hook points and their implementations, ordered once at commit."""

    def __init__(self) -> None:
        self.points: dict[str, HookPoint] = {}
        self._impls: dict[str, list[HookImpl]] = {}
        self._ordered: dict[str, tuple[HookImpl, ...]] = {}

    def declare(self, point: HookPoint) -> None:
        self.points[point.name] = point

    def add(self, impl: HookImpl) -> None:
        self._impls.setdefault(impl.point, []).append(impl)

    def finalize(self) -> None:
        """Check every implementation has a declared point, then order each point once."""
        for name, impls in self._impls.items():
            if name not in self.points:
                known = ", ".join(sorted(self.points)) or "none"
                culprits = ", ".join(sorted({i.plugin for i in impls}))
                raise ConfigurationError(
                    f"Plugin(s) {culprits} implement hook {name!r}, which no plugin declares "
                    f"(declared points: {known}). Check the spelling or enable the plugin "
                    "that declares it."
                )
        self._ordered = {name: tuple(order_impls(impls)) for name, impls in self._impls.items()}

    def impls(self, point: str) -> tuple[HookImpl, ...]:
        return self._ordered.get(point, ())

    def callables(self, point: str) -> tuple[Callable[..., Any], ...]:
        """The ordered functions, for hot paths that loop themselves."""
        return tuple(impl.fn for impl in self.impls(point))

    def all_impls(self) -> Iterable[HookImpl]:
        for impls in self._ordered.values():
            yield from impls

    def call(self, point: str, **kwargs: Any) -> list[Any]:
        """Call sync implementations in order; results that are None are dropped."""
        results = []
        for impl in self.impls(point):
            result = impl.fn(**kwargs)
            if result is not None:
                results.append(result)
                if self.points[point].firstresult:
                    break
        return results

    async def acall(self, point: str, **kwargs: Any) -> list[Any]:
        """Call implementations in order, awaiting the async ones."""
        results = []
        for impl in self.impls(point):
            result = impl.fn(**kwargs)
            if inspect.isawaitable(result):
                result = await result
            if result is not None:
                results.append(result)
                if self.points[point].firstresult:
                    break
        return results
