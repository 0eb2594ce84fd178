"""The Configurator plugins receive in ``includeme(config)``.

Every ``add_*`` method queues a deferred action keyed by what it claims;
``commit()`` resolves conflicts (naming both origins) and applies the winners
to the app's :class:`~core.registry.Registry`. A configurator is scoped to one
plugin: its name, its settings section and its template folder.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

from sqlalchemy import MetaData

from core.actions import Action, ActionInfo, ConfigurationError, resolve
from core.events import Event
from core.hooks import HookImpl, HookPoint
from core.registry import (
    CliCommand,
    Job,
    NavItem,
    Registry,
    RouteRegistration,
    StaticDir,
    ViewRegistration,
)

__all__ = ["Configurator"]

T = TypeVar("T")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass
class _State:
    """Shared by a root configurator and every child it includes."""

    actions: list[Action] = field(default_factory=list)
    seq: int = 0
    committed: bool = False


def _resolve_target(target: str | Callable[..., Any] | ModuleType) -> Callable[..., Any]:
    """Turn ``"pkg.mod:fn"``, ``"pkg.mod"`` or a module into its include function."""
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigurationError(f"include({target!r}): cannot import {module_name!r}: {exc}") from exc
        target = getattr(module, attr) if attr else module
    if isinstance(target, ModuleType):
        fn = getattr(target, "includeme", None)
        if fn is None:
            raise ConfigurationError(
                f"include({target.__name__!r}): the module has no includeme(config) function"
            )
        return fn
    if not callable(target):
        raise ConfigurationError(f"include() needs a callable or dotted name, got {target!r}")
    return target


def _package_dir(fn: Callable[..., Any]) -> str | None:
    module = inspect.getmodule(fn)
    path = getattr(module, "__file__", None)
    return os.path.dirname(os.path.abspath(path)) if path else None


ACCESS_LEVELS = ("policy", "signed_in")


def _check_access(plugin: str, access: str) -> None:
    if access not in ACCESS_LEVELS:
        raise ConfigurationError(f"plugin {plugin!r}: access must be one of {ACCESS_LEVELS}, got {access!r}")


class Configurator:
    """Registration API for one plugin; see the module docstring."""

    def __init__(
        self,
        registry: Registry,
        *,
        plugin: str = "core",
        includepath: tuple[str, ...] = (),
        package_dir: str | None = None,
        _state: _State | None = None,
    ) -> None:
        self.registry = registry
        self.plugin = plugin
        self.includepath = includepath
        self.package_dir = package_dir
        self._state = _state or _State()

    # -- scoping ---------------------------------------------------------------------------

    @property
    def settings(self) -> Any:
        """The kernel settings (read-only for plugins)."""
        return self.registry.settings

    @property
    def plugin_settings(self) -> dict[str, Any]:
        """This plugin's raw settings section; prefer :meth:`add_settings_schema`."""
        return dict(self.registry.settings.sections.get(self.plugin, {}))

    @property
    def template_dir(self) -> str | None:
        if self.package_dir is None:
            return None
        candidate = os.path.join(self.package_dir, "templates")
        return candidate if os.path.isdir(candidate) else None

    def include(self, target: str | Callable[..., Any] | ModuleType, *, plugin: str | None = None) -> None:
        """Run an include function against a child configurator.

        ``plugin=`` starts a new plugin scope (the kernel does this for each
        discovered plugin); otherwise the child stays in this plugin's scope and
        actions it queues may be overridden by this configurator's own.
        """
        fn = _resolve_target(target)
        ident = plugin or f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', fn)}"
        child = Configurator(
            self.registry,
            plugin=plugin or self.plugin,
            includepath=(*self.includepath, ident),
            package_dir=_package_dir(fn) if plugin else (self.package_dir or _package_dir(fn)),
            _state=self._state,
        )
        if plugin is not None:
            child._add_package_assets()
        fn(child)

    def _add_package_assets(self) -> None:
        """Find a plugin's ``templates/`` and ``static/`` folders automatically."""
        if self.template_dir:
            self.add_template_dir(self.template_dir)
        if self.package_dir and os.path.isdir(os.path.join(self.package_dir, "static")):
            self.add_static(self.plugin, os.path.join(self.package_dir, "static"))

    # -- the generic action API ------------------------------------------------------------

    def action(self, discriminator: Hashable | None, apply: Callable[[], Any], *, order: int = 0) -> None:
        """Queue a deferred registration; ``discriminator`` names what it claims."""
        if self._state.committed:
            raise ConfigurationError(
                f"plugin {self.plugin!r} registered {discriminator!r} after commit(); "
                "register everything inside includeme(config)"
            )
        self._state.seq += 1
        self._state.actions.append(
            Action(
                discriminator=discriminator,
                apply=apply,
                info=ActionInfo.capture(depth=2),
                plugin=self.plugin,
                includepath=self.includepath,
                order=order,
                seq=self._state.seq,
            )
        )

    def checkpoint(self) -> int:
        """How many actions are queued; pass to :meth:`rollback` to drop a failed include."""
        return len(self._state.actions)

    def rollback(self, checkpoint: int) -> None:
        del self._state.actions[checkpoint:]

    def commit(self) -> Registry:
        """Resolve conflicts, apply every winning action, order hooks."""
        winners = resolve(self._state.actions)
        self._state.actions.clear()
        for action in winners:
            action.apply()
        self.registry.hooks.finalize()
        self._state.committed = True
        self._fill_reports()
        return self.registry

    # -- hooks and events ------------------------------------------------------------------

    def add_hook_point(self, name: str, doc: str, *, firstresult: bool = False) -> None:
        """Declare an extension point other plugins may implement."""
        point = HookPoint(name=name, doc=doc, plugin=self.plugin, firstresult=firstresult)
        self.action(("hook-point", name), lambda: self.registry.hooks.declare(point), order=-10)

    def add_hook(
        self,
        point: str,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        before: str | Iterable[str] = (),
        after: str | Iterable[str] = (),
    ) -> None:
        """Implement ``point``; ``before``/``after`` name hook implementations or plugins."""
        impl = HookImpl(
            point=point,
            fn=fn,
            name=name or f"{self.plugin}.{getattr(fn, '__name__', 'hook')}",
            plugin=self.plugin,
            before=(before,) if isinstance(before, str) else tuple(before),
            after=(after,) if isinstance(after, str) else tuple(after),
            is_async=inspect.iscoroutinefunction(fn),
        )
        self.action(("hook", point, impl.name), lambda: self.registry.hooks.add(impl))

    def add_subscriber(self, event_type: type[Event], fn: Callable[[Any], Any]) -> None:
        """Receive every published event of ``event_type`` (or a subclass)."""
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise ConfigurationError(
                f"plugin {self.plugin!r}: add_subscriber() needs an Event subclass, got {event_type!r}"
            )
        self.action(None, lambda: self.registry.events.subscribe(event_type, fn))

    def provide(self, name: str, obj: Any) -> None:
        """Offer an interface other plugins look up with ``registry.get_interface(name)``."""
        self.action(("interface", name), lambda: self.registry.interfaces.__setitem__(name, obj))

    # -- HTTP ------------------------------------------------------------------------------

    def add_route(self, handler: Any, *, public: bool = False, access: str = "policy") -> None:
        """Register a Litestar route handler (``@get``, ``@post``, ``@asgi`` ...).

        ``public=True`` lists it among the routes reachable without a policy decision;
        ``access="signed_in"`` lets any signed-in identity through (self-service routes).
        """
        _check_access(self.plugin, access)
        paths = tuple(sorted(getattr(handler, "paths", ()) or ()))
        if not paths:
            raise ConfigurationError(
                f"plugin {self.plugin!r}: add_route() needs a Litestar route handler, got {handler!r}"
            )
        methods = tuple(sorted(getattr(handler, "http_methods", None) or ("*",)))
        registration = RouteRegistration(handler, self.plugin, methods, paths, public)
        self._claim_routes(methods, paths, self.registry.routes, registration)
        if public:
            for path in paths:
                self.add_public_path(path)
        elif access == "signed_in":
            for path in paths:
                self.add_signed_in_path(path, methods)

    def add_view(
        self,
        path: str,
        view: Callable[..., Any],
        *,
        template: str | None = None,
        methods: Iterable[str] = ("GET",),
        name: str | None = None,
        title: str | None = None,
        public: bool = False,
        access: str = "policy",
    ) -> None:
        """Add a UI page at ``/ui{path}``; ``view(request)`` returns a context dict or a Response.

        Pages get a policy decision unless ``public=True`` (no sign-in) or
        ``access="signed_in"`` (any signed-in identity: the user's own settings).
        """
        _check_access(self.plugin, access)
        if not path.startswith("/"):
            raise ConfigurationError(f"plugin {self.plugin!r}: view path {path!r} must start with '/'")
        methods = tuple(sorted(m.upper() for m in methods))
        unknown = set(methods) - HTTP_METHODS
        if unknown:
            raise ConfigurationError(f"plugin {self.plugin!r}: unknown HTTP method(s) {sorted(unknown)}")
        full = "/ui" + (path if path != "/" else "/")
        registration = ViewRegistration(
            path=full,
            view=view,
            template=template,
            methods=methods,
            name=name or f"{self.plugin}:{getattr(view, '__name__', 'view')}",
            title=title or getattr(view, "__name__", "").replace("_", " ").capitalize(),
            plugin=self.plugin,
            public=public,
        )
        self._claim_routes(methods, (full,), self.registry.views, registration)
        if public:
            self.add_public_path(full)
        elif access == "signed_in":
            self.add_signed_in_path(full, methods)

    def _claim_routes(
        self, methods: tuple[str, ...], paths: tuple[str, ...], target: list[Any], registration: Any
    ) -> None:
        """Claim every (method, path); the registration applies once if any claim survives."""

        def apply() -> None:
            if not any(existing is registration for existing in target):
                target.append(registration)

        for path in paths:
            for method in methods:
                self.action(("route", method, path), apply)

    def add_public_path(self, path: str) -> None:
        """Declare a path reachable without signing in (the one list of public routes)."""
        self.action(None, lambda: self.registry.public_paths.add(path))

    def add_signed_in_path(self, path: str, methods: Iterable[str] = ("*",)) -> None:
        """Declare a self-service path: any signed-in identity, no workspace policy decision."""
        for method in methods:
            self.action(None, lambda m=method: self.registry.signed_in_paths.add((m, path)))

    def add_static(self, prefix: str, directory: str) -> None:
        """Serve ``directory`` at ``/static/{prefix}/``."""
        directory = self._path(directory)
        if not os.path.isdir(directory):
            raise ConfigurationError(f"plugin {self.plugin!r}: static folder {directory!r} does not exist")
        static = StaticDir(prefix.strip("/"), directory, self.plugin)
        self.action(("static", static.prefix), lambda: self.registry.static.append(static))

    # -- UI --------------------------------------------------------------------------------

    def add_nav_item(self, title: str, href: str, *, icon: str | None = None, order: int = 100) -> None:
        item = NavItem(title=title, href=href, plugin=self.plugin, icon=icon, order=order)
        self.action(("nav", href), lambda: self.registry.nav.append(item))

    def add_template_dir(self, directory: str) -> None:
        directory = self._path(directory)
        if not os.path.isdir(directory):
            raise ConfigurationError(f"plugin {self.plugin!r}: template folder {directory!r} does not exist")
        entry = (self.plugin, directory)
        self.action(None, lambda: self.registry.template_dirs.append(entry))

    # -- settings, data, jobs, CLI ---------------------------------------------------------

    def add_settings_schema(self, schema: type[T], *, section: str | None = None) -> T:
        """Validate this plugin's settings section now and return the typed value."""
        from core.settings import validate_section

        section = section or self.plugin
        value = validate_section(self.registry.settings, section, schema)
        entry = (schema, self.plugin)
        self.action(
            ("settings", section), lambda: self.registry.settings_schemas.__setitem__(section, entry)
        )
        return value

    def add_metadata(self, metadata: MetaData, *, migrations: str | None = None) -> None:
        """Add this plugin's tables; ``migrations`` is its folder of Alembic version scripts."""
        from core.migrate import MigrationSource

        if metadata.tables and not migrations:
            raise ConfigurationError(
                f"plugin {self.plugin!r}: add_metadata() with tables needs migrations=<folder of "
                "Alembic version scripts>; tables are never created behind Alembic's back"
            )
        source = MigrationSource(self.plugin, metadata, self._path(migrations) if migrations else None)
        self.action(("metadata", self.plugin), lambda: self.registry.migration_sources.append(source))
        for table in metadata.tables:
            self.action(("table", table), lambda: None)

    def add_job(self, fn: Callable[..., Any], trigger: str, *, id: str | None = None, **trigger_args: Any) -> None:
        """Schedule ``fn`` with APScheduler (``trigger`` is "interval", "cron" or "date")."""
        job = Job(
            id=id or f"{self.plugin}.{getattr(fn, '__name__', 'job')}",
            fn=fn,
            trigger=trigger,
            trigger_args=trigger_args,
            plugin=self.plugin,
        )
        self.action(("job", job.id), lambda: self.registry.jobs.append(job))

    def add_cli_command(self, command: Any) -> None:
        """Add a click command or group under ``switchyard``."""
        name = getattr(command, "name", None)
        if not name:
            raise ConfigurationError(f"plugin {self.plugin!r}: add_cli_command() needs a click command")
        entry = CliCommand(command, self.plugin)
        self.action(("cli", name), lambda: self.registry.cli_commands.append(entry))

    # -- helpers ---------------------------------------------------------------------------

    def _path(self, path: str) -> str:
        if os.path.isabs(path) or self.package_dir is None:
            return os.path.abspath(path)
        return os.path.join(self.package_dir, path)

    def _fill_reports(self) -> None:
        registry = self.registry
        for impl in registry.hooks.all_impls():
            registry.report(impl.plugin).hooks.append(impl.point)
        for route in registry.routes:
            for path in route.paths:
                registry.report(route.plugin).routes.append(f"{' '.join(route.methods)} {path}")
        for view in registry.views:
            registry.report(view.plugin).views.append(view.path)
        for item in registry.nav:
            registry.report(item.plugin).nav.append(item.title)
        for job in registry.jobs:
            registry.report(job.plugin).jobs.append(job.id)
        for report in registry.plugins.values():
            for items in (report.hooks, report.routes, report.views, report.nav, report.jobs):
                items[:] = sorted(set(items))
