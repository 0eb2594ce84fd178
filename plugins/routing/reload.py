"""Reloading the routing configuration without a restart (the kernel's ``reload`` hook on SIGHUP,
or ``switchyard routing reload``).

The new configuration replaces the old one atomically between requests: requests in
flight keep the providers they started with. A bad file is logged and ignored, so a
typo never takes traffic down. Providers whose settings did not change keep their key
health (circuit breakers, latency averages).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from core.settings import Settings, load_settings, validate_section
from plugins.routing.config import RoutingConfig, RoutingSettings, from_ccr, from_settings
from plugins.routing.transformers import check_names
from plugins.routing.upstream import Provider

if TYPE_CHECKING:
    from plugins.routing.pipeline import Gateway

__all__ = ["apply_config", "load_routing_config", "on_reload", "routing_config_from"]

log = logging.getLogger("switchyard.routing")


def load_routing_config(path: str | None) -> RoutingConfig:
    return routing_config_from(load_settings(path))


def routing_config_from(settings: Settings) -> RoutingConfig:
    config = from_ccr(settings.ccr) if settings.ccr else from_settings(
        validate_section(settings, "routing", RoutingSettings)
    )
    check_names(list(config.providers.values()))
    return config


def apply_config(gateway: Gateway, config: RoutingConfig) -> None:
    """Swap in ``config``; unchanged providers keep their state."""
    providers = {}
    for name, provider_config in config.providers.items():
        current = gateway.providers.get(name)
        providers[name] = current if current is not None and current.config == provider_config else Provider(provider_config)
    gateway.providers = providers
    gateway.config = config
    gateway.client.timeout_ms = config.timeout_ms
    gateway.client.retries = config.retries
    gateway.client.proxy_url = config.proxy_url


def on_reload(registry: Any, settings: Settings, **_: Any) -> None:
    """The kernel's ``reload`` hook: apply the new routing section, or keep the old one."""
    gateway = registry.state.get("routing.gateway")
    if gateway is None:
        return
    try:
        config = routing_config_from(settings)
    except Exception as exc:  # noqa: BLE001 - a bad edit must not take traffic down
        log.error("routing config not reloaded, keeping the current one: %s", exc)
        return
    apply_config(gateway, config)
    log.warning("routing config reloaded: default route %s", config.router.default)
