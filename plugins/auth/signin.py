"""Signing in and out: the password step, the TOTP step, sign-out.

``Accounts`` is the wiring the pages share (sessions, TOTP, lockout, rate limit); the plugin
builds one at start-up and keeps it in ``registry.state["auth.accounts"]``. Failed sign-ins
say only "email or password is incorrect", whether or not the email exists, and take the
same time either way (a dummy argon2 check for unknown emails). A locked account says so,
with the time left: being told to wait is worth more to a real user than hiding that the
account exists from someone who already guessed it five times.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from litestar import Request, Response
from litestar.response import Redirect
from sqlalchemy import select, update

from core.db import Database
from core.templating import Templates, flash
from plugins.auth.credentials import hash_password, password_needs_rehash, verify_password
from plugins.auth.mfa import Mfa
from plugins.auth.models import users
from plugins.auth.proxies import Network
from plugins.auth.sessions import (
    SessionInfo,
    SessionStore,
    client_ip,
    session_token,
    start_cookie_session,
)
from plugins.auth.throttle import AccountLock, MemoryLimiter, RedisLimiter, minutes_text

__all__ = [
    "Accounts",
    "Outcome",
    "accounts_of",
    "htmx",
    "render",
    "safe_next",
    "sign_in",
    "sign_in_mfa",
    "sign_out",
]

HOME = "/ui/"
SIGN_IN = "/ui/sign-in"
MFA_STEP = "/ui/sign-in/mfa"
MFA_STEP_TTL = timedelta(minutes=10)
BAD_CREDENTIALS = "Email or password is incorrect."
TOO_MANY = "Too many sign-in attempts from your address. Try again in {wait}."
LOCKED = (
    "This account is locked for {wait} after too many failed sign-in attempts. "
    "Try again later, or ask an admin."
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the password step found: a user id, or why not (``error``)."""

    user_id: int | None = None
    totp: bool = False
    error: str | None = None
    status: int = 200


class Accounts:
    """Everything the sign-in, first-run, invite, OIDC and security pages share."""

    def __init__(
        self,
        db: Database,
        *,
        sessions: SessionStore,
        mfa: Mfa,
        lock: AccountLock,
        limiter: MemoryLimiter | RedisLimiter,
        trusted_proxies: Sequence[Network] = (),
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.db = db
        self.sessions = sessions
        self.mfa = mfa
        self.lock = lock
        self.limiter = limiter
        self.trusted_proxies = tuple(trusted_proxies)
        self.clock = clock
        self._dummy_hash: str | None = None

    # -- who is signed in -----------------------------------------------------------------

    async def current(self, request: Any) -> SessionInfo | None:
        """The signed-in session of this request (TOTP step passed), or None."""
        token = session_token(request)
        if token is None:
            return None
        info = await self.sessions.lookup(token)
        return info if info is not None and info.mfa_passed else None

    async def pending(self, request: Any) -> SessionInfo | None:
        """The session waiting for its TOTP step, or None."""
        token = session_token(request)
        if token is None:
            return None
        info = await self.sessions.lookup(token)
        return info if info is not None and not info.mfa_passed else None

    def client_ip(self, request: Any) -> str:
        """The client's address, read through ``[auth] trusted_proxies``."""
        return client_ip(request, self.trusted_proxies)

    # -- passwords ------------------------------------------------------------------------

    async def throttled(self, request: Any) -> str | None:
        """The message to show when this address tried too often, else None (and counted)."""
        wait = await self.limiter.hit(f"ip:{self.client_ip(request)}")
        return None if wait is None else TOO_MANY.format(wait=_seconds_text(wait))

    async def check_password(self, email: str, password: str) -> Outcome:
        now = self.clock()
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(select(users).where(users.c.email == email.strip().lower()))
            ).one_or_none()
        if row is None or row.password_hash is None or not row.is_active:
            await asyncio.to_thread(verify_password, await self._dummy(), password)
            return Outcome(error=BAD_CREDENTIALS, status=401)
        locked = self.lock.locked_for(row.locked_until, now)
        if locked is not None:
            return Outcome(error=LOCKED.format(wait=minutes_text(locked)), status=429)
        if not await asyncio.to_thread(verify_password, row.password_hash, password):
            until = await self.lock.failed(row.id, now)
            if until is not None:
                wait = minutes_text((until - now).total_seconds())
                return Outcome(error=LOCKED.format(wait=wait), status=429)
            return Outcome(error=BAD_CREDENTIALS, status=401)
        if password_needs_rehash(row.password_hash):
            await self.set_password(row.id, password)
        return Outcome(user_id=row.id, totp=row.totp_enabled_at is not None)

    async def password_matches(self, user_id: int, password: str) -> bool:
        """For confirming a sensitive change by someone already signed in."""
        async with self.db.engine.connect() as conn:
            stored = (
                await conn.execute(select(users.c.password_hash).where(users.c.id == user_id))
            ).scalar_one_or_none()
        if stored is None:
            return False
        return await asyncio.to_thread(verify_password, stored, password)

    async def set_password(self, user_id: int, password: str) -> None:
        hashed = await asyncio.to_thread(hash_password, password)
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(users).where(users.c.id == user_id).values(password_hash=hashed)
            )

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(hash_password, secrets.token_urlsafe(16))
        return self._dummy_hash

    # -- sessions -------------------------------------------------------------------------

    async def start(
        self, request: Request[Any, Any, Any], user_id: int, *, totp: bool, next_path: str
    ) -> str:
        """Begin a session for a user whose first factor passed; where to send them next."""
        old = session_token(request)
        if old is not None:
            await self.sessions.revoke(old)
        agent, ip = request.headers.get("user-agent", ""), self.client_ip(request)
        if totp:
            token = await self.sessions.create(
                user_id, mfa_passed=False, user_agent=agent, ip=ip, lifetime=MFA_STEP_TTL
            )
            start_cookie_session(request, token, next=next_path)
            return MFA_STEP
        token = await self.sessions.create(user_id, user_agent=agent, ip=ip)
        start_cookie_session(request, token)
        await self.lock.succeeded(user_id, self.clock())
        return next_path


