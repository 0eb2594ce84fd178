"""The routing plugin: Switchyard's AI endpoints, providers, translation, rules and fallbacks.

Loaded through the entry point ``routing`` like any third-party plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plugins.routing import cli, hookspecs, pages
from plugins.routing.config import RoutingSettings, from_ccr, from_settings
from plugins.routing.endpoints import ENDPOINTS
from plugins.routing.model import UsageEvent
from plugins.routing.pages import RecentTraffic
from plugins.routing.reload import on_reload
from plugins.routing.transformers import check_names

if TYPE_CHECKING:
    from core.configurator import Configurator
    from core.registry import Registry

__all__ = ["includeme"]


def includeme(config: Configurator) -> None:
    settings = config.add_settings_schema(RoutingSettings)
    ccr = config.registry.settings.ccr
    routing = from_ccr(ccr) if ccr else from_settings(settings)
    check_names(list(routing.providers.values()))
    hookspecs.declare(config)
    for endpoint in ENDPOINTS:
        config.add_route(endpoint, public=True)  # API-key auth happens inside the handler

    async def start(registry: Registry, **_: Any) -> None:
        from plugins.routing.pipeline import Gateway
        registry.state["routing.gateway"] = Gateway(registry, routing)

    async def stop(registry: Registry, **_: Any) -> None:
        gateway = registry.state.pop("routing.gateway", None)
        if gateway is not None:
            await gateway.client.close()
            await gateway.sessions.close()

    recent = RecentTraffic()
    config.registry.state["routing.recent"] = recent

    async def deliver_usage(event: UsageEvent) -> None:
        recent.record(event)
        await config.registry.hooks.acall("on_usage", event=event)

    config.add_hook("startup", start, name="routing.start")
    config.add_hook("shutdown", stop, name="routing.stop")
    config.add_hook("reload", on_reload, name="routing.reload")
    config.add_subscriber(UsageEvent, deliver_usage)
    config.add_cli_command(cli.routing)
    config.add_view("/routing", pages.routing_page, template="routing/index.html", title="Routing")
    config.add_view("/routing/traffic", pages.traffic_fragment, template="routing/_traffic.html")
    config.add_nav_item("Routing", "/ui/routing", icon="route", order=10)
