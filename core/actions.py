"""Deferred registrations and conflict resolution, after Pyramid's ``config/actions.py``.

Plugins declare what they claim; nothing takes effect until ``commit()``. Each
claim carries a *discriminator* (``("route", "GET", "/v1/models")``): two claims
with the same discriminator conflict unless one was made by code that included
the other, in which case the includer wins (an override on purpose).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Action", "ActionInfo", "ConfigurationConflictError", "ConfigurationError", "resolve"]


_HERE = os.path.dirname(os.path.abspath(__file__))
_REGISTRATION_FILES = {os.path.join(_HERE, "actions.py"), os.path.join(_HERE, "configurator.py")}


class ConfigurationError(Exception):
    """A plugin registered something the kernel cannot apply."""


@dataclass(frozen=True, slots=True)
class ActionInfo:
    """Where a registration was made: the file and line a developer must open."""

    file: str
    line: int
    source: str = ""

    @classmethod
    def capture(cls, depth: int = 2) -> ActionInfo:
        """Record the first caller outside the kernel's configurator modules."""
        frame = inspect.currentframe()
        try:
            for _ in range(depth):
                if frame is None:
                    break
                frame = frame.f_back
            while frame is not None and os.path.abspath(frame.f_code.co_filename) in _REGISTRATION_FILES:
                frame = frame.f_back
            if frame is None:
                return cls("<unknown>", 0)
            info = inspect.getframeinfo(frame, context=1)
            source = (info.code_context or [""])[0].strip()
            return cls(info.filename, info.lineno, source)
        finally:
            del frame

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}\n      {self.source}" if self.source else where


@dataclass(slots=True)
class Action:
    """One deferred registration."""

    discriminator: Hashable | None
    apply: Callable[[], Any]
    info: ActionInfo
    plugin: str
    includepath: tuple[str, ...] = ()
    order: int = 0
    seq: int = field(default=0)


class ConfigurationConflictError(ConfigurationError):
    """Two plugins claimed the same thing; the message names both origins."""

    def __init__(self, conflicts: dict[Hashable, list[Action]]) -> None:
        self.conflicts = conflicts
        lines = ["Conflicting registrations:"]
        for discriminator, actions in conflicts.items():
            lines.append(f"  For: {discriminator!r}")
            for action in actions:
                lines.append(f"    plugin {action.plugin!r} at {action.info}")
        lines.append(
            "Disable one of the plugins, or include one from the other so the includer overrides it."
        )
        super().__init__("\n".join(lines))


def _is_prefix(prefix: Sequence[str], path: Sequence[str]) -> bool:
    return len(prefix) <= len(path) and tuple(path[: len(prefix)]) == tuple(prefix)


def resolve(actions: Sequence[Action]) -> list[Action]:
    """Drop overridden actions, raise on true conflicts, return the rest in apply order."""
    by_discriminator: dict[Hashable, list[Action]] = {}
    winners: list[Action] = []
    for action in actions:
        if action.discriminator is None:
            winners.append(action)
        else:
            by_discriminator.setdefault(action.discriminator, []).append(action)

    conflicts: dict[Hashable, list[Action]] = {}
    for discriminator, claims in by_discriminator.items():
        claims.sort(key=lambda a: (len(a.includepath), a.seq))
        basis = claims[0]
        losers = [a for a in claims[1:] if not _is_prefix(basis.includepath, a.includepath)]
        # An action at the same include depth as the basis is not overridden by it.
        losers += [a for a in claims[1:] if a.includepath == basis.includepath and a not in losers]
        if losers:
            conflicts[discriminator] = [basis, *losers]
        else:
            winners.append(basis)
    if conflicts:
        raise ConfigurationConflictError(conflicts)
    winners.sort(key=lambda a: (a.order, a.seq))
    return winners
