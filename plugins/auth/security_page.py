"""``/ui/me/security``: the signed-in user's password, two-step sign-in and sessions.

Every change is a POST to its own path (one form each, working without JavaScript) and ends
in a redirect back here with a message, except the two that show recovery codes: those
render them once, with ``cache-control: no-store``. Turning TOTP off, making new recovery
codes and changing the password ask for the password again, so a borrowed, unlocked browser
is not enough; wrong passwords there count towards the account lockout.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from sqlalchemy import select

from core.templating import flash
from plugins.auth.errors import AuthError
from plugins.auth.mfa import TotpState, qr_svg
from plugins.auth.models import users
from plugins.auth.sessions import SessionInfo, session_token
from plugins.auth.signin import (
    SIGN_IN,
    Accounts,
    accounts_of,
    go,
    render,
    sign_in_url,
)
from plugins.auth.throttle import minutes_text
from plugins.auth.validation import check_password

__all__ = [
    "PAGE",
    "change_password",
    "page",
    "recovery_codes",
    "sign_out_everywhere",
    "totp_confirm",
    "totp_disable",
    "totp_setup",
]

PAGE = "/ui/me/security"


async def _who(request: Request[Any, Any, Any]) -> SessionInfo | None:
    return await accounts_of(request).current(request)


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}


async def _has_password(accounts: Accounts, user_id: int) -> bool:
    async with accounts.db.engine.connect() as conn:
        stored = (
            await conn.execute(select(users.c.password_hash).where(users.c.id == user_id))
        ).scalar_one_or_none()
    return stored is not None


async def _page(
    request: Request[Any, Any, Any],
    who: SessionInfo,
    extra: dict[str, Any] | None = None,
    status: int = 200,
) -> Response[Any]:
    accounts = accounts_of(request)
    state = await accounts.mfa.state(who.user_id)
    context: dict[str, Any] = {
        "who": who,
        "has_password": await _has_password(accounts, who.user_id),
        "totp_state": state,
        "codes_left": await accounts.mfa.codes_left(who.user_id) if state == TotpState.ON else 0,
        "sessions": await accounts.sessions.list_for_user(who.user_id),
        "errors": {},
    }
    if state == TotpState.PENDING:
        secret = await accounts.mfa.pending_secret(who.user_id)
        if secret is not None:
            uri = accounts.mfa.provisioning_uri(secret, who.email)
            context["totp_secret"] = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
            context["totp_qr"] = qr_svg(uri, title=f"QR code to add Switchyard ({who.email})")
    context.update(extra or {})
    return render(request, "auth/security.html", context, title="Account security", status=status)


def _signed_out(request: Any) -> Response[Any]:
    return go(request, sign_in_url(PAGE))


async def _password_ok(request: Any, who: SessionInfo, password: str) -> str | None:
    """None when ``password`` is the user's; otherwise the message for the password field."""
    accounts = accounts_of(request)
    refused = await accounts.throttled(request)
    if refused is not None:
        return refused
    if password and await accounts.password_matches(who.user_id, password):
        return None
    until = await accounts.lock.failed(who.user_id, accounts.clock())
    if until is not None:
        wait = minutes_text((until - accounts.clock()).total_seconds())
        return f"That is not your password. Your account is now locked for {wait}."
    return "That is not your password."


def _codes(request: Any, codes: list[str], *, first: bool) -> Response[Any]:
    response = render(
        request,
        "auth/security_recovery_codes.html",
        {"codes": codes, "first": first},
        title="Your recovery codes",
    )
    response.headers["cache-control"] = "no-store"
    return response


# -- the page and its forms ---------------------------------------------------------------


async def page(request: Request[Any, Any, Any]) -> Response[Any]:
    who = await _who(request)
    return _signed_out(request) if who is None else await _page(request, who)


async def change_password(request: Request[Any, Any, Any]) -> Response[Any]:
    who = await _who(request)
    if who is None:
        return _signed_out(request)
    accounts = accounts_of(request)
    form = await _form(request)
    errors: dict[str, str] = {}
    if await _has_password(accounts, who.user_id):
        problem = await _password_ok(request, who, form.get("current_password", ""))
        if problem is not None:
            errors["current_password"] = problem
    new = form.get("new_password", "")
    try:
        check_password(new)
    except AuthError as exc:
        errors["new_password"] = f"The new password {exc.reason}."
    if "new_password" not in errors and form.get("new_password_confirm", "") != new:
        errors["new_password_confirm"] = "The two new passwords are not the same."
    if errors:
        return await _page(request, who, {"errors": errors, "open": "password"}, 400)
    await accounts.set_password(who.user_id, new)
    ended = await accounts.sessions.revoke_user(who.user_id, keep=session_token(request))
    others = f" {ended} other session{'s' if ended != 1 else ''} signed out." if ended else ""
    flash(request, f"Your password is changed.{others}", "success")
    return go(request, PAGE)


async def totp_setup(request: Request[Any, Any, Any]) -> Response[Any]:
    who = await _who(request)
    if who is None:
        return _signed_out(request)
    try:
        await accounts_of(request).mfa.begin_setup(who.user_id)
    except ValueError as exc:
        flash(request, f"Not started: {exc}.", "error")
    return go(request, f"{PAGE}#totp")


async def totp_confirm(request: Request[Any, Any, Any]) -> Response[Any]:
    who = await _who(request)
    if who is None:
        return _signed_out(request)
    accounts = accounts_of(request)
    code = (await _form(request)).get("code", "").strip()
    refused = await accounts.throttled(request)
    codes = None if refused or not code else await accounts.mfa.confirm_setup(who.user_id, code)
    if codes is None:
        message = refused or (
            "Enter the 6-digit code your app shows."
            if not code
            else "That code does not match. Check the time on your phone and try the new code."
        )
        return await _page(request, who, {"errors": {"code": message}}, 400)
    return _codes(request, codes, first=True)


async def totp_disable(request: Request[Any, Any, Any]) -> Response[Any]:
    who = await _who(request)
    if who is None:
        return _signed_out(request)
    accounts = accounts_of(request)
    problem = await _password_ok(request, who, (await _form(request)).get("password", ""))
    if problem is not None:
        return await _page(request, who, {"errors": {"disable-password": problem}}, 400)
    await accounts.mfa.disable(who.user_id)
    flash(request, "Two-step sign-in is off. Your recovery codes no longer work.", "success")
    return go(request, PAGE)


async def recovery_codes(request: Request[Any, Any, Any]) -> Response[Any]:
    who = await _who(request)
    if who is None:
        return _signed_out(request)
    accounts = accounts_of(request)
    if await accounts.mfa.state(who.user_id) != TotpState.ON:
        flash(request, "Recovery codes come with two-step sign-in; turn it on first.", "error")
        return go(request, PAGE)
    problem = await _password_ok(request, who, (await _form(request)).get("password", ""))
    if problem is not None:
        return await _page(request, who, {"errors": {"codes-password": problem}}, 400)
    return _codes(request, await accounts.mfa.regenerate_codes(who.user_id), first=False)


async def sign_out_everywhere(request: Request[Any, Any, Any]) -> Response[Any]:
    who = await _who(request)
    if who is None:
        return _signed_out(request)
    await accounts_of(request).sessions.revoke_user(who.user_id)
    request.set_session({})
    flash(request, "You are signed out everywhere, here too.", "success")
    return go(request, SIGN_IN)
