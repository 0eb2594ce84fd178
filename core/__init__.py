"""Switchyard's kernel: plugin discovery, the Configurator, settings, database and app factory.

It knows nothing about AI; everything AI-specific is a plugin.

The names below are imported on first use (PEP 562), so that a process needing only part
of the kernel (the server's supervisor reads settings and nothing else) does not load
SQLAlchemy and the rest: that keeps the supervisor's memory, which lives as long as the
server, small.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.actions import ConfigurationConflictError, ConfigurationError
    from core.configurator import Configurator
    from core.events import Event, EventBus
    from core.registry import PluginReport, Registry

_EXPORTS = {
    "ConfigurationConflictError": "core.actions",
    "ConfigurationError": "core.actions",
    "Configurator": "core.configurator",
    "Event": "core.events",
    "EventBus": "core.events",
    "PluginReport": "core.registry",
    "Registry": "core.registry",
}
__all__ = [
    "ConfigurationConflictError",
    "ConfigurationError",
    "Configurator",
    "Event",
    "EventBus",
    "PluginReport",
    "Registry",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    return getattr(import_module(module), name)
