"""The wasm sandbox: third-party plugins as WebAssembly modules, run by an ordinary plugin.

Entry point ``sandbox = sandbox:includeme``. It joins the routing plugin's hook points
(``on_request``, ``route``, ``on_response``, ``on_usage``) with one implementation each that
dispatches to every loaded wasm plugin, so wasm plugins run exactly where in-process ones
do. The host is offered to other plugins as the interface ``sandbox.host``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import PluginDisabled, PluginFault
from sandbox.host import SandboxHost, SandboxSettings

if TYPE_CHECKING:
    from core.configurator import Configurator
    from core.registry import Registry

__all__ = ["PluginDisabled", "PluginFault", "SandboxHost", "SandboxSettings", "includeme"]


def includeme(config: Configurator) -> None:
    settings = config.add_settings_schema(SandboxSettings)
    registry = config.registry
    host = SandboxHost(settings, home=registry.settings.home, metrics=registry.metrics,
                       events=registry.events)
    try:
        from sandbox.store import includeme_storage
    except ImportError:  # pragma: no cover - the store ships with the sandbox
        includeme_storage = None
    if includeme_storage is not None:
        includeme_storage(config)

    def providers() -> Any:
        gateway = registry.state.get("routing.gateway")
        return set(gateway.providers) if gateway is not None else None

    host.gateway_providers = providers

    async def start(registry: Registry, **_: Any) -> None:
        await host.start()
        if registry.db is not None:
            from sandbox.host import SqlKv
            from sandbox.store import PluginStore
            host.store = PluginStore(registry.db, registry.settings.home)
            host.services.kv = SqlKv(registry.db)
        host.load_local()
        await _sync(host)

    async def stop(registry: Registry, **_: Any) -> None:
        await host.close()

    async def poll() -> None:
        await _sync(host)

    config.add_hook("startup", start, name="sandbox.start", after="routing")
    config.add_hook("shutdown", stop, name="sandbox.stop")
    for point in ("on_request", "route", "on_response", "on_usage"):
        config.add_hook(point, getattr(host, point), name=f"sandbox.{point}")
    config.add_job(poll, "interval", id="sandbox.reload", seconds=settings.reload_interval_s)
    config.provide("sandbox.host", host)


async def _sync(host: SandboxHost) -> None:
    """Follow the store; a database that is not migrated yet only logs."""
    import logging

    try:
        await host.sync_with_store()
    except Exception as exc:  # noqa: BLE001 - the gateway serves on without wasm plugins
        logging.getLogger("switchyard.sandbox").error("cannot read installed wasm plugins: %s", exc)
