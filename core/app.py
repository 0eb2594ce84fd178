"""Building the app: discover plugins, commit their registrations, make the Litestar app."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, route
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import HTTPException
from litestar.logging.config import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.openapi import OpenAPIConfig
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from core import probes, security
from core.configurator import Configurator
from core.db import Database, record_plugin_states
from core.discovery import PluginSpec, discover, include_plugins
from core.fastpath import install_fast_paths
from core.home import derive_secret, prepare_home, secret_key
from core.jobs import start_scheduler, stop_scheduler
from core.registry import Registry, ViewRegistration
from core.settings import Settings, SettingsError, load_settings
from core.templating import CSRF_COOKIE, CSRF_HEADER, Templates

__all__ = ["app_from_registry", "build_registry", "make_app", "reload_settings", "switchyard_version"]

log = logging.getLogger("switchyard")
PluginLike = PluginSpec | Callable[..., Any] | tuple[str, Any]
_UNCHECKED = {"exclude_from_csrf": True, "skip_session": True}


def build_registry(settings: Settings | None = None, *, plugins: Sequence[PluginLike] | None = None) -> Registry:
    """Include the kernel and every plugin, then commit.

    ``plugins=None`` discovers entry points (what ``serve`` does); a list of
    include functions or :class:`PluginSpec` builds an app from exactly those,
    which is how tests build small apps side by side.
    """
    settings = settings or load_settings(None)
    registry = Registry(settings=settings)
    root = Configurator(registry)
    root.include(probes.includeme, plugin="core")
    root.include(security.includeme, plugin="core")
    registry.report("core").origin = "kernel"
    registry.report("core").version = switchyard_version()
    if plugins is None:
        chosen = settings.plugins
        specs, reports = discover(enabled=chosen.enabled, disabled=chosen.disabled, required=chosen.required)
    else:
        specs = [PluginSpec.coerce(p) for p in plugins]
        required = set(settings.plugins.required)
        specs = [s if s.name not in required else _required(s) for s in specs]
        reports = []
    include_plugins(root, specs, reports)
    root.commit()
    registry.db = Database(settings.database_url, echo=settings.database.echo)
    return registry


def _required(spec: PluginSpec) -> PluginSpec:
    return PluginSpec(spec.name, spec.includeme, spec.version, spec.origin, True)


def make_app(settings: Settings | None = None, *, plugins: Sequence[PluginLike] | None = None) -> Litestar:
    """The ASGI app for ``settings``, built from the committed configuration."""
    registry = build_registry(settings, plugins=plugins)
    return app_from_registry(registry)


def app_from_registry(registry: Registry) -> Litestar:
    settings = registry.settings
    prepare_home(settings.home)
    key = secret_key(settings.home)
    templates = Templates(registry)
    registry.state["templates"] = templates
    secure = settings.web.secure_cookies
    if secure is None:
        secure = settings.server.host not in ("127.0.0.1", "localhost", "::1")

    handlers: list[Any] = [r.handler for r in registry.routes]
    handlers += [_view_handler(view, templates) for view in registry.views]
    handlers = security.guarded_handlers(registry, handlers)
    handlers += [
        create_static_files_router(
            path=f"/static/{s.prefix}",
            directories=[s.directory],
            name=f"static:{s.prefix}",
            include_in_schema=False,
            opt=_UNCHECKED,
        )
        for s in registry.static
    ]
    app = Litestar(
        route_handlers=handlers,
        state=_state(registry),
        lifespan=[_lifespan],
        middleware=[
            CookieBackendConfig(
                secret=derive_secret(key, "session"),
                key="sy_session",
                secure=secure,
                httponly=True,
                samesite="lax",
                max_age=14 * 24 * 3600,
            ).middleware,
            DefineMiddleware(
                security.CSRFMiddleware,
                config=CSRFConfig(
                    secret=derive_secret(key, "csrf").hex(),
                    cookie_name=CSRF_COOKIE,
                    header_name=CSRF_HEADER,
                    cookie_secure=secure,
                    cookie_samesite="strict",
                ),
            ),
        ],
        openapi_config=OpenAPIConfig(title="Switchyard", version=switchyard_version(), path="/schema"),
        exception_handlers={HTTPException: _ui_error_handler},
        logging_config=LoggingConfig(
            log_exceptions="always",
            configure_root_logger=False,
            # refusals (bad input, not signed in, denied, no such page) are traffic, not faults
            disable_stack_trace={400, 401, 403, 404, 405},
        ),
        debug=False,
    )
    rules = registry.state["security.access"]
    install_fast_paths(app, [r.handler for r in registry.routes], lambda path: rules.is_public(path, path))
    return app


def _state(registry: Registry) -> Any:
    from litestar.datastructures import State

    return State({"registry": registry})


def switchyard_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("switchyard")
    except PackageNotFoundError:
        return "0.0.0"


def _view_handler(view: ViewRegistration, templates: Templates) -> Any:
    """Wrap a plugin's view function as a Litestar handler that renders its template."""

    async def handler(request: Request[Any, Any, Any]) -> Response[Any]:
        result = view.view(request)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, Response):
            return result
        if view.template is None:
            raise TypeError(f"view {view.name!r} returned a context but has no template")
        return templates.render(request, view.template, result or {}, title=view.title)

    return route(
        view.path,
        http_method=list(view.methods),
        name=view.name,
        include_in_schema=False,
        opt={"view": view},
    )(handler)


