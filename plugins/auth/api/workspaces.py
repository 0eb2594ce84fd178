"""``/api/v1/me`` and ``/api/v1/workspaces``: who am I, where do I belong, a new workspace.

``GET`` on both is self-service (any signed-in identity: ``access="signed_in"``);
``POST /api/v1/workspaces`` needs ``manage_workspaces`` in the current workspace (admin), and
the creator becomes the new workspace's first admin.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import JSONBody

from plugins.auth.api.common import (
    ERROR_HANDLERS,
    answers_bad_input,
    caller,
    current_workspace,
    service,
)
from plugins.auth.api.schemas import Me, WorkspaceIn, WorkspaceOut

__all__ = ["create_workspace", "list_workspaces", "me"]

_TAGS = ["workspaces"]


def _chosen(request: Request[Any, Any, Any]) -> str | None:
    """The workspace the guard resolved, if it resolved one for this (self-service) route."""
    from core.security import workspace_of

    return workspace_of(request)


@get(
    "/api/v1/me",
    tags=_TAGS,
    exception_handlers=ERROR_HANDLERS,
    summary="Who is calling",
)
@answers_bad_input
async def me(request: Request[Any, Any, Any]) -> Me:
    who = caller(request)
    svc = service(request)
    mine = await svc.workspaces_of(who.email)
    chosen = _chosen(request)
    if chosen not in {w.slug for w, _ in mine}:
        chosen = mine[0][0].slug if mine else None
    roles = next((list(r) for w, r in mine if w.slug == chosen), [])
    user = await svc.get_user(who.email)
    return Me(
        email=who.email,
        display_name=user.display_name,
        kind=who.kind,
        workspace=chosen,
        roles=roles,
        key_id=who.key_id,
    )


@get(
    "/api/v1/workspaces",
    tags=_TAGS,
    exception_handlers=ERROR_HANDLERS,
    summary="The caller's workspaces and roles",
)
@answers_bad_input
async def list_workspaces(request: Request[Any, Any, Any]) -> list[WorkspaceOut]:
    who = caller(request)
    chosen = _chosen(request)
    return [
        WorkspaceOut(slug=w.slug, name=w.name, roles=list(roles), current=w.slug == chosen)
        for w, roles in await service(request).workspaces_of(who.email)
    ]


@post(
    "/api/v1/workspaces",
    tags=_TAGS,
    exception_handlers=ERROR_HANDLERS,
    summary="Create a workspace (the caller becomes its admin)",
)
@answers_bad_input
async def create_workspace(
    request: Request[Any, Any, Any], data: JSONBody[WorkspaceIn]
) -> WorkspaceOut:
    who = caller(request)
    current_workspace(request)  # the guard decided in one: there must be one
    workspace = await service(request).create_workspace(
        data.slug, name=data.name, owner=who.email, actor=who.email
    )
    return WorkspaceOut(slug=workspace.slug, name=workspace.name, roles=["admin"], current=False)