def accounts_of(request: Any) -> Accounts:
    return request.app.state.registry.state["auth.accounts"]


# -- small page helpers shared by the auth pages -----------------------------------------


def templates_of(request: Any) -> Templates:
    return request.app.state.registry.state["templates"]


def htmx(request: Any) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request[Any, Any, Any],
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    title: str,
    status: int = 200,
    partial: str | None = None,
) -> Response[Any]:
    """A page; for htmx requests, ``partial`` alone (status 200, so htmx swaps it in)."""
    templates = templates_of(request)
    if partial is not None and htmx(request):
        full = templates.base_context(request)
        full.update(context or {})
        html = templates.render_string(partial, full)
        return Response(html, status_code=200, media_type="text/html; charset=utf-8")
    return templates.render(request, template, context, title=title, status_code=status)


def go(request: Any, location: str) -> Response[Any]:
    """Redirect: htmx follows ``HX-Redirect`` with a full page load, browsers a 303."""
    if htmx(request):
        return Response(b"", status_code=200, headers={"hx-redirect": location})
    return Redirect(location, status_code=303)


def safe_next(value: object, default: str = HOME) -> str:
    """A same-site ``/ui`` path (query kept), or ``default``: never another origin."""
    if not isinstance(value, str) or not value or len(value) > 2000:
        return default
    if any(ch in value for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return default
    if not (parts.path == "/ui" or parts.path.startswith("/ui/")):
        return default
    if any(unquote(segment) in (".", "..") for segment in parts.path.split("/")):
        return default  # "/ui/../api" would leave /ui once the browser resolves it
    if parts.path.startswith(SIGN_IN) or parts.path == "/ui/sign-out":
        return default
    return parts.path + (f"?{parts.query}" if parts.query else "")


def sign_in_url(next_path: str) -> str:
    return SIGN_IN if next_path == HOME else f"{SIGN_IN}?{urlencode({'next': next_path})}"


def _seconds_text(seconds: float) -> str:
    whole = max(1, int(seconds + 0.999))
    return f"{whole} second{'s' if whole != 1 else ''}"


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}


# -- the pages ----------------------------------------------------------------------------


def _oidc_context(request: Any) -> dict[str, Any]:
    oidc = request.app.state.registry.state.get("auth.oidc")
    return {"oidc_label": oidc.label if oidc is not None else None}


