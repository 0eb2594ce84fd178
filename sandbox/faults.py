"""What goes wrong inside a plugin call, how it is counted, and when a plugin is disabled.

A fault fails only that call. Faults are counted per plugin in a sliding window;
reaching the threshold disables the plugin and publishes :class:`PluginDisabled`.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Literal

from core.events import Event

__all__ = ["FAULT_KINDS", "FaultKind", "FaultTracker", "PluginDisabled", "PluginFault"]

FaultKind = Literal["fuel", "timeout", "memory", "trap", "capability", "output", "unavailable"]
FAULT_KINDS: tuple[str, ...] = ("fuel", "timeout", "memory", "trap", "capability", "output", "unavailable")


class PluginFault(Exception):
    """A call into a wasm plugin failed; ``kind`` says which limit or rule stopped it."""

    def __init__(self, plugin: str, hook: str, kind: FaultKind, message: str) -> None:
        super().__init__(f"plugin {plugin!r} {hook}: {kind}: {message}")
        self.plugin = plugin
        self.hook = hook
        self.kind = kind
        self.message = message


class PluginDisabled(Event, frozen=True, kw_only=True):
    """A wasm plugin was disabled after repeated faults; admins should look at it."""

    plugin: str
    version: str
    reason: str
    faults: int
    last_fault: str


class FaultTracker:
    """Fault timestamps per plugin in a sliding window (called from the event loop only)."""

    def __init__(self, threshold: int, window_s: float) -> None:
        self.threshold = threshold
        self.window_s = window_s
        self._recent: dict[str, deque[float]] = {}
        self.totals: dict[str, int] = {}

    def record(self, plugin: str, now: float | None = None) -> bool:
        """Count one fault; True when the plugin has reached the threshold within the window."""
        now = time.monotonic() if now is None else now
        recent = self._recent.setdefault(plugin, deque())
        recent.append(now)
        while recent and recent[0] < now - self.window_s:
            recent.popleft()
        self.totals[plugin] = self.totals.get(plugin, 0) + 1
        return len(recent) >= self.threshold

    def recent(self, plugin: str) -> int:
        return len(self._recent.get(plugin, ()))

    def forget(self, plugin: str) -> None:
        """A re-enabled or reinstalled plugin starts with a clean window."""
        self._recent.pop(plugin, None)
