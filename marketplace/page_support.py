"""What every marketplace page needs: the caller and workspace, the services, rendering a
whole page or (for htmx) one fragment, and the words the pages use for capabilities,
limits, health and metrics.

The guard decided before a view runs; a page only hides controls the caller cannot use,
asking the policy the same question the guard would ask for the form's POST.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response

from core.templating import Flash
from sandbox.manifest import CAPABILITY_HELP, Manifest

__all__ = [
    "CAPABILITY_TITLES",
    "Page",
    "capability_rows",
    "health_of",
    "limit_rows",
    "metrics_of",
]

CAPABILITY_TITLES = {
    "log": "Write to the gateway's log",
    "kv": "Keep its own data",
    "http": "Make HTTP requests",
    "config": "Read its own settings",
}
SERVICE = "marketplace.service"
CLIENT = "marketplace.client"


@dataclass
class Page:
    """One request to a marketplace page: who asks, where, and what the page reports back."""

    request: Request[Any, Any, Any]
    flashes: list[Flash] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from core.security import identity_of, workspace_of

        self.registry = self.request.app.state.registry
        identity = identity_of(self.request)
        self.me: str = identity.subject if identity else ""
        self.display_name: str = (identity.display_name if identity else "") or ""
        self.workspace: str | None = workspace_of(self.request)

    # -- services ----------------------------------------------------------------------------

    @property
    def service(self) -> Any:
        """The marketplace this instance serves (index, reviews, the unsigned toggle)."""
        found = self.registry.state.get(SERVICE)
        if found is None:
            raise RuntimeError("the marketplace service has not started")
        return found

    @property
    def client(self) -> Any:
        """The install client (plan, install, upgrade, rollback, uninstall)."""
        found = self.registry.state.get(CLIENT) or self.registry.get_interface(CLIENT)
        if found is None:  # cheap to make: it holds settings, and opens nothing until used
            from marketplace import index_urls
            from marketplace.client import MarketplaceClient

            settings = self.registry.settings
            section = self.registry.get_interface("marketplace.settings")
            found = MarketplaceClient(
                self.registry.db, settings.home, indexes=index_urls(settings, section),
                trust=self.service.trust, unsigned_workspaces=section.allow_unsigned_workspaces,
            )
        return found

    @property
    def host(self) -> Any:
        return self.registry.get_interface("sandbox.host")

    @property
    def store(self) -> Any:
        from sandbox.store import PluginStore

        host = self.host
        if host is not None and getattr(host, "store", None) is not None:
            return host.store
        return PluginStore(self.registry.db, self.registry.settings.home)

    # -- policy ------------------------------------------------------------------------------

    def can(self, path: str, action: str = "write") -> bool:
        permissions = self.registry.permissions
        return bool(
            self.me and self.workspace and permissions is not None
            and permissions.enforce(self.me, self.workspace, path, action)
        )

    # -- answering ---------------------------------------------------------------------------

    @property
    def htmx(self) -> bool:
        return (self.request.headers.get("hx-request") == "true"
                and self.request.headers.get("hx-history-restore-request") != "true")

    def failed(self, field_name: str, message: str) -> None:
        self.errors[field_name] = message
        self.flashes.append(Flash(message, "error"))

    def done(self, message: str) -> None:
        self.flashes.append(Flash(message, "success"))

    def render(
        self,
        template: str,
        context: Mapping[str, Any],
        *,
        title: str,
        fragment: str | None = None,
        status: int | None = None,
    ) -> Response[str]:
        """The whole page, or for htmx just ``fragment`` with the flashes out of band.

        A refused plain form answers 422; htmx gets 200, since it swaps only 2xx answers.
        """
        templates = self.registry.state["templates"]
        full = {**templates.base_context(self.request), **context, "page_title": title}
        full.update(workspace=self.workspace, me=self.me, errors=self.errors)
        if fragment is not None and self.htmx:
            full.update(flashes=self.flashes, flashes_oob=self.request.method == "POST")
            html, code = templates.render_string(fragment, full), 200
        else:
            full["flashes"] = [*full["flashes"], *self.flashes]
            html = templates.render_string(template, full)
            code = status or (422 if self.errors and self.request.method == "POST" else 200)
        return Response(html, status_code=code, media_type="text/html; charset=utf-8")


def capability_rows(capabilities: tuple[str, ...] | list[str], kept: set[str] = frozenset()) -> list[dict[str, Any]]:  # type: ignore[assignment]
    """Each capability in plain words (sandbox.manifest.CAPABILITY_HELP)."""
    return [
        {
            "name": cap,
            "title": CAPABILITY_TITLES.get(cap, cap),
            "help": CAPABILITY_HELP.get(cap, "use the host capability " + repr(cap)),
            "kept": cap in kept,
        }
        for cap in capabilities
    ]


def limit_rows(manifest: Manifest, host: Any) -> list[dict[str, str]]:
    """Fuel, memory and time per call: what the plugin asks, and what this gateway allows."""
    asked = manifest.limits
    rows = []
    effective = host.limits_for(manifest) if host is not None else None
    pairs = (
        ("Fuel (instructions)", asked.fuel, effective.fuel if effective else None, "{:,}"),
        ("Memory", asked.memory_mb, (effective.memory_bytes >> 20) if effective else None, "{} MB"),
        ("Time", asked.timeout_ms, effective.timeout_ms if effective else None, "{} ms"),
    )
    for label, want, got, fmt in pairs:
        if got is None:
            rows.append({"label": label, "value": fmt.format(want) if want else "the gateway's default", "note": ""})
            continue
        note = ""
        if want is None:
            note = "(the gateway's default)"
        elif want > got:
            note = f"(asks for {fmt.format(want)}; capped by this gateway)"
        rows.append({"label": label, "value": fmt.format(got), "note": note})
    return rows


def health_of(plugin: Any, status: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """A word, a badge class and a reason: from the store's row and this process's host."""
    seen = status.get(plugin.name)
    if not plugin.enabled:
        return {"label": "Disabled", "badge": "badge-neutral", "reason": plugin.disabled_reason or ""}
    if seen is None:
        return {"label": "Starting", "badge": "badge-warn",
                "reason": "The gateway loads it within a few seconds of the change."}
    if seen.get("state") == "disabled":
        return {"label": "Stopped", "badge": "badge-error", "reason": str(seen.get("reason") or "")}
    if seen.get("version") and seen.get("version") != plugin.version:
        return {"label": "Starting", "badge": "badge-warn",
                "reason": f"Version {seen['version']} still runs; {plugin.version} loads within seconds."}
    faults = int(seen.get("faults") or 0)
    if faults:
        return {"label": f"Running, {faults} fault{'s' if faults != 1 else ''}", "badge": "badge-warn", "reason": ""}
    return {"label": "Healthy", "badge": "badge-ok", "reason": ""}


def metrics_of(name: str, status: Mapping[str, Mapping[str, Any]], host: Any, registry: Any) -> dict[str, str]:
    """Calls, faults, p50/p99 time and fuel of one plugin in this process."""
    seen = status.get(name, {})
    quantiles = getattr(getattr(host, "metrics", None), "quantiles", None)

    def ms(q: float) -> str:
        value = quantiles.quantile(name, q) if quantiles is not None else None
        return "–" if value is None else f"{value * 1000:.2f} ms"

    fuel = registry.metrics.get_sample_value("switchyard_sandbox_fuel_used_total", {"plugin": name})
    return {
        "calls": f"{int(seen.get('calls') or 0):,}",
        "faults": f"{int(seen.get('faults') or 0):,}",
        "p50": ms(0.5),
        "p99": ms(0.99),
        "fuel": f"{int(fuel):,}" if fuel else "0",
    }