async def sign_in(request: Request[Any, Any, Any]) -> Response[Any]:
    """``/ui/sign-in``: email and password; works without JavaScript, htmx swaps the form."""
    accounts = accounts_of(request)
    if request.method == "GET":
        next_path = safe_next(request.query_params.get("next"))
        if await accounts.current(request) is not None:
            return Redirect(next_path, status_code=303)
        return _sign_in_page(request, {"next": next_path, "email": ""})
    form = await _form(request)
    next_path = safe_next(form.get("next"))
    email, password = form.get("email", "").strip(), form.get("password", "")
    context: dict[str, Any] = {"next": next_path, "email": email, "errors": {}}
    if not email:
        context["errors"]["email"] = "Enter your email address."
    if not password:
        context["errors"]["password"] = "Enter your password."
    if context["errors"]:
        return _sign_in_page(request, context, status=400)
    refused = await accounts.throttled(request)
    if refused is not None:
        context["error"] = refused
        return _sign_in_page(request, context, status=429)
    outcome = await accounts.check_password(email, password)
    if outcome.user_id is None:
        context["error"] = outcome.error
        return _sign_in_page(request, context, status=outcome.status)
    return go(
        request,
        await accounts.start(request, outcome.user_id, totp=outcome.totp, next_path=next_path),
    )


def _sign_in_page(request: Any, context: dict[str, Any], status: int = 200) -> Response[Any]:
    context = {**_oidc_context(request), "errors": {}, **context}
    return render(
        request,
        "auth/sign_in.html",
        context,
        title="Sign in",
        status=status,
        partial="auth/_sign_in_form.html",
    )


async def sign_in_mfa(request: Request[Any, Any, Any]) -> Response[Any]:
    """``/ui/sign-in/mfa``: the second step, a TOTP code or a recovery code."""
    accounts = accounts_of(request)
    pending = await accounts.pending(request)
    if pending is None:
        flash(request, "Your sign-in took too long or was not started. Sign in again.", "info")
        return go(request, SIGN_IN)
    if request.method == "GET":
        return _mfa_page(request, {})
    code = (await _form(request)).get("code", "").strip()
    if not code:
        return _mfa_page(request, {"errors": {"code": "Enter the code from your app."}}, 400)
    refused = await accounts.throttled(request)
    if refused is not None:
        return _mfa_page(request, {"error": refused}, 429)
    used = await accounts.mfa.verify(pending.user_id, code)
    if used is None:
        until = await accounts.lock.failed(pending.user_id, accounts.clock())
        if until is not None:
            await accounts.sessions.revoke_digest(pending.digest)
            request.set_session({})
            wait = minutes_text((until - accounts.clock()).total_seconds())
            flash(request, LOCKED.format(wait=wait), "error")
            return go(request, SIGN_IN)
        errors = {"code": "That code is not valid. Codes change every 30 seconds."}
        return _mfa_page(request, {"errors": errors}, 401)
    next_path = safe_next(request.session.get("next"))
    await accounts.sessions.revoke_digest(pending.digest)
    request.set_session({})
    target = await accounts.start(request, pending.user_id, totp=False, next_path=next_path)
    if used == "recovery":
        left = await accounts.mfa.codes_left(pending.user_id)
        flash(
            request,
            f"You used a recovery code; {left} left. Make new ones on "
            "Account security if you are running low.",
            "warning",
        )
    return go(request, target)


def _mfa_page(request: Any, context: dict[str, Any], status: int = 200) -> Response[Any]:
    return render(
        request,
        "auth/mfa_step.html",
        {"errors": {}, **context},
        title="Two-step sign-in",
        status=status,
        partial="auth/_mfa_step_form.html",
    )


async def sign_out(request: Request[Any, Any, Any]) -> Response[Any]:
    """``/ui/sign-out``: GET asks (a link must not sign anyone out), POST does it."""
    accounts = accounts_of(request)
    if request.method == "GET":
        info = await accounts.current(request)
        return render(request, "auth/sign_out.html", {"who": info}, title="Sign out")
    token = session_token(request)
    if token is not None:
        await accounts.sessions.revoke(token)
    request.set_session({})
    flash(request, "You are signed out.", "success")
    return go(request, SIGN_IN)
