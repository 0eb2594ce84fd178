"""``/api/v1/members``: who belongs to the current workspace, with which role.

Reading needs ``read_config`` (user, viewer, admin); changing needs a write on the same paths
(admin). Roles are written to the policy by the service, never decided here.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, post, put
from litestar.params import FromPath, JSONBody

from plugins.auth.api.common import (
    ERROR_HANDLERS,
    answers_bad_input,
    caller,
    current_workspace,
    service,
)
from plugins.auth.api.schemas import Invite, InviteIn, Member, MemberIn, RoleIn
from plugins.auth.errors import AlreadyExists, NotFound
from plugins.auth.links import create_invite, invite_path
from plugins.auth.service import AuthService
from plugins.auth.validation import normalize_email

__all__ = ["add_member", "change_role", "invite", "list_members", "remove_member", "send_invite"]

_TAGS = ["members"]


@get(
    "/api/v1/members",
    tags=_TAGS,
    exception_handlers=ERROR_HANDLERS,
    summary="Members",
)
@answers_bad_input
async def list_members(request: Request[Any, Any, Any]) -> list[Member]:
    members = await service(request).list_members(current_workspace(request))
    return [Member.of(m) for m in members]


@post(
    "/api/v1/members",
    tags=_TAGS,
    exception_handlers=ERROR_HANDLERS,
    summary="Add an existing user with a role",
)
@answers_bad_input
async def add_member(request: Request[Any, Any, Any], data: JSONBody[MemberIn]) -> Member:
    who = caller(request)
    added = await service(request).add_member(
        data.email, current_workspace(request), data.role, actor=who.email
    )
    return Member.of(added)


@put(
    "/api/v1/members/{email:str}",
    tags=_TAGS,
    exception_handlers=ERROR_HANDLERS,
    summary="Change a member's role",
)
@answers_bad_input
async def change_role(
    request: Request[Any, Any, Any], email: FromPath[str], data: JSONBody[RoleIn]
) -> Member:
    who = caller(request)
    changed = await service(request).set_member_role(
        email, current_workspace(request), data.role, actor=who.email
    )
    return Member.of(changed)


@delete(
    "/api/v1/members/{email:str}",
    tags=_TAGS,
    exception_handlers=ERROR_HANDLERS,
    status_code=200,
    summary="Remove a member (their roles go and their keys here are revoked)",
)
@answers_bad_input
async def remove_member(request: Request[Any, Any, Any], email: FromPath[str]) -> dict[str, Any]:
    who = caller(request)
    workspace = current_workspace(request)
    revoked = await service(request).remove_member(email, workspace, actor=who.email)
    return {"email": normalize_email(email), "workspace": workspace, "revoked_keys": revoked}


@post(
    "/api/v1/members/invites",
    tags=_TAGS,
    exception_handlers=ERROR_HANDLERS,
    summary="Invite someone by email: returns a one-time link (7 days)",
)
@answers_bad_input
async def invite(request: Request[Any, Any, Any], data: JSONBody[InviteIn]) -> Invite:
    """The link you send them; they get the role when they accept it.

    Someone without an account creates it on accepting (name and password or single
    sign-on), so no account is made here: an account without a password could not accept.
    """
    who = caller(request)
    svc = service(request)
    workspace = current_workspace(request)
    token, new_user = await send_invite(svc, data.email, workspace, data.role, who.email)
    link = f"{str(request.base_url).rstrip('/')}{invite_path(token)}"
    return Invite(
        email=normalize_email(data.email), workspace=workspace, role=data.role, link=link,
        new_user=new_user,
    )  # fmt: skip


async def send_invite(
    svc: AuthService, email: str, workspace: str, role: str, actor: str
) -> tuple[str, bool]:
    """(the invitation token, whether the email has no account yet); checks come first."""
    email = normalize_email(email)
    role = svc.check_role(role)
    await svc.get_workspace(workspace)
    try:
        await svc.get_member(email, workspace)
    except NotFound:
        pass
    else:
        raise AlreadyExists("email", f"{email} is already a member of {workspace!r}")
    try:
        await svc.get_user(email)
        new_user = False
    except NotFound:
        new_user = True
    token = await create_invite(
        svc.db, email, workspace, role, actor, known_roles=svc.known_roles()
    )
    return token, new_user
