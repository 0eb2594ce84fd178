"""The kernel's own routes: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.configurator import Configurator
from core.hookspecs import declare_kernel_hooks
from core.registry import Registry

__all__ = ["includeme"]

_UNCHECKED = {"exclude_from_csrf": True, "skip_session": True}


@get("/healthz", opt=_UNCHECKED, include_in_schema=True, sync_to_thread=False)
def healthz() -> dict[str, str]:
    """Alive: the process answers. Never touches the database."""
    return {"status": "ok"}


@get("/readyz", opt=_UNCHECKED, include_in_schema=True)
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Ready: the database answers and no plugin reports a problem."""
    registry: Registry = request.app.state.registry
    checks: dict[str, str] = {}
    try:
        assert registry.db is not None, "no database configured"
        await asyncio.wait_for(registry.db.ping(), timeout=2.0)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["database"] = f"error: {exc.__class__.__name__}: {exc}"
    for report in registry.plugins.values():
        if report.status == "failed":
            checks[f"plugin:{report.name}"] = "failed (see /ui/plugins)"
    for problem in await registry.hooks.acall("ready_check", registry=registry):
        checks[f"check:{len(checks)}"] = f"error: {problem}"
    ready = all(v == "ok" or k.startswith("plugin:") for k, v in checks.items())
    return Response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@get("/metrics", opt=_UNCHECKED, include_in_schema=True, sync_to_thread=False)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus text exposition of this app's metrics registry."""
    registry: Registry = request.app.state.registry
    return Response(generate_latest(registry.metrics), media_type=CONTENT_TYPE_LATEST)


class KernelCollector(Collector):
    """Plugin health and event-bus failures, read from the registry at scrape time."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def collect(self) -> Any:
        up = GaugeMetricFamily("switchyard_plugin_up", "1 if the plugin loaded", labels=["plugin", "version"])
        for report in self.registry.plugins.values():
            up.add_metric([report.name, report.version], 1.0 if report.status == "ok" else 0.0)
        yield up
        failures = GaugeMetricFamily(
            "switchyard_event_subscriber_failures", "Event subscribers that raised since start"
        )
        failures.add_metric([], float(self.registry.events.failures))
        yield failures


def includeme(config: Configurator) -> None:
    declare_kernel_hooks(config)
    for handler in (healthz, readyz, metrics):
        config.add_route(handler, public=True)
    config.add_public_path("/schema")
    config.add_public_path("/schema/")  # the OpenAPI documents below it
    config.registry.metrics.register(KernelCollector(config.registry))
