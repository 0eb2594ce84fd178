"""The first admin and invited people: ``/ui/first-run`` and ``/ui/invite`` (both public).

There is no default password anywhere. While no user exists, ``serve`` prints a one-time
link (the ``banner`` hook); whoever opens it chooses the first admin's email, name and
password, and becomes ``admin`` of the ``default`` workspace (created if there are no
workspaces; if some were made with the CLI first, of each of them). Invitations are made with
:func:`plugins.auth.links.create_invite`; the person sets a name and password (or uses
single sign-on) and gets the invited role when they accept.

Roles go through the auth service (``add_member`` / ``create_workspace(owner=...)``), which
writes them into the policy with ``registry.permissions.set_roles``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from litestar import Request, Response
from sqlalchemy import select

from core.templating import flash
from plugins.auth.credentials import hash_password
from plugins.auth.errors import AlreadyExists, AuthError
from plugins.auth.links import (
    FIRST_RUN,
    FIRST_RUN_TTL,
    INVITE,
    Link,
    claim_creating_user,
    claim_link,
    create_first_run_link,
    find_link,
)
from plugins.auth.models import users
from plugins.auth.signin import accounts_of, go, render, sign_in_url
from plugins.auth.validation import check_password, check_text, normalize_email

if TYPE_CHECKING:
    from core.registry import Registry

__all__ = [
    "first_run",
    "first_run_banner",
    "grant_first_admin",
    "grant_invited_role",
    "grant_with_message",
    "invite",
]

log = logging.getLogger("switchyard.auth")
DEFAULT_WORKSPACE = "default"


# -- the banner ---------------------------------------------------------------------------


async def first_run_banner(registry: Registry, **_: Any) -> list[str] | None:
    """While no user exists: a fresh one-time link for the first admin (older ones stop)."""
    assert registry.db is not None
    try:
        token = await create_first_run_link(registry.db)
    except Exception as exc:  # noqa: BLE001 - the banner must not stop the server
        log.warning("could not create the first-admin link: %s", exc)
        return None
    if token is None:
        return None
    server = registry.settings.server
    host = f"[{server.host}]" if ":" in server.host else server.host
    hours = int(FIRST_RUN_TTL.total_seconds() // 3600)
    url = f"http://{host}:{server.port}/ui/first-run?token={token}"
    return [f"First admin: open {url} (one use, expires in {hours} h)"]


async def grant_first_admin(registry: Registry, email: str) -> list[str]:
    """Make ``email`` admin of ``default`` (created when there is no workspace) or of every
    existing workspace; returns their slugs."""
    service = registry.state["auth.service"]
    existing = await service.list_workspaces()
    if not existing:
        await service.create_workspace(DEFAULT_WORKSPACE, name="Default", owner=email, actor=email)
        return [DEFAULT_WORKSPACE]
    for workspace in existing:
        await service.add_member(email, workspace.slug, "admin", actor=email)
    return [w.slug for w in existing]


async def grant_invited_role(registry: Registry, link: Link, email: str) -> bool:
    """Give the invited role; False when they were a member already (their roles stay)."""
    service = registry.state["auth.service"]
    try:
        await service.add_member(email, link.workspace, link.role, actor=link.created_by or email)
    except AlreadyExists:
        return False
    return True


# -- form helpers -------------------------------------------------------------------------


def _message(label: str, exc: AuthError) -> str:
    reason = exc.reason
    if reason.startswith(("must ", "is ")):
        return f"{label} {reason}."
    return reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else ".")


def _new_account(
    form: dict[str, str], *, with_email: bool
) -> tuple[dict[str, str], dict[str, str]]:
    """Clean values and field errors for the name / email / password / confirm fields."""
    values: dict[str, str] = {"display_name": form.get("display_name", "").strip()}
    errors: dict[str, str] = {}
    if with_email:
        values["email"] = form.get("email", "").strip()
        try:
            values["email"] = normalize_email(values["email"])
        except AuthError:
            errors["email"] = "Enter an email address such as name@example.com."
    try:
        values["display_name"] = check_text(values["display_name"], "display_name")
    except AuthError as exc:
        errors["display_name"] = _message("Name", exc)
    password = form.get("password", "")
    try:
        check_password(password)
    except AuthError as exc:
        errors["password"] = _message("Password", exc)
    if "password" not in errors and form.get("password_confirm", "") != password:
        errors["password_confirm"] = "The two passwords are not the same."
    values["password"] = password
    return values, errors


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _registry(request: Any) -> Registry:
    return request.app.state.registry


# -- /ui/first-run ------------------------------------------------------------------------


async def first_run(request: Request[Any, Any, Any]) -> Response[Any]:
    registry, accounts = _registry(request), accounts_of(request)
    if request.method == "GET":
        token = request.query_params.get("token", "")
        if await find_link(accounts.db, token, FIRST_RUN) is None:
            return _first_run_gone(request)
        return _first_run_page(request, {"token": token, "values": {}})
    form = await _form(request)
    token = form.get("token", "")
    values, errors = _new_account(form, with_email=True)
    if errors:
        if await find_link(accounts.db, token, FIRST_RUN) is None:
            return _first_run_gone(request)
        return _first_run_page(request, {"token": token, "values": values, "errors": errors}, 400)
    password_hash = await asyncio.to_thread(hash_password, values["password"])
    user_id = await claim_creating_user(
        accounts.db,
        token,
        FIRST_RUN,
        email=values["email"],
        display_name=values["display_name"],
        password_hash=password_hash,
    )
    if user_id is None:
        return _first_run_gone(request)
    try:
        slugs = await grant_first_admin(registry, values["email"])
    except Exception as exc:  # the account exists; say how to finish by hand
        log.exception("first admin %s created but not made admin", values["email"])
        flash(
            request,
            f"Your account was created, but making you admin failed ({exc}). Run "
            f"`switchyard policy add g {values['email']} admin {DEFAULT_WORKSPACE}` on the "
            "server, then reload this page.",
            "error",
        )
    else:
        flash(request, f"Welcome! You are the admin of {', '.join(slugs)}.", "success")
    return go(request, await accounts.start(request, user_id, totp=False, next_path="/ui/"))


def _first_run_page(request: Any, context: dict[str, Any], status: int = 200) -> Response[Any]:
    return render(
        request,
        "auth/first_run.html",
        {"errors": {}, **context},
        title="Create the first admin",
        status=status,
    )


def _first_run_gone(request: Any) -> Response[Any]:
    return render(
        request, "auth/first_run_invalid.html", {}, title="This link does not work", status=404
    )


# -- /ui/invite ---------------------------------------------------------------------------


async def invite(request: Request[Any, Any, Any]) -> Response[Any]:
    registry, accounts = _registry(request), accounts_of(request)
    form = await _form(request) if request.method == "POST" else {}
    token = form.get("token") or request.query_params.get("token", "")
    link = await find_link(accounts.db, token, INVITE)
    if link is None or link.email is None:
        return render(
            request,
            "auth/invite_invalid.html",
            {},
            title="This invitation does not work",
            status=404,
        )
    async with accounts.db.engine.connect() as conn:
        existing = (
            await conn.execute(select(users.c.id).where(users.c.email == link.email))
        ).scalar_one_or_none()
    current = await accounts.current(request)
    oidc = registry.state.get("auth.oidc")
    context: dict[str, Any] = {
        "token": token,
        "link": link,
        "values": {},
        "errors": {},
        "existing": existing is not None,
        "current": current,
        "sign_in_url": sign_in_url(f"/ui/invite?token={token}"),
        "oidc_label": oidc.label if oidc is not None else None,
    }
    if existing is not None:
        return await _invite_existing(request, context, link, current, existing)
    if request.method == "GET":
        return _invite_page(request, context)
    values, errors = _new_account(form, with_email=False)
    if errors:
        return _invite_page(request, {**context, "values": values, "errors": errors}, 400)
    password_hash = await asyncio.to_thread(hash_password, values["password"])
    user_id = await claim_creating_user(
        accounts.db,
        token,
        INVITE,
        email=link.email,
        display_name=values["display_name"],
        password_hash=password_hash,
    )
    if user_id is None:
        return render(
            request,
            "auth/invite_invalid.html",
            {},
            title="This invitation does not work",
            status=404,
        )
    await grant_with_message(request, registry, link, link.email)
    return go(request, await accounts.start(request, user_id, totp=False, next_path="/ui/"))


async def _invite_existing(
    request: Request[Any, Any, Any],
    context: dict[str, Any],
    link: Link,
    current: Any,
    user_id: int,
) -> Response[Any]:
    """The invited email has an account: its owner accepts while signed in as themselves."""
    accounts = accounts_of(request)
    mine = current is not None and current.email == link.email
    if request.method == "GET" or not mine:
        return _invite_page(request, context, 200 if request.method == "GET" else 403)
    async with accounts.db.engine.begin() as conn:
        claimed = await claim_link(
            conn, context["token"], INVITE, accounts.clock(), user_id=user_id
        )
    if claimed is None:
        return render(
            request,
            "auth/invite_invalid.html",
            {},
            title="This invitation does not work",
            status=404,
        )
    await grant_with_message(request, _registry(request), link, link.email)
    return go(request, "/ui/")


async def grant_with_message(request: Any, registry: Registry, link: Link, email: str) -> None:
    try:
        added = await grant_invited_role(registry, link, email)
    except Exception as exc:  # the account exists; the admin can finish
        log.exception("invitation of %s to %s accepted, role not given", email, link.workspace)
        flash(
            request,
            f"You joined, but your role in {link.workspace} could not be set "
            f"({exc}). Ask an admin to set it on the members page.",
            "error",
        )
        return
    if added:
        flash(request, f"Welcome to {link.workspace}! Your role there: {link.role}.", "success")
    else:
        flash(
            request,
            f"You were already a member of {link.workspace}; your role stays as it was.",
            "info",
        )


def _invite_page(request: Any, context: dict[str, Any], status: int = 200) -> Response[Any]:
    return render(
        request, "auth/invite.html", context, title="Accept your invitation", status=status
    )
