"""Request and response bodies of the management API (msgspec Structs, so the OpenAPI schema
at ``/schema/openapi.json`` describes them exactly).

Shapes are checked by msgspec before a handler runs (a 400 naming the field, e.g.
``scopes[0]: Expected `str`, got `int```); meanings (a known role, a valid email, a
pattern, an expiry in the future) are checked by the service (422 naming the field).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from plugins.auth.records import ApiKey, Membership
from plugins.auth.validation import MAX_GRACE_SECONDS

__all__ = [
    "Invite",
    "InviteIn",
    "Key",
    "KeyIn",
    "Me",
    "Member",
    "MemberIn",
    "MyKeyIn",
    "NewKey",
    "Problem",
    "RoleIn",
    "RotateIn",
    "WorkspaceIn",
    "WorkspaceOut",
]

TEN_YEARS = 10 * 366 * 24 * 3600
Ttl = Annotated[
    int, msgspec.Meta(ge=1, le=TEN_YEARS, description="Expire after this many seconds.")
]
Grace = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=MAX_GRACE_SECONDS,
        description="How long the old key keeps working (0: not at all).",
    ),
]
Scopes = Annotated[
    list[str],
    msgspec.Meta(
        description="Endpoint patterns ('/v1/messages', '/v1/*') and model patterns "
        "('model:claude-*'); empty: everything."
    ),
]


class _In(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Request bodies refuse unknown fields, so a typo is an error rather than ignored."""


class Problem(msgspec.Struct, kw_only=True):
    """Every error: ``detail`` starts with the field it is about (``role: ...``)."""

    status_code: int
    detail: str
    field: str | None = None


class Me(msgspec.Struct, kw_only=True):
    email: str
    display_name: str
    kind: Literal["session", "api_key"] | str
    workspace: str | None
    roles: list[str]
    key_id: str | None = None


class WorkspaceOut(msgspec.Struct, kw_only=True):
    slug: str
    name: str
    roles: list[str]
    current: bool


class WorkspaceIn(_In):
    slug: str
    name: str | None = None


class Member(msgspec.Struct, kw_only=True):
    email: str
    role: str
    roles: list[str]
    joined_at: datetime

    @classmethod
    def of(cls, m: Membership) -> Member:
        return cls(email=m.user, role=m.role, roles=list(m.roles), joined_at=m.created_at)


class MemberIn(_In):
    email: str
    role: str


class RoleIn(_In):
    role: str


class InviteIn(_In):
    email: str
    role: str


class Invite(msgspec.Struct, kw_only=True):
    email: str
    workspace: str
    role: str
    link: str
    new_user: bool


class Key(msgspec.Struct, kw_only=True):
    prefix: str
    name: str
    user: str
    workspace: str
    scopes: list[str]
    status: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_from: str | None
    grace_until: datetime | None

    @classmethod
    def of(cls, key: ApiKey, now: datetime) -> Key:
        return cls(
            prefix=key.prefix,
            name=key.name,
            user=key.user,
            workspace=key.workspace,
            scopes=list(key.scopes),
            status=key.status(now),
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            rotated_from=key.rotated_from,
            grace_until=key.grace_until,
        )


class NewKey(Key, kw_only=True):
    """A key just created or rotated: ``key`` is the secret, returned this once only."""

    key: str
    warning: str = "Store this key now: it is not shown again."


class MyKeyIn(_In):
    name: str = ""
    scopes: Scopes = []
    expires_at: datetime | None = None
    ttl_seconds: Ttl | None = None


class KeyIn(MyKeyIn):
    """``user``: the member the key is for (an email); default: the caller."""

    user: str | None = None


class RotateIn(_In):
    grace_seconds: Grace = 3600
