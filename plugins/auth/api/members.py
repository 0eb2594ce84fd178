"""``/api/v1/members``: who belongs to the current workspace, with which role.

Reading needs ``read_config`` (user, viewer, admin); changing needs a write on the same paths
(admin). Roles are written to the policy by the service, never decided here.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, post, put
from litestar.exceptions import HTTPException
from litestar.params import FromPath, JSONBody

from plugins.auth.api.common import ERROR_HANDLERS, caller, current_workspace, service
from plugins.auth.api.schemas import Invite, InviteIn, Member, MemberIn, RoleIn
from plugins.auth.errors import AlreadyExists
from plugins.auth.validation import normalize_email

__all__ = ["add_member", "change_role", "invite", "list_members", "remove_member"]

_TAGS = ["members"]


@get("/api/v1/members", tags=_TAGS, exception_handlers=ERROR_HANDLERS, summary="Members")
async def list_members(request: Request[Any, Any, Any]) -> list[Member]:
    members = await service(request).list_members(current_workspace(request))
    return [Member.of(m) for m in members]


@post(
    "/api/v1/members",
    tags=_TAGS,
    exception_handlers=ERROR_HANDLERS,
    summary="Add an existing user with a role",
)
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
async def remove_member(request: Request[Any, Any, Any], email: FromPath[str]) -> dict[str, Any]:
    who = caller(request)
    workspace = current_workspace(request)
    revoked = await service(request).remove_member(email, workspace, actor=who.email)
    return {"email": normalize_email(email), "workspace": workspace, "revoked_keys": revoked}


@post(
    "/api/v1/members/invites",
    tags=_TAGS,
    exception_handlers=ERROR_HANDLERS,
    summary="Invite someone by email: returns a one-time link",
)
async def invite(request: Request[Any, Any, Any], data: JSONBody[InviteIn]) -> Invite:
    """Creates the user if new and hands back the link they open to join (sent by you)."""
    who = caller(request)
    svc = service(request)
    workspace = current_workspace(request)
    email = normalize_email(data.email)
    role = svc.check_role(data.role)
    new_user = False
    try:
        await svc.create_user(email)
        new_user = True
    except AlreadyExists:
        pass
    token = await create_invite_token(request, email, workspace, role, who.email)
    link = f"{str(request.base_url).rstrip('/')}/ui/invite?token={token}"
    return Invite(email=email, workspace=workspace, role=role, link=link, new_user=new_user)


async def create_invite_token(
    request: Request[Any, Any, Any], email: str, workspace: str, role: str, actor: str
) -> str:
    """The invite token from the sign-in side of the plugin (``plugins.auth.links``)."""
    try:
        from plugins.auth.links import create_invite
    except ImportError:
        raise HTTPException(
            status_code=501, detail="invites: not available in this build"
        ) from None
    return await create_invite(
        service(request).db, email=email, workspace=workspace, role=role, created_by=actor
    )
