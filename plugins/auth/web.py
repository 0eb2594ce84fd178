"""Wiring of the sign-in side of the auth plugin: pages, the ``identify`` and ``banner``
hooks, the clean-up job. ``plugins.auth.includeme`` includes it with the ``[auth]`` settings.

Public pages (no sign-in): ``/ui/sign-in``, ``/ui/sign-in/mfa``, ``/ui/sign-in/oidc``,
``/ui/sign-in/oidc/callback``, ``/ui/first-run``, ``/ui/invite``. Self-service (any signed-in
user): ``/ui/sign-out`` and ``/ui/me/security`` with its forms.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from core.home import derive_secret, secret_key
from plugins.auth import oidc, onboarding, security_page, signin
from plugins.auth.mfa import Mfa
from plugins.auth.proxies import parse_trusted_proxies
from plugins.auth.sessions import SessionStore, session_token
from plugins.auth.throttle import AccountLock, make_limiter

if TYPE_CHECKING:
    from core.configurator import Configurator
    from core.registry import Registry
    from core.security import Identity
    from plugins.auth import AuthSettings
    from plugins.auth.keys import KeyCache

__all__ = ["api_key_of", "includeme"]

log = logging.getLogger("switchyard.auth")
BOTH = ("GET", "POST")


def api_key_of(connection: Any) -> str | None:
    """The key in ``x-api-key`` or ``Authorization: Bearer`` (what the AI clients send)."""
    headers = connection.headers
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, value = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def includeme(config: Configurator, settings: AuthSettings, keys: KeyCache) -> None:
    """Register the pages, hooks and job; the services are built at start-up (they need the
    database, which the registry gets after every plugin was included)."""
    oidc_client = oidc.OidcClient(settings.oidc) if settings.oidc is not None else None
    limiter = make_limiter(config.settings.redis.url, settings.signin_attempts_per_minute)
    proxies = parse_trusted_proxies(settings.trusted_proxies, config.settings)

    async def start(registry: Registry, **_: Any) -> None:
        assert registry.db is not None
        key = secret_key(registry.settings.home)
        sessions = SessionStore(
            registry.db,
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_max_hours),
            cache_seconds=settings.session_cache_seconds,
        )
        changes = registry.state.get("auth.key_changes")  # set when redis.url is
        if changes is not None:  # revocations reach every instance (plugins.auth.revocation)
            changes.sessions = sessions
            sessions.announce = changes.publish_sessions
        registry.state["auth.accounts"] = signin.Accounts(
            registry.db,
            sessions=sessions,
            mfa=Mfa(
                registry.db,
                totp_key=derive_secret(key, "auth.totp"),
                recovery_key=derive_secret(key, "auth.recovery"),
            ),
            lock=AccountLock(
                registry.db,
                threshold=settings.lockout_threshold,
                lock_for=timedelta(minutes=settings.lockout_minutes),
            ),
            limiter=limiter,
            trusted_proxies=proxies,
        )
        if oidc_client is not None:
            registry.state["auth.oidc"] = oidc_client

    async def stop(registry: Registry, **_: Any) -> None:
        await limiter.close()

    async def identify(request: Any, **_: Any) -> Identity | None:
        """Session cookie first, then an API key; None when neither signs anyone in."""
        from core.security import Identity

        accounts: signin.Accounts | None = request.app.state.registry.state.get("auth.accounts")
        if accounts is not None and session_token(request) is not None:
            info = await accounts.current(request)
            if info is not None:
                return Identity(
                    subject=info.email,
                    kind="session",
                    user_id=info.user_id,
                    display_name=info.display_name,
                )
        key = api_key_of(request)
        principal = keys.verify(key) if key else None
        if principal is None or principal.user is None:
            return None
        return Identity(
            subject=principal.user,
            kind="api_key",
            workspace=principal.workspace,
            key_id=principal.key_id,
            scopes=tuple(principal.scopes),
        )

    async def purge(**_: Any) -> None:
        accounts = config.registry.state.get("auth.accounts")
        if accounts is None:
            return
        try:
            removed = await accounts.sessions.purge()
        except Exception:  # the next run tries again
            log.warning("could not purge ended sessions", exc_info=True)
        else:
            log.debug("purged %d ended session(s)", removed)

    config.add_hook("startup", start, name="auth.accounts", after="auth.start")
    config.add_hook("shutdown", stop, name="auth.accounts_stop")
    config.add_hook("identify", identify, name="auth.identify")
    config.add_hook("banner", onboarding.first_run_banner, name="auth.first_run")
    config.add_job(purge, "interval", id="auth.purge_sessions", hours=1)

    pages: list[tuple[str, Any, tuple[str, ...], str, dict[str, Any]]] = [
        ("/sign-in", signin.sign_in, BOTH, "Sign in", {"public": True}),
        ("/sign-in/mfa", signin.sign_in_mfa, BOTH, "Two-step sign-in", {"public": True}),
        ("/sign-in/oidc", oidc.start, ("GET",), "Single sign-on", {"public": True}),
        ("/sign-in/oidc/callback", oidc.callback, ("GET",), "Single sign-on", {"public": True}),
        ("/first-run", onboarding.first_run, BOTH, "First admin", {"public": True}),
        ("/invite", onboarding.invite, BOTH, "Invitation", {"public": True}),
        ("/sign-out", signin.sign_out, BOTH, "Sign out", {"access": "signed_in"}),
        ("/me/security", security_page.page, ("GET",), "Account security", {"access": "signed_in"}),
    ]
    for suffix, view in (
        ("/password", security_page.change_password),
        ("/totp/setup", security_page.totp_setup),
        ("/totp/confirm", security_page.totp_confirm),
        ("/totp/disable", security_page.totp_disable),
        ("/recovery-codes", security_page.recovery_codes),
        ("/sign-out-everywhere", security_page.sign_out_everywhere),
    ):
        pages.append(
            (f"/me/security{suffix}", view, ("POST",), "Account security", {"access": "signed_in"})
        )
    for path, view, methods, title, access in pages:
        config.add_view(
            path,
            view,
            methods=methods,
            title=title,
            name=f"auth.signin:{path.strip('/')}",
            **access,
        )
    config.add_nav_item("Account security", security_page.PAGE, icon="shield", order=95)
