"""The auth plugin: users, workspaces, memberships and per-user API keys.

Loaded through the entry point ``auth`` like any third-party plugin. It provides the
interface ``auth.api_keys`` (``verify(key) -> Principal | None``, answered from memory) that
the routing plugin's client auth uses, keeps that cache fresh (across instances through Redis),
and adds the management API, the keys/members/workspaces pages and the ``switchyard
users|workspaces|keys`` commands, plus sign-in, sessions, first run, TOTP and OIDC (``web``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from plugins.auth import api, cli, pages, web
from plugins.auth.keys import KeyCache, Principal
from plugins.auth.models import metadata
from plugins.auth.oidc import OidcSettings
from plugins.auth.revocation import KeyChanges
from plugins.auth.service import AuthService

if TYPE_CHECKING:
    from core.configurator import Configurator
    from core.registry import Registry

__all__ = ["AuthService", "AuthSettings", "KeyCache", "Principal", "includeme"]

log = logging.getLogger("switchyard.auth")
MIGRATIONS = str(Path(__file__).resolve().parent / "migrations")


class AuthSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The ``[auth]`` section of switchyard.toml."""

    # How often each instance reloads API keys, so that keys created or revoked elsewhere
    # (another instance, the CLI) take effect here. Changes made in-process apply at once.
    key_refresh_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 5.0
    # Require an API key even before the first one is created. Off by default so the embedded
    # default serves a newcomer without a key (bound to 127.0.0.1); once any key exists, keys
    # are required whatever this says.
    require_keys: bool = False
    # Sign-in sessions (plugins.auth.sessions): signed out after this long without a request,
    # and at the latest this long after signing in.
    session_idle_minutes: Annotated[int, msgspec.Meta(ge=1, le=525_600)] = 480
    session_max_hours: Annotated[int, msgspec.Meta(ge=1, le=8_760)] = 168
    # How long an instance trusts a session it looked up; revocations made by another
    # instance apply within this time (in this instance at once).
    session_cache_seconds: Annotated[float, msgspec.Meta(ge=0, le=300)] = 5.0
    # Password guessing (plugins.auth.throttle): attempts per client address per minute
    # (shared through Redis when redis.url is set), and the per-account lockout.
    signin_attempts_per_minute: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 10
    lockout_threshold: Annotated[int, msgspec.Meta(ge=1, le=1_000)] = 5
    lockout_minutes: Annotated[int, msgspec.Meta(ge=1, le=10_080)] = 15
    # Reverse proxies whose X-Forwarded-For is believed (IP addresses or CIDR networks): the
    # client address for the rate limit and session records (plugins.auth.proxies).
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    # [auth.oidc]: single sign-on with an OpenID Connect provider (plugins.auth.oidc).
    oidc: OidcSettings | None = None


def includeme(config: Configurator) -> None:
    settings = config.add_settings_schema(AuthSettings)
    config.add_metadata(metadata, migrations=MIGRATIONS)
    cache = KeyCache(always_required=settings.require_keys)
    config.provide("auth.api_keys", cache)

    redis_url = config.settings.redis.url
    # With Redis, key changes reach every instance at once (plugins.auth.revocation).
    changes = KeyChanges(redis_url, cache) if redis_url else None

    async def start(registry: Registry, **_: Any) -> None:
        assert registry.db is not None
        cache.db = registry.db
        registry.state["auth.service"] = AuthService(
            registry.db, cache, permissions=getattr(registry, "permissions", None), changes=changes
        )
        try:
            count = await cache.refresh()
        except Exception:  # an unmigrated database must not stop /healthz; readyz says why
            log.exception("could not load API keys (run `switchyard db upgrade`); none accepted")
        else:
            log.info("loaded %d API key(s)", count)
        if changes is not None:
            registry.state["auth.key_changes"] = changes
            await changes.start()

    async def stop(registry: Registry, **_: Any) -> None:
        if changes is not None:
            await changes.stop()

    def ready(registry: Registry, **_: Any) -> str | None:
        if cache.loaded_at is None:
            return "auth: API keys are not loaded from the database (run `switchyard db upgrade`)"
        return None

    config.add_hook("startup", start, name="auth.start")
    config.add_hook("shutdown", stop, name="auth.stop")
    config.include(api.includeme)  # /api/v1: me, workspaces, members, keys
    config.include(pages.includeme)  # keys, my keys, members, workspaces, switcher
    config.add_hook("ready_check", ready, name="auth.ready")
    config.add_job(
        cache.refresh_quietly,
        "interval",
        id="auth.refresh_keys",
        seconds=settings.key_refresh_seconds,
    )
    for command in cli.COMMANDS:
        config.add_cli_command(command)
    web.includeme(config, settings, cache)  # sign-in, sessions, first run, TOTP, OIDC
