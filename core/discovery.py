"""Finding plugins (stevedore, entry-point group ``switchyard.plugins``) and including them.

A plugin that fails to import or to include is reported by name with its
traceback and the rest still start, unless the plugin is marked required.
"""

from __future__ import annotations

import importlib.metadata
import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stevedore import ExtensionManager, NamedExtensionManager

from core.actions import ConfigurationError
from core.configurator import Configurator
from core.registry import PluginReport

__all__ = ["ENTRY_POINT_GROUP", "PluginLoadError", "PluginSpec", "discover", "include_plugins"]

ENTRY_POINT_GROUP = "switchyard.plugins"
log = logging.getLogger("switchyard.plugins")


class PluginLoadError(ConfigurationError):
    """A required plugin failed; the app must not start without it."""


@dataclass(frozen=True, slots=True)
class PluginSpec:
    """A plugin ready to include: an ``includeme(config)`` and where it came from."""

    name: str
    includeme: Callable[[Configurator], Any] | str
    version: str = ""
    origin: str = "inline"
    required: bool = False

    @classmethod
    def coerce(cls, item: PluginSpec | Callable[..., Any] | tuple[str, Any]) -> PluginSpec:
        """Accept the shorthand tests use: a bare function, or ``(name, function)``."""
        if isinstance(item, PluginSpec):
            return item
        if isinstance(item, tuple):
            name, fn = item
            return cls(name=name, includeme=fn)
        name = getattr(item, "__name__", None) or repr(item)
        if name == "includeme":
            name = getattr(item, "__module__", name).rsplit(".", 1)[-1]
        return cls(name=name, includeme=item)


def _distribution_of(module_name: str, owners: dict[str, list[str]]) -> tuple[str, str]:
    """(distribution name, version) that ships ``module_name``'s top-level package."""
    top = module_name.split(".", 1)[0]
    for dist_name in owners.get(top, []):
        try:
            return dist_name, importlib.metadata.version(dist_name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown", ""


def discover(
    *, enabled: Sequence[str] | None, disabled: Sequence[str], required: Sequence[str]
) -> tuple[list[PluginSpec], list[PluginReport]]:
    """Load the entry points settings enable; report the ones that failed or are disabled."""
    ExtensionManager.ENTRY_POINT_CACHE.pop(ENTRY_POINT_GROUP, None)
    available = NamedExtensionManager(ENTRY_POINT_GROUP, names=[]).entry_points_names()
    wanted = [n for n in (enabled if enabled is not None else sorted(set(available))) if n not in disabled]
    failures: list[PluginReport] = []

    def on_failure(_manager: Any, entry_point: Any, exc: BaseException) -> None:
        failures.append(
            PluginReport(
                name=entry_point.name,
                origin=entry_point.value,
                status="failed",
                error="".join(traceback.format_exception(exc)),
                required=entry_point.name in required,
            )
        )

    def on_missing(names: Any) -> None:
        already = {f.name for f in failures}  # stevedore also lists names that failed to import
        for name in sorted(set(names) - already):
            failures.append(
                PluginReport(
                    name=name,
                    status="failed",
                    error=f"plugin {name!r} is enabled in settings but no installed distribution "
                    f"provides it in the entry-point group {ENTRY_POINT_GROUP!r}",
                    required=name in required,
                )
            )

    manager = NamedExtensionManager(
        ENTRY_POINT_GROUP,
        names=wanted,
        name_order=True,
        on_load_failure_callback=on_failure,
        on_missing_entrypoints_callback=on_missing,
    )
    specs = []
    owners = importlib.metadata.packages_distributions() if manager.names() else {}  # slow: once
    for ext in manager:
        dist, version = _distribution_of(ext.entry_point.module, owners)
        specs.append(
            PluginSpec(
                name=ext.name,
                includeme=ext.plugin,
                version=version,
                origin=dist,
                required=ext.name in required,
            )
        )
    for name in sorted(set(available) & set(disabled)):
        failures.append(PluginReport(name=name, status="disabled"))
    return specs, failures


def include_plugins(config: Configurator, specs: Sequence[PluginSpec], reports: Sequence[PluginReport]) -> None:
    """Include each plugin in its own scope; a failure drops only that plugin's actions."""
    for report in reports:
        config.registry.plugins[report.name] = report
        if report.status == "failed":
            _fail(report)
    for spec in specs:
        report = config.registry.report(spec.name)
        report.version, report.origin, report.required = spec.version, spec.origin, spec.required
        checkpoint = config.checkpoint()
        try:
            config.include(spec.includeme, plugin=spec.name)
        except Exception as exc:  # noqa: BLE001 - one plugin must not take the others down
            config.rollback(checkpoint)
            report.status = "failed"
            report.error = "".join(traceback.format_exception(exc))
            _fail(report)


def _fail(report: PluginReport) -> None:
    if report.required:
        raise PluginLoadError(f"required plugin {report.name!r} failed to load:\n{report.error}")
    log.error("plugin %r failed to load and is skipped:\n%s", report.name, report.error)
