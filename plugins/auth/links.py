"""One-time links: the first-admin link and workspace invitations.

A link is a random token in a URL; only its sha256 is stored (``auth_one_time_links``), with
its purpose, expiry and the moment it was used. Using a link is a guarded update
(``used_at IS NULL``), so of two tabs racing only one succeeds.

* **first_run**: while no user exists, every ``serve`` start prints a fresh link (24 h) and
  voids the older ones. Whoever opens it chooses the first admin's email and password.
* **invite**: :func:`create_invite` is what the members page and API call. The invitation
  records the email, workspace and role; **the role is given at acceptance** (through the
  auth service's ``add_member``, which writes the policy with ``permissions.set_roles``), so
  an invitation nobody accepts grants nothing. A newer invitation for the same email and
  workspace voids the older one.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database
from plugins.auth.errors import InvalidValue, NotFound
from plugins.auth.models import ROLES, one_time_links, users, workspaces
from plugins.auth.validation import check_text, normalize_email

__all__ = [
    "FIRST_RUN",
    "FIRST_RUN_TTL",
    "INVITE",
    "INVITE_TTL",
    "Invite",
    "Link",
    "claim_creating_user",
    "claim_link",
    "create_first_run_link",
    "create_invite",
    "find_link",
    "invite_path",
    "list_invites",
    "revoke_invite",
    "users_exist",
]

FIRST_RUN = "first_run"
INVITE = "invite"
FIRST_RUN_TTL = timedelta(hours=24)
INVITE_TTL = timedelta(days=7)


class _Unusable(Exception):
    """Raised inside a transaction to roll it back and report an unusable link."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Link:
    """A usable link, as the pages need it (never the token)."""

    id: int
    purpose: str
    email: str | None
    workspace: str | None  # slug
    role: str | None
    created_by: str | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Invite:
    """A pending invitation, for the members page."""

    id: int
    email: str
    workspace: str
    role: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime


def invite_path(token: str) -> str:
    """Where an invited person goes: ``/ui/invite?token=...`` (prefix the site's origin)."""
    return f"/ui/invite?token={token}"


async def users_exist(db: Database) -> bool:
    async with db.engine.connect() as conn:
        return bool((await conn.execute(select(exists(users.select())))).scalar())


async def create_first_run_link(
    db: Database, *, clock: Callable[[], datetime] = _utcnow
) -> str | None:
    """A fresh first-admin token, voiding older ones; None when a user exists already."""
    token = secrets.token_urlsafe(32)
    now = clock()
    async with db.engine.begin() as conn:
        if (await conn.execute(select(exists(users.select())))).scalar():
            return None
        await conn.execute(
            update(one_time_links)
            .where(one_time_links.c.purpose == FIRST_RUN, one_time_links.c.used_at.is_(None))
            .values(used_at=now)  # replaced: a restart prints the only link that works
        )
        await conn.execute(
            insert(one_time_links).values(
                token_hash=_digest(token),
                purpose=FIRST_RUN,
                created_by="server",
                created_at=now,
                expires_at=now + FIRST_RUN_TTL,
            )
        )
    return token


async def create_invite(
    db: Database,
    email: str,
    workspace: str,
    role: str,
    created_by: str,
    *,
    known_roles: Sequence[str] = ROLES,
    expires_in: timedelta = INVITE_TTL,
    clock: Callable[[], datetime] = _utcnow,
) -> str:
    """Invite ``email`` to ``workspace`` (slug) as ``role``; returns the token (shown once).

    Send the person to :func:`invite_path`. The role is granted when they accept, not now.
    Pass ``known_roles=service.known_roles()`` to allow the policy's custom roles. Raises
    :class:`~plugins.auth.errors.AuthError` naming the field for bad input.
    """
    email = normalize_email(email)
    if not isinstance(role, str) or role not in known_roles:
        raise InvalidValue(
            "role", f"{role!r} is not a role; choose one of {', '.join(known_roles)}"
        )
    created_by = check_text(created_by, "created_by", max_length=254)
    token = secrets.token_urlsafe(32)
    now = clock()
    async with db.engine.begin() as conn:
        ws_id = (
            await conn.execute(select(workspaces.c.id).where(workspaces.c.slug == workspace))
        ).scalar_one_or_none()
        if ws_id is None:
            raise NotFound("workspace", f"no workspace {workspace!r}")
        user_id = (
            await conn.execute(select(users.c.id).where(users.c.email == email))
        ).scalar_one_or_none()
        await conn.execute(
            update(one_time_links)
            .where(
                one_time_links.c.purpose == INVITE,
                one_time_links.c.email == email,
                one_time_links.c.workspace_id == ws_id,
                one_time_links.c.used_at.is_(None),
            )
            .values(used_at=now)
        )
        await conn.execute(
            insert(one_time_links).values(
                token_hash=_digest(token),
                purpose=INVITE,
                email=email,
                user_id=user_id,
                workspace_id=ws_id,
                role=role,
                created_by=created_by,
                created_at=now,
                expires_at=now + expires_in,
            )
        )
    return token


