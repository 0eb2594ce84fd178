"""Per-plugin Prometheus metrics in the app's registry: calls, p50/p99 time, fuel, faults.

prometheus_client's Summary has no quantiles, so p50 and p99 come from a bounded
window of recent call times per plugin, computed when /metrics is scraped; a histogram
keeps the full distribution for PromQL.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

__all__ = ["SandboxMetrics"]

WINDOW = 2048
BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 1.0)


class _Quantiles:
    """A custom collector: ``switchyard_sandbox_call_quantile_seconds{plugin, quantile}``."""

    def __init__(self) -> None:
        self.windows: dict[str, deque[float]] = {}

    def observe(self, plugin: str, seconds: float) -> None:
        window = self.windows.get(plugin)
        if window is None:
            window = self.windows[plugin] = deque(maxlen=WINDOW)
        window.append(seconds)

    def quantile(self, plugin: str, q: float) -> float | None:
        values = sorted(self.windows.get(plugin, ()))
        if not values:
            return None
        return values[min(len(values) - 1, int(q * len(values)))]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "switchyard_sandbox_call_quantile_seconds",
            f"p50 and p99 time of a wasm plugin's hook calls over its last {WINDOW} calls",
            labels=["plugin", "quantile"],
        )
        for plugin in list(self.windows):
            for q in (0.5, 0.99):
                value = self.quantile(plugin, q)
                if value is not None:
                    family.add_metric([plugin, str(q)], value)
        yield family

    def describe(self) -> list[Any]:
        return []


class SandboxMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        registry = registry or CollectorRegistry()
        self.calls = Counter("switchyard_sandbox_calls", "wasm plugin hook calls",
                             ["plugin", "hook"], registry=registry)
        self.seconds = Histogram("switchyard_sandbox_call_seconds", "time of wasm plugin hook calls",
                                 ["plugin"], buckets=BUCKETS, registry=registry)
        self.fuel = Counter("switchyard_sandbox_fuel_used", "fuel consumed by wasm plugin calls",
                            ["plugin"], registry=registry)
        self.faults = Counter("switchyard_sandbox_faults", "wasm plugin calls that faulted, by kind",
                              ["plugin", "kind"], registry=registry)
        self.loaded = Gauge("switchyard_sandbox_plugin_loaded",
                            "1 while a wasm plugin is loaded, 0 once unloaded or disabled",
                            ["plugin"], registry=registry)
        self.quantiles = _Quantiles()
        registry.register(self.quantiles)  # type: ignore[arg-type]

    def call(self, plugin: str, hook: str, seconds: float, fuel: int, fault: str | None) -> None:
        self.calls.labels(plugin, hook).inc()
        self.seconds.labels(plugin).observe(seconds)
        self.quantiles.observe(plugin, seconds)
        if fuel > 0:
            self.fuel.labels(plugin).inc(fuel)
        if fault is not None:
            self.faults.labels(plugin, fault).inc()
