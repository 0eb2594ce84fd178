"""Switchyard's kernel: plugin discovery, the Configurator, settings, database and app factory.

It knows nothing about AI; everything AI-specific is a plugin.
"""

from core.actions import ConfigurationConflictError, ConfigurationError
from core.configurator import Configurator
from core.events import Event, EventBus
from core.registry import PluginReport, Registry

__all__ = [
    "ConfigurationConflictError",
    "ConfigurationError",
    "Configurator",
    "Event",
    "EventBus",
    "PluginReport",
    "Registry",
]
