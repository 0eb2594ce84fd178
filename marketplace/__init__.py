"""The marketplace: signed wasm plugins published to an index and installed from it.

Entry point ``marketplace = marketplace:includeme``. Settings (``[marketplace]``):

- ``serve`` (default true): this instance serves ``/marketplace/`` (index, packages,
  publishing). On by default so that ``make run`` gives a working marketplace with the
  instance as its own index; reading it exposes only what was published here, and publishing
  is a policy decision (``publish_plugins``: admins, and the ``publisher`` role).
- ``indexes``: index URLs the client searches and installs from, in order. Not set: this
  instance's own index when ``serve`` is on (``http://HOST:PORT/marketplace/index.json``).
- ``allow_unsigned_workspaces``: workspaces where unsigned packages may be installed (the
  UI's toggle adds to these; see ``MarketplaceService.set_unsigned_allowed``).
- ``[marketplace.trust]``: the signing side's ``TrustSettings`` (Sigstore trust root).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from marketplace.models import metadata

if TYPE_CHECKING:
    from core.configurator import Configurator
    from core.registry import Registry
    from core.settings import Settings

__all__ = ["MIGRATIONS", "MarketplaceSettings", "includeme", "index_urls", "trust_settings"]

MIGRATIONS = str(Path(__file__).resolve().parent / "migrations")


class MarketplaceSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The ``[marketplace]`` section."""

    serve: bool = True
    name: str = "switchyard"  # the index document's name
    indexes: list[str] | None = None
    allow_unsigned_workspaces: list[str] = msgspec.field(default_factory=list)
    trust: dict[str, Any] = msgspec.field(default_factory=dict)


def marketplace_settings(settings: Settings) -> MarketplaceSettings:
    """The typed ``[marketplace]`` section of ``settings`` (errors name the key and line)."""
    from core.settings import validate_section

    return validate_section(settings, "marketplace", MarketplaceSettings)


def trust_settings(settings: Settings) -> Any:
    """``[marketplace.trust]`` as the signing module's ``TrustSettings``."""
    from core.settings import SettingsError
    from marketplace.trust import TrustError, trust_from_settings

    try:
        return trust_from_settings(settings)
    except TrustError as exc:
        raise SettingsError(str(exc)) from None


def index_urls(settings: Settings, section: MarketplaceSettings | None = None) -> list[str]:
    """The indexes the client uses: configured, or this instance's own when it serves one."""
    section = section or marketplace_settings(settings)
    if section.indexes is not None:
        return list(section.indexes)
    if not section.serve:
        return []
    host = settings.server.host
    host = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    return [f"http://{host}:{settings.server.port}/marketplace/index.json"]


def extend_cli(group: Any) -> None:
    """Add ``publish|search|install NAME|upgrade|rollback`` (and ``sign|verify`` when the
    signing module is there) to the sandbox's ``plugin`` group."""
    from marketplace.cli import extend

    extend(group)
    try:
        from marketplace import cli_signing
    except ImportError:
        return
    cli_signing.register(group)


def includeme(config: Configurator) -> None:
    section = config.add_settings_schema(MarketplaceSettings)
    trust = trust_settings(config.settings)
    config.add_metadata(metadata, migrations=MIGRATIONS)
    try:
        from sandbox.cli import plugin as plugin_group
    except ImportError:  # pragma: no cover - the sandbox ships with switchyard
        plugin_group = None
    if plugin_group is not None:
        extend_cli(plugin_group)

    async def start(registry: Registry, **_: Any) -> None:
        from marketplace.client import MarketplaceClient
        from marketplace.service import MarketplaceService

        if registry.db is not None:
            registry.state["marketplace.service"] = MarketplaceService(
                registry.db,
                trust=trust,
                name=section.name,
                unsigned_workspaces=section.allow_unsigned_workspaces,
            )
            registry.state["marketplace.client"] = MarketplaceClient(
                registry.db,
                registry.settings.home,
                indexes=index_urls(registry.settings, section),
                trust=trust,
                unsigned_workspaces=section.allow_unsigned_workspaces,
            )

    config.add_hook("startup", start, name="marketplace.start")
    config.provide("marketplace.settings", section)
    if section.serve:
        from marketplace import server

        config.include(server.includeme)
    try:
        from marketplace.pages import include_pages
    except ImportError:  # the UI's module: pages appear when it is there
        return
    config.include(include_pages)
