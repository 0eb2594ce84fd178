"""Users, workspaces, memberships and API keys: the operations behind the CLI, API and UI.

Every method is one database transaction: input is checked first, then everything is
written or nothing is (an error rolls the transaction back). Bad input raises an
:class:`~plugins.auth.errors.AuthError` (a ValueError) whose message starts with the field.
Key changes reach this process's :class:`~plugins.auth.keys.KeyCache` right after the
commit, so a revocation is effective on the next request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database
from plugins.auth.credentials import hash_key, hash_password_async, new_key
from plugins.auth.errors import AlreadyExists, InvalidValue, NotFound
from plugins.auth.keys import CachedKey, KeyCache, load_entries
from plugins.auth.models import api_keys, memberships, users, workspaces
from plugins.auth.records import ApiKey, Membership, User, Workspace
from plugins.auth.validation import (
    check_expires_in,
    check_grace_seconds,
    check_password,
    check_role,
    check_scopes,
    check_slug,
    check_text,
    normalize_email,
)

__all__ = ["AuthService"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AuthService:
    """The auth plugin's operations on one database, keeping ``keys`` (if given) in step."""

    def __init__(
        self, db: Database, keys: KeyCache | None = None, *, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self.db = db
        self.keys = keys
        self.clock = clock

    # -- users ----------------------------------------------------------------------------

    async def create_user(
        self, email: str, *, display_name: str | None = None, password: str | None = None
    ) -> User:
        """A new active user; without a password they sign in another way (link, OIDC)."""
        email = normalize_email(email)
        display_name = check_text(display_name, "display_name")
        password_hash = None
        if password is not None:
            password_hash = await hash_password_async(check_password(password))
        values = {
            "email": email,
            "display_name": display_name,
            "password_hash": password_hash,
            "is_active": True,
            "created_at": self.clock(),
        }
        try:
            async with self.db.engine.begin() as conn:
                if await _scalar(conn, select(users.c.id).where(users.c.email == email)):
                    raise AlreadyExists("email", f"a user with email {email!r} already exists")
                await conn.execute(users.insert().values(**values))
                row = (await conn.execute(select(users).where(users.c.email == email))).one()
        except IntegrityError:  # another writer took the email between our check and insert
            raise AlreadyExists("email", f"a user with email {email!r} already exists") from None
        return _user(row)

    async def list_users(self) -> list[User]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(users).order_by(users.c.email))).all()
        return [_user(row) for row in rows]

    async def get_user(self, email: str) -> User:
        async with self.db.engine.connect() as conn:
            return _user(await _user_row(conn, email))

    # -- workspaces and memberships -------------------------------------------------------

    async def create_workspace(self, slug: str, *, name: str | None = None) -> Workspace:
        """A new workspace (a Casbin domain); ``name`` defaults to the slug."""
        slug = check_slug(slug)
        name = check_text(name, "name") or slug
        try:
            async with self.db.engine.begin() as conn:
                if await _scalar(conn, select(workspaces.c.id).where(workspaces.c.slug == slug)):
                    raise AlreadyExists("slug", f"a workspace with slug {slug!r} already exists")
                await conn.execute(
                    workspaces.insert().values(slug=slug, name=name, created_at=self.clock())
                )
                row = (
                    await conn.execute(select(workspaces).where(workspaces.c.slug == slug))
                ).one()
        except IntegrityError:
            raise AlreadyExists("slug", f"a workspace with slug {slug!r} already exists") from None
        return _workspace(row)

    async def list_workspaces(self) -> list[Workspace]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(workspaces).order_by(workspaces.c.slug))).all()
        return [_workspace(row) for row in rows]

    async def add_member(self, user: str, workspace: str, role: str) -> Membership:
        """Give ``user`` (email) ``role`` in ``workspace`` (slug); one role per workspace."""
        role = check_role(role)
        now = self.clock()
        try:
            async with self.db.engine.begin() as conn:
                user_row = await _user_row(conn, user)
                ws_row = await _workspace_row(conn, workspace)
                held = await _scalar(
                    conn,
                    select(memberships.c.role).where(
                        memberships.c.user_id == user_row.id,
                        memberships.c.workspace_id == ws_row.id,
                    ),
                )
                if held is not None:
                    raise AlreadyExists(
                        "user",
                        f"{user_row.email} is already a member of {ws_row.slug!r} (role {held})",
                    )
                await conn.execute(
                    memberships.insert().values(
                        user_id=user_row.id, workspace_id=ws_row.id, role=role, created_at=now
                    )
                )
        except IntegrityError:
            raise AlreadyExists("user", f"{user} is already a member of {workspace!r}") from None
        return Membership(user=user_row.email, workspace=ws_row.slug, role=role, created_at=now)

    async def list_members(self, workspace: str) -> list[Membership]:
        async with self.db.engine.connect() as conn:
            ws_row = await _workspace_row(conn, workspace)
            rows = (
                await conn.execute(
                    select(users.c.email, memberships.c.role, memberships.c.created_at)
                    .join(users, users.c.id == memberships.c.user_id)
                    .where(memberships.c.workspace_id == ws_row.id)
                    .order_by(users.c.email)
                )
            ).all()
        return [Membership(r.email, ws_row.slug, r.role, r.created_at) for r in rows]

    # -- API keys -------------------------------------------------------------------------

    async def create_key(
        self,
        user: str,
        workspace: str,
        name: str | None = None,
        scopes: Iterable[str] | None = None,
        expires_in: timedelta | None = None,
    ) -> tuple[str, ApiKey]:
        """A new key for a member of ``workspace``: (the key, shown this once; its record)."""
        name = check_text(name, "name")
        clean_scopes = check_scopes(scopes)
        expires_in = check_expires_in(expires_in)
        now = self.clock()
        async with self.db.engine.begin() as conn:
            user_row = await _user_row(conn, user)
            ws_row = await _workspace_row(conn, workspace)
            await _require_member(conn, user_row, ws_row)
            plaintext, key_id = await _insert_key(
                conn,
                user_id=user_row.id,
                workspace_id=ws_row.id,
                name=name,
                scopes=clean_scopes,
                created_at=now,
                expires_at=now + expires_in if expires_in else None,
            )
            records, entries = await self._after_write(conn, [key_id], now)
        self._update_cache(entries, gone=())
        return plaintext, records[0]

    async def list_keys(
        self, *, user: str | None = None, workspace: str | None = None
    ) -> list[ApiKey]:
        """Every key (revoked and expired ones too), oldest first, optionally filtered."""
        async with self.db.engine.connect() as conn:
            conditions = []
            if user is not None:
                conditions.append(api_keys.c.user_id == (await _user_row(conn, user)).id)
            if workspace is not None:
                conditions.append(
                    api_keys.c.workspace_id == (await _workspace_row(conn, workspace)).id
                )
            return await _key_records(conn, and_(*conditions) if conditions else None)

    async def get_key(self, prefix: str) -> ApiKey:
        async with self.db.engine.connect() as conn:
            return (await _key_records(conn, api_keys.c.id == (await _key_row(conn, prefix)).id))[0]

    async def revoke_key(self, prefix: str) -> ApiKey:
        """Stop a key at once; revoking a revoked key changes nothing (its first time stays)."""
        now = self.clock()
        async with self.db.engine.begin() as conn:
            row = await _key_row(conn, prefix)
            if row.revoked_at is None:
                await conn.execute(
                    api_keys.update()
                    .where(api_keys.c.id == row.id, api_keys.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
            [record] = await _key_records(conn, api_keys.c.id == row.id)
        self._update_cache((), gone=[row.prefix])
        return record

    async def rotate_key(self, prefix: str, *, grace_seconds: int = 3600) -> tuple[str, ApiKey]:
        """A replacement key with the same owner, workspace, name, scopes and expiry.

        The old key keeps working for ``grace_seconds`` (0: stops at once), so clients can
        switch without an outage. Only an active key can be rotated, and only once.
        """
        grace_seconds = check_grace_seconds(grace_seconds)
        now = self.clock()
        async with self.db.engine.begin() as conn:
            old = await _key_row(conn, prefix)
            _require_rotatable(old, now)
            # Guarded update: of two rotations racing, only one finds the key unrotated.
            claimed = await conn.execute(
                api_keys.update()
                .where(
                    api_keys.c.id == old.id,
                    api_keys.c.grace_until.is_(None),
                    api_keys.c.revoked_at.is_(None),
                )
                .values(grace_until=now + timedelta(seconds=grace_seconds))
            )
            if claimed.rowcount != 1:
                raise InvalidValue("prefix", f"key {old.prefix} was rotated or revoked meanwhile")
            plaintext, key_id = await _insert_key(
                conn,
                user_id=old.user_id,
                workspace_id=old.workspace_id,
                name=old.name,
                scopes=list(old.scopes or ()),
                created_at=now,
                expires_at=old.expires_at,
                rotated_from=old.id,
            )
            records, entries = await self._after_write(conn, [key_id, old.id], now)
        still_valid = {e.prefix for e in entries}
        self._update_cache(entries, gone=[] if old.prefix in still_valid else [old.prefix])
        return plaintext, records[0]

    # -- cache --------------------------------------------------------------------------

    async def _after_write(
        self, conn: AsyncConnection, key_ids: Sequence[int], now: datetime
    ) -> tuple[list[ApiKey], list[CachedKey]]:
        """Records of the keys just written (in ``key_ids`` order) and their cache entries."""
        records = {r.id: r for r in await _key_records(conn, api_keys.c.id.in_(key_ids))}
        entries = await load_entries(conn, now, api_keys.c.id.in_(key_ids))
        return [records[i] for i in key_ids], entries

    def _update_cache(self, entries: Iterable[CachedKey], gone: Iterable[str]) -> None:
        if self.keys is None:
            return
        for prefix in gone:
            self.keys.discard(prefix)
        self.keys.put(entries)


# -- queries ----------------------------------------------------------------------------


async def _scalar(conn: AsyncConnection, query: Any) -> Any:
    return (await conn.execute(query)).scalar_one_or_none()


async def _user_row(conn: AsyncConnection, email: str) -> Row[Any]:
    normal = normalize_email(email)
    row = (await conn.execute(select(users).where(users.c.email == normal))).one_or_none()
    if row is None:
        raise NotFound(
            "user", f"no user with email {normal!r}; create one with `switchyard users create`"
        )
    return row


async def _workspace_row(conn: AsyncConnection, slug: str) -> Row[Any]:
    row = (await conn.execute(select(workspaces).where(workspaces.c.slug == slug))).one_or_none()
    if row is None:
        raise NotFound(
            "workspace", f"no workspace {slug!r}; create it with `switchyard workspaces create`"
        )
    return row


async def _key_row(conn: AsyncConnection, prefix: str) -> Row[Any]:
    row = (await conn.execute(select(api_keys).where(api_keys.c.prefix == prefix))).one_or_none()
    if row is None:
        raise NotFound("prefix", f"no key with prefix {prefix!r} (see `switchyard keys list`)")
    return row


async def _require_member(conn: AsyncConnection, user_row: Row[Any], ws_row: Row[Any]) -> None:
    if not user_row.is_active:
        raise InvalidValue("user", f"{user_row.email} is deactivated")
    role = await _scalar(
        conn,
        select(memberships.c.role).where(
            memberships.c.user_id == user_row.id, memberships.c.workspace_id == ws_row.id
        ),
    )
    if role is None:
        raise InvalidValue(
            "user",
            f"{user_row.email} is not a member of {ws_row.slug!r}; add them first "
            f"(`switchyard workspaces add-member {ws_row.slug} {user_row.email} user`)",
        )


def _require_rotatable(row: Row[Any], now: datetime) -> None:
    if row.revoked_at is not None:
        raise InvalidValue("prefix", f"key {row.prefix} is revoked; create a new key instead")
    if row.expires_at is not None and row.expires_at <= now:
        raise InvalidValue("prefix", f"key {row.prefix} has expired; create a new key instead")
    if row.grace_until is not None:
        raise InvalidValue(
            "prefix", f"key {row.prefix} was already rotated; rotate its replacement instead"
        )


async def _insert_key(conn: AsyncConnection, **values: Any) -> tuple[str, int]:
    """Insert a fresh key; a prefix already taken (about 1 in 10^12) is drawn again."""
    for _ in range(5):
        plaintext, prefix = new_key()
        taken = await _scalar(conn, select(func.count()).where(api_keys.c.prefix == prefix))
        if not taken:
            result = await conn.execute(
                api_keys.insert().values(prefix=prefix, secret_hash=hash_key(plaintext), **values)
            )
            return plaintext, int(result.inserted_primary_key[0])  # type: ignore[index]
    raise RuntimeError("could not draw an unused key prefix in 5 attempts")


async def _key_records(conn: AsyncConnection, where: Any = None) -> list[ApiKey]:
    previous = api_keys.alias("previous")
    query = (
        select(
            api_keys, users.c.email, workspaces.c.slug, previous.c.prefix.label("previous_prefix")
        )
        .join(users, users.c.id == api_keys.c.user_id)
        .join(workspaces, workspaces.c.id == api_keys.c.workspace_id)
        .outerjoin(previous, previous.c.id == api_keys.c.rotated_from)
        .order_by(api_keys.c.created_at, api_keys.c.id)
    )
    if where is not None:
        query = query.where(where)
    return [
        ApiKey(
            id=r.id,
            prefix=r.prefix,
            user=r.email,
            workspace=r.slug,
            name=r.name,
            scopes=tuple(r.scopes or ()),
            created_at=r.created_at,
            expires_at=r.expires_at,
            revoked_at=r.revoked_at,
            rotated_from=r.previous_prefix,
            grace_until=r.grace_until,
        )
        for r in (await conn.execute(query)).all()
    ]


def _user(row: Row[Any]) -> User:
    return User(
        id=row.id,
        email=row.email,
        display_name=row.display_name,
        is_active=bool(row.is_active),
        has_password=row.password_hash is not None,
        created_at=row.created_at,
    )


def _workspace(row: Row[Any]) -> Workspace:
    return Workspace(id=row.id, slug=row.slug, name=row.name, created_at=row.created_at)