def _ui_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Pages get an HTML error page; everything else keeps Litestar's JSON errors."""
    if isinstance(exc, security.SignInRequired):
        if request.headers.get("hx-request"):  # htmx would swap the sign-in page into a fragment
            return Response(b"", status_code=401, headers={"hx-redirect": exc.location})
        return Redirect(exc.location, status_code=303)
    wants_html = request.url.path.startswith("/ui") and "text/html" in request.headers.get("accept", "")
    templates: Templates | None = request.app.state.registry.state.get("templates")
    if wants_html and templates is not None:
        try:
            return templates.render(
                request,
                "error.html",
                {"status_code": exc.status_code, "detail": exc.detail},
                title=f"Error {exc.status_code}",
                status_code=exc.status_code,
            )
        except Exception:
            log.exception("error page failed to render")
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if exc.extra:  # e.g. which field of a request body failed validation
        body["extra"] = exc.extra
    return Response(body, status_code=exc.status_code, headers=exc.headers)


def _settle_garbage_collector() -> None:
    """Move start-up objects out of the collector's sight and collect young objects less often.

    The app holds a large, long-lived heap (framework, ORM, plugins); without this every
    young-generation collection a request triggers walks it, which profiling showed as
    most of the per-request CPU on the AI endpoints.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)


async def reload_settings(registry: Registry) -> bool:
    """Re-read the settings file and hand it to the ``reload`` hooks; a bad file changes nothing."""
    source = registry.settings.source
    try:
        settings = load_settings(source.path if source is not None else None)
    except SettingsError as exc:
        log.error("settings not reloaded, keeping the current ones: %s", exc)
        return False
    await registry.hooks.acall("reload", registry=registry, settings=settings)
    return True


def _reload_on_sighup(registry: Registry) -> None:
    """SIGHUP reloads (the server's supervisor passes it on to every worker)."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reload_settings(registry)))
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests), or Windows
        log.debug("SIGHUP reload not available in this process")


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    """Start services before traffic; on shutdown stop jobs, flush events, close the database."""
    registry: Registry = app.state.registry
    await registry.events.start()
    assert registry.db is not None
    try:
        await record_plugin_states(
            registry.db,
            [(r.name, r.version, r.error) for r in registry.plugins.values() if r.name != "core"],
        )
    except Exception as exc:  # noqa: BLE001 - an unmigrated database must not stop /healthz
        log.warning("could not record plugin states (run `switchyard db upgrade`): %s", exc)
    if registry.permissions is not None:
        try:
            await registry.permissions.start(registry.db)
        except Exception as exc:  # noqa: BLE001 - the guard answers 503 and /readyz says why
            log.warning("could not load the policy (run `switchyard db upgrade`): %s", exc)
    await registry.hooks.acall("startup", registry=registry)
    _reload_on_sighup(registry)
    scheduler = start_scheduler(registry)
    _settle_garbage_collector()
    try:
        yield
    finally:
        stop_scheduler(scheduler)
        await registry.hooks.acall("shutdown", registry=registry)
        await registry.events.stop()
        await registry.db.dispose()
        log.info("stopped cleanly: jobs stopped, events flushed, database closed")
