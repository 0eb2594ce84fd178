"""The Routing page: providers with their keys' health, the rules, and the latest requests.

Recent traffic is kept in memory (the last 100 usage events) so a newcomer sees a request
the moment it is sent; the analytics plugin keeps the durable history.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from litestar import Request

from plugins.routing.config import SCENARIOS
from plugins.routing.model import UsageEvent

__all__ = ["RecentTraffic", "routing_page", "traffic_fragment"]


class RecentTraffic:
    def __init__(self, size: int = 100) -> None:
        self.events: deque[UsageEvent] = deque(maxlen=size)

    def record(self, event: UsageEvent) -> None:
        self.events.appendleft(event)


def _gateway(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.registry.state.get("routing.gateway")


def _traffic(request: Request[Any, Any, Any]) -> list[UsageEvent]:
    recent: RecentTraffic | None = request.app.state.registry.state.get("routing.recent")
    return list(recent.events) if recent is not None else []


def routing_page(request: Request[Any, Any, Any]) -> dict[str, Any]:
    gateway = _gateway(request)
    if gateway is None:
        return {"providers": [], "rules": [], "traffic": _traffic(request), "source": "not started"}
    config = gateway.config
    providers = [
        {
            "name": p.name,
            "api": p.config.api,
            "models": p.config.models,
            "keys": [{"number": i + 1, "circuit": p.circuit(i), "latency_ms": round(k.latency_ms, 1),
                      "failures": k.failures} for i, k in enumerate(p.keys)],
        }
        for p in gateway.providers.values()
    ]
    rules = [
        {"scenario": s, "target": getattr(config.router, s), "fallback": config.fallback.get(s, [])}
        for s in SCENARIOS if getattr(config.router, s)
    ]
    return {"providers": providers, "rules": rules, "traffic": _traffic(request), "source": config.source}


def traffic_fragment(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"traffic": _traffic(request)}
