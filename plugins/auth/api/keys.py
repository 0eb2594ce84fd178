"""``/api/v1/keys`` (admin: every member's keys in the workspace) and ``/api/v1/me/keys`` (the
caller's own keys in the current workspace).

The ``/me`` routes carry ``opt={"action": "use"}``: handing yourself a key is part of using
the router, so the policy's ``use_router`` permission covers them (user and admin). A key of
someone else, or of another workspace, is "not found" on them, whatever the caller's role.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from plugins.auth.api.common import (
    ERROR_HANDLERS,
    answers_bad_input,
    caller,
    current_workspace,
    now,
    service,
)
from plugins.auth.api.schemas import Key, KeyIn, MyKeyIn, NewKey, RotateIn
from plugins.auth.errors import NotFound
from plugins.auth.records import ApiKey
from plugins.auth.service import AuthService

__all__ = [
    "create_key",
    "create_my_key",
    "list_keys",
    "list_my_keys",
    "revoke_key",
    "revoke_my_key",
    "rotate_key",
    "rotate_my_key",
]

_ADMIN = ["keys"]
_MINE = ["my keys"]
_USE = {"action": "use"}


def _new(plaintext: str, key: ApiKey) -> NewKey:
    return NewKey(
        key=plaintext, **{f: getattr(Key.of(key, now()), f) for f in Key.__struct_fields__}
    )


async def _create(svc: AuthService, owner: str, workspace: str, data: MyKeyIn) -> NewKey:
    plaintext, key = await svc.create_key(
        owner,
        workspace,
        data.name,
        data.scopes,
        timedelta(seconds=data.ttl_seconds) if data.ttl_seconds is not None else None,
        expires_at=data.expires_at,
    )
    return _new(plaintext, key)


async def _key_in(
    svc: AuthService, prefix: str, workspace: str, owner: str | None = None
) -> ApiKey:
    """The key, if it is in ``workspace`` (and owned by ``owner`` when given); else 404."""
    try:
        key = await svc.get_key(prefix)
    except NotFound:
        key = None
    if key is None or key.workspace != workspace or (owner is not None and key.user != owner):
        where = "among your keys" if owner is not None else "in this workspace"
        raise NotFound("prefix", f"no key with prefix {prefix!r} {where}")
    return key


# -- admin: the workspace's keys ----------------------------------------------------------


@get(
    "/api/v1/keys",
    tags=_ADMIN,
    exception_handlers=ERROR_HANDLERS,
    summary="Workspace keys",
)
@answers_bad_input
async def list_keys(
    request: Request[Any, Any, Any], user: FromQuery[str | None] = None
) -> list[Key]:
    """Every key of the workspace (revoked and expired too); ``user`` filters by owner."""
    found = await service(request).list_keys(user=user, workspace=current_workspace(request))
    at = now()
    return [Key.of(k, at) for k in found]


@post(
    "/api/v1/keys",
    tags=_ADMIN,
    exception_handlers=ERROR_HANDLERS,
    summary="Create a key for a member (the secret is returned once)",
)
@answers_bad_input
async def create_key(request: Request[Any, Any, Any], data: JSONBody[KeyIn]) -> NewKey:
    who = caller(request)
    return await _create(service(request), data.user or who.email, current_workspace(request), data)


@post(
    "/api/v1/keys/{prefix:str}/rotate",
    tags=_ADMIN,
    exception_handlers=ERROR_HANDLERS,
    summary="Replace a key; the old one works for grace_seconds",
)
@answers_bad_input
async def rotate_key(
    request: Request[Any, Any, Any], prefix: FromPath[str], data: JSONBody[RotateIn | None] = None
) -> NewKey:
    svc = service(request)
    await _key_in(svc, prefix, current_workspace(request))
    plaintext, key = await svc.rotate_key(prefix, grace_seconds=(data or RotateIn()).grace_seconds)
    return _new(plaintext, key)


@delete(
    "/api/v1/keys/{prefix:str}",
    tags=_ADMIN,
    exception_handlers=ERROR_HANDLERS,
    status_code=200,
    summary="Revoke a key at once",
)
@answers_bad_input
async def revoke_key(request: Request[Any, Any, Any], prefix: FromPath[str]) -> Key:
    svc = service(request)
    await _key_in(svc, prefix, current_workspace(request))
    return Key.of(await svc.revoke_key(prefix), now())


# -- me: the caller's own keys ------------------------------------------------------------


@get(
    "/api/v1/me/keys",
    tags=_MINE,
    opt=_USE,
    exception_handlers=ERROR_HANDLERS,
    summary="My keys in this workspace",
)
@answers_bad_input
async def list_my_keys(request: Request[Any, Any, Any]) -> list[Key]:
    who = caller(request)
    found = await service(request).list_keys(user=who.email, workspace=current_workspace(request))
    at = now()
    return [Key.of(k, at) for k in found]


@post(
    "/api/v1/me/keys",
    tags=_MINE,
    opt=_USE,
    exception_handlers=ERROR_HANDLERS,
    summary="Create a key for myself (the secret is returned once)",
)
@answers_bad_input
async def create_my_key(request: Request[Any, Any, Any], data: JSONBody[MyKeyIn]) -> NewKey:
    who = caller(request)
    return await _create(service(request), who.email, current_workspace(request), data)


@post(
    "/api/v1/me/keys/{prefix:str}/rotate",
    tags=_MINE,
    opt=_USE,
    exception_handlers=ERROR_HANDLERS,
    summary="Replace one of my keys",
)
@answers_bad_input
async def rotate_my_key(
    request: Request[Any, Any, Any], prefix: FromPath[str], data: JSONBody[RotateIn | None] = None
) -> NewKey:
    who = caller(request)
    svc = service(request)
    await _key_in(svc, prefix, current_workspace(request), owner=who.email)
    plaintext, key = await svc.rotate_key(prefix, grace_seconds=(data or RotateIn()).grace_seconds)
    return _new(plaintext, key)


@delete(
    "/api/v1/me/keys/{prefix:str}",
    tags=_MINE,
    opt=_USE,
    exception_handlers=ERROR_HANDLERS,
    status_code=200,
    summary="Revoke one of my keys",
)
@answers_bad_input
async def revoke_my_key(request: Request[Any, Any, Any], prefix: FromPath[str]) -> Key:
    who = caller(request)
    svc = service(request)
    await _key_in(svc, prefix, current_workspace(request), owner=who.email)
    return Key.of(await svc.revoke_key(prefix), now())
