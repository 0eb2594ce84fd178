"""The committed configuration of one app: what every plugin registered.

One registry per app and no module-level state, so a test can build two apps
side by side. Handlers reach it as ``request.app.state.registry``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from core.events import EventBus
from core.hooks import HookRegistry

if TYPE_CHECKING:
    import click

    from core.db import Database
    from core.migrate import MigrationSource
    from core.permissions import Permissions
    from core.settings import Settings

__all__ = [
    "CliCommand",
    "Job",
    "NavItem",
    "PluginReport",
    "Registry",
    "RouteRegistration",
    "StaticDir",
    "ViewRegistration",
]


@dataclass(slots=True)
class PluginReport:
    """What the plugins page and ``switchyard plugins`` show for one plugin."""

    name: str
    version: str = ""
    origin: str = "inline"
    status: str = "ok"  # ok | failed | disabled
    error: str | None = None
    required: bool = False
    hooks: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    views: list[str] = field(default_factory=list)
    nav: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    first_seen: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class RouteRegistration:
    handler: Any  # a Litestar route handler
    plugin: str
    methods: tuple[str, ...]
    paths: tuple[str, ...]
    public: bool = False


@dataclass(frozen=True, slots=True)
class ViewRegistration:
    """A UI page: ``view(request)`` returns a template context dict or a Response."""

    path: str
    view: Callable[..., Any]
    template: str | None
    methods: tuple[str, ...]
    name: str
    title: str
    plugin: str
    public: bool = False


@dataclass(frozen=True, slots=True)
class NavItem:
    title: str
    href: str
    plugin: str
    icon: str | None = None
    order: int = 100


@dataclass(frozen=True, slots=True)
class StaticDir:
    prefix: str
    directory: str
    plugin: str


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    fn: Callable[..., Any]
    trigger: str
    trigger_args: dict[str, Any]
    plugin: str


@dataclass(frozen=True, slots=True)
class CliCommand:
    command: click.Command
    plugin: str


@dataclass
class Registry:
    """Everything committed, plus the app-wide services plugins share."""

    settings: Settings
    hooks: HookRegistry = field(default_factory=HookRegistry)
    events: EventBus = field(default_factory=EventBus)
    metrics: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))
    plugins: dict[str, PluginReport] = field(default_factory=dict)
    routes: list[RouteRegistration] = field(default_factory=list)
    views: list[ViewRegistration] = field(default_factory=list)
    nav: list[NavItem] = field(default_factory=list)
    static: list[StaticDir] = field(default_factory=list)
    template_dirs: list[tuple[str, str]] = field(default_factory=list)  # (plugin, dir)
    jobs: list[Job] = field(default_factory=list)
    cli_commands: list[CliCommand] = field(default_factory=list)
    migration_sources: list[MigrationSource] = field(default_factory=list)
    settings_schemas: dict[str, tuple[type, str]] = field(default_factory=dict)
    public_paths: set[str] = field(default_factory=set)
    signed_in_paths: set[tuple[str, str]] = field(default_factory=set)  # (method or "*", path)
    interfaces: dict[str, Any] = field(default_factory=dict)
    db: Database | None = None
    permissions: Permissions | None = None  # the kernel's policy service (core.security)
    state: dict[str, Any] = field(default_factory=dict)

    def report(self, plugin: str) -> PluginReport:
        return self.plugins.setdefault(plugin, PluginReport(name=plugin))

    def get_interface(self, name: str, default: Any = None) -> Any:
        """Look up an object another plugin provided with ``config.provide()``."""
        return self.interfaces.get(name, default)
