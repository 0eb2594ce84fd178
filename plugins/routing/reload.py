"""Reloading the routing configuration without a restart (SIGHUP, or ``switchyard routing reload``).

The new configuration replaces the old one atomically between requests: requests in
flight keep the providers they started with. A bad file is logged and ignored, so a
typo never takes traffic down. Providers whose settings did not change keep their key
health (circuit breakers, latency averages).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import TYPE_CHECKING

from core.settings import load_settings, validate_section
from plugins.routing.config import RoutingConfig, RoutingSettings, from_ccr, from_settings
from plugins.routing.transformers import check_names
from plugins.routing.upstream import Provider

if TYPE_CHECKING:
    from plugins.routing.pipeline import Gateway

__all__ = ["apply_config", "install_sighup", "load_routing_config", "reload_gateway"]

log = logging.getLogger("switchyard.routing")


def load_routing_config(path: str | None) -> RoutingConfig:
    settings = load_settings(path)
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


def reload_gateway(gateway: Gateway) -> bool:
    source = gateway.registry.settings.source
    path = source.path if source is not None else None
    try:
        config = load_routing_config(path)
    except Exception as exc:  # noqa: BLE001 - a bad edit must not take traffic down
        log.error("routing config not reloaded, keeping the current one: %s", exc)
        return False
    apply_config(gateway, config)
    log.warning("routing config reloaded from %s: default route %s", path or "defaults", config.router.default)
    return True


def install_sighup(gateway: Gateway) -> None:
    """Reload on SIGHUP (main thread and a running loop only; tests' threads skip it)."""
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload_gateway, gateway)
    except (NotImplementedError, RuntimeError, ValueError):
        log.debug("SIGHUP reload not available in this process (pid %d)", os.getpid())