async def list_invites(
    db: Database, workspace: str, *, clock: Callable[[], datetime] = _utcnow
) -> list[Invite]:
    """Invitations to ``workspace`` not yet accepted, voided or expired, newest first."""
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(one_time_links, workspaces.c.slug)
                .join(workspaces, workspaces.c.id == one_time_links.c.workspace_id)
                .where(
                    workspaces.c.slug == workspace,
                    one_time_links.c.purpose == INVITE,
                    one_time_links.c.used_at.is_(None),
                    one_time_links.c.expires_at > clock(),
                )
                .order_by(one_time_links.c.created_at.desc(), one_time_links.c.id.desc())
            )
        ).all()
    return [
        Invite(r.id, r.email, r.slug, r.role, r.created_by, r.created_at, r.expires_at)
        for r in rows
    ]


async def revoke_invite(
    db: Database, invite_id: int, *, clock: Callable[[], datetime] = _utcnow
) -> bool:
    """Void a pending invitation; False if it was not pending."""
    async with db.engine.begin() as conn:
        result = await conn.execute(
            update(one_time_links)
            .where(
                one_time_links.c.id == invite_id,
                one_time_links.c.purpose == INVITE,
                one_time_links.c.used_at.is_(None),
            )
            .values(used_at=clock())
        )
    return result.rowcount == 1


async def find_link(
    db: Database, token: str, purpose: str, *, clock: Callable[[], datetime] = _utcnow
) -> Link | None:
    """The link if it is usable now (right purpose, not used, not expired), else None."""
    if not token or len(token) > 200:
        return None
    async with db.engine.connect() as conn:
        row = await _usable(conn, _digest(token), purpose, clock())
    if row is None:
        return None
    return Link(row.id, row.purpose, row.email, row.slug, row.role, row.created_by, row.expires_at)


async def claim_link(
    conn: AsyncConnection, token: str, purpose: str, now: datetime, *, user_id: int | None = None
) -> Link | None:
    """Mark the link used inside the caller's transaction; None if it was not usable."""
    row = await _usable(conn, _digest(token), purpose, now)
    if row is None:
        return None
    values: dict[str, Any] = {"used_at": now}
    if user_id is not None:
        values["user_id"] = user_id
    result = await conn.execute(
        update(one_time_links)
        .where(one_time_links.c.id == row.id, one_time_links.c.used_at.is_(None))
        .values(**values)
    )
    if result.rowcount != 1:
        return None
    return Link(row.id, row.purpose, row.email, row.slug, row.role, row.created_by, row.expires_at)


async def claim_creating_user(
    db: Database,
    token: str,
    purpose: str,
    *,
    email: str,
    display_name: str,
    password_hash: str | None,
    clock: Callable[[], datetime] = _utcnow,
) -> int | None:
    """Use a link and create its user in one transaction; the new user's id.

    A first-run link works only while no user exists; an invite only for its own email and
    only while no user has that email. None when the link is not usable (nothing written).
    """
    now = clock()
    try:
        async with db.engine.begin() as conn:
            if (
                purpose == FIRST_RUN
                and (await conn.execute(select(exists(users.select())))).scalar()
            ):
                return None
            taken = (
                await conn.execute(select(users.c.id).where(users.c.email == email))
            ).scalar_one_or_none()
            if taken is not None:
                return None
            link = await claim_link(conn, token, purpose, now)
            if link is None:
                return None
            if purpose == INVITE and link.email != email:
                raise _Unusable  # roll the claim back: the link stays usable by its owner
            result = await conn.execute(
                insert(users).values(
                    email=email,
                    display_name=display_name,
                    password_hash=password_hash,
                    is_active=True,
                    created_at=now,
                )
            )
            user_id = int(result.inserted_primary_key[0])
            await conn.execute(
                update(one_time_links).where(one_time_links.c.id == link.id).values(user_id=user_id)
            )
    except (_Unusable, IntegrityError):  # IntegrityError: the email was taken meanwhile
        return None
    return user_id


async def _usable(conn: AsyncConnection, digest: str, purpose: str, now: datetime) -> Any:
    return (
        await conn.execute(
            select(one_time_links, workspaces.c.slug)
            .outerjoin(workspaces, workspaces.c.id == one_time_links.c.workspace_id)
            .where(
                one_time_links.c.token_hash == digest,
                one_time_links.c.purpose == purpose,
                one_time_links.c.used_at.is_(None),
                one_time_links.c.expires_at > now,
            )
        )
    ).one_or_none()
