"""Users, workspaces, memberships and API keys: the operations behind the CLI, API and UI.

Every method is one database transaction: input is checked first, then everything is
written or nothing is (an error rolls the transaction back). Bad input raises an
:class:`~plugins.auth.errors.AuthError` (a ValueError) whose message starts with the field.
Key changes reach this process's :class:`~plugins.auth.keys.KeyCache` right after the
commit, so a revocation is effective on the next request, and are announced to the other
instances (``changes``, see :mod:`plugins.auth.revocation`) when Redis is configured.

Roles live only in the policy: a member's role is a Casbin ``g`` line written through the
permissions service (``permissions.set_roles``), and listing members reads roles back from
it. ``auth_memberships`` says who belongs to a workspace; its ``role`` column is kept as a
mirror of the role given here for old readers, and nothing decides on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Row, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database
from plugins.auth.credentials import hash_key, hash_password_async, new_key
from plugins.auth.errors import AlreadyExists, Conflict, InvalidValue, NotFound
from plugins.auth.keys import CachedKey, KeyCache, load_entries
from plugins.auth.models import ROLES, api_keys, memberships, users, workspaces
from plugins.auth.records import ApiKey, Membership, User, Workspace
from plugins.auth.scopes import validate_scopes
from plugins.auth.validation import (
    check_expires_in,
    check_grace_seconds,
    check_password,
    check_slug,
    check_text,
    normalize_email,
)

__all__ = ["AuthService", "KeyAnnouncer", "RoleStore"]

log = logging.getLogger("switchyard.auth")
_MAX_EXPIRY = timedelta(days=10 * 366)


class RoleStore(Protocol):
    """The part of the kernel's permissions service (``registry.permissions``) used here."""

    def roles_for(self, subject: str, workspace: str) -> list[str]: ...
    def subjects_with_role(self, role: str, workspace: str) -> list[str]: ...
    def roles(self) -> list[str]: ...
    async def set_roles(
        self, subject: str, workspace: str, roles: Sequence[str], *, actor: str
    ) -> Any: ...


class KeyAnnouncer(Protocol):
    """Tells other instances which keys changed (:class:`plugins.auth.revocation.KeyChanges`)."""

    async def publish(self, prefixes: Iterable[str] | None) -> None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AuthService:
    """The auth plugin's operations on one database, keeping ``keys`` (if given) in step."""

    def __init__(
        self,
        db: Database,
        keys: KeyCache | None = None,
        *,
        permissions: RoleStore | None = None,
        changes: KeyAnnouncer | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.db = db
        self.keys = keys
        self._permissions = permissions
        self.changes = changes
        self.clock = clock

    @property
    def permissions(self) -> RoleStore:
        if self._permissions is None:
            raise RuntimeError(
                "AuthService was built without a permissions service; roles live in the policy "
                "(pass permissions=registry.permissions)"
            )
        return self._permissions

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

    async def create_workspace(
        self, slug: str, *, name: str | None = None, owner: str | None = None, actor: str = "system"
    ) -> Workspace:
        """A new workspace (a Casbin domain); ``name`` defaults to the slug.

        ``owner`` (an email) becomes its first admin, so nobody creates a workspace they
        cannot manage; if that fails the workspace is removed again.
        """
        slug = check_slug(slug)
        name = check_text(name, "name") or slug
        owner_row = None
        if owner is not None:
            async with self.db.engine.connect() as conn:
                owner_row = await _user_row(conn, owner)
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
        if owner_row is not None:
            try:
                await self.add_member(owner_row.email, slug, "admin", actor=actor)
            except BaseException:
                async with self.db.engine.begin() as conn:
                    await conn.execute(workspaces.delete().where(workspaces.c.id == row.id))
                raise
        return _workspace(row)

    async def list_workspaces(self) -> list[Workspace]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(workspaces).order_by(workspaces.c.slug))).all()
        return [_workspace(row) for row in rows]

    async def get_workspace(self, slug: str) -> Workspace:
        async with self.db.engine.connect() as conn:
            return _workspace(await _workspace_row(conn, slug))

    async def workspaces_of(self, user: str) -> list[tuple[Workspace, tuple[str, ...]]]:
        """The workspaces ``user`` belongs to, each with the roles the policy gives them."""
        async with self.db.engine.connect() as conn:
            user_row = await _user_row(conn, user)
            rows = (
                await conn.execute(
                    select(workspaces)
                    .join(memberships, memberships.c.workspace_id == workspaces.c.id)
                    .where(memberships.c.user_id == user_row.id)
                    .order_by(workspaces.c.slug)
                )
            ).all()
        return [(_workspace(r), self._roles(user_row.email, r.slug)) for r in rows]

    # -- members: the row says who belongs, the policy says with which role ------------------

    def known_roles(self) -> tuple[str, ...]:
        """The built-in roles plus every role the live policy grants something to."""
        custom = set(self.permissions.roles()) - set(ROLES)
        return (*ROLES, *sorted(custom))

    def check_role(self, role: object) -> str:
        known = self.known_roles()
        if not isinstance(role, str) or role not in known:
            raise InvalidValue("role", f"{role!r} is not a role; choose one of {', '.join(known)}")
        return role

    def _roles(self, email: str, slug: str) -> tuple[str, ...]:
        return tuple(self.permissions.roles_for(email, slug))

    async def add_member(
        self, user: str, workspace: str, role: str, *, actor: str = "system"
    ) -> Membership:
        """Make ``user`` (email) a member of ``workspace`` (slug) with ``role`` in the policy."""
        role = self.check_role(role)
        now = self.clock()
        try:
            async with self.db.engine.begin() as conn:
                user_row = await _user_row(conn, user)
                ws_row = await _workspace_row(conn, workspace)
                if await _membership(conn, user_row.id, ws_row.id) is not None:
                    held = ", ".join(self._roles(user_row.email, ws_row.slug)) or "no role"
                    raise AlreadyExists(
                        "user",
                        f"{user_row.email} is already a member of {ws_row.slug!r} ({held}); "
                        "change their role instead",
                    )
                await conn.execute(
                    memberships.insert().values(
                        # mirror only: roles are decided by the policy's g lines
                        user_id=user_row.id,
                        workspace_id=ws_row.id,
                        role=role,
                        created_at=now,
                    )
                )
        except IntegrityError:
            raise AlreadyExists("user", f"{user} is already a member of {workspace!r}") from None
        # Two stores, two transactions (on SQLite a nested writer would wait for ours): the
        # row is committed first and taken back if the policy refuses the role.
        try:
            await self._set_roles(user_row.email, ws_row.slug, [role], actor=actor)
        except BaseException:
            async with self.db.engine.begin() as conn:
                await conn.execute(
                    memberships.delete().where(
                        memberships.c.user_id == user_row.id,
                        memberships.c.workspace_id == ws_row.id,
                    )
                )
            raise
        return Membership(user_row.email, ws_row.slug, role, now, (role,))

    async def get_member(self, user: str, workspace: str) -> Membership:
        async with self.db.engine.connect() as conn:
            user_row = await _user_row(conn, user)
            ws_row = await _workspace_row(conn, workspace)
            row = await _membership(conn, user_row.id, ws_row.id)
        if row is None:
            raise NotFound("user", f"{user_row.email} is not a member of {ws_row.slug!r}")
        roles = self._roles(user_row.email, ws_row.slug)
        return Membership(
            user_row.email, ws_row.slug, roles[0] if roles else "", row.created_at, roles
        )

    async def list_members(self, workspace: str) -> list[Membership]:
        async with self.db.engine.connect() as conn:
            ws_row = await _workspace_row(conn, workspace)
            rows = (
                await conn.execute(
                    select(users.c.email, memberships.c.created_at)
                    .join(users, users.c.id == memberships.c.user_id)
                    .where(memberships.c.workspace_id == ws_row.id)
                    .order_by(users.c.email)
                )
            ).all()
        members = []
        for r in rows:
            roles = self._roles(r.email, ws_row.slug)
            members.append(
                Membership(r.email, ws_row.slug, roles[0] if roles else "", r.created_at, roles)
            )
        return members

    async def set_member_role(
        self, user: str, workspace: str, role: str, *, actor: str = "system"
    ) -> Membership:
        """Give a member ``role`` instead of what they held (one role, as forms offer)."""
        role = self.check_role(role)
        current = await self.get_member(user, workspace)
        if role != "admin":
            self._keep_an_admin(current, "change the role of")
        await self._set_roles(current.user, current.workspace, [role], actor=actor)
        async with self.db.engine.begin() as conn:
            ids = await _member_ids(conn, current.user, current.workspace)
            await conn.execute(
                memberships.update()
                .where(memberships.c.user_id == ids[0], memberships.c.workspace_id == ids[1])
                .values(role=role)  # mirror only
            )
        return Membership(current.user, current.workspace, role, current.created_at, (role,))

    async def remove_member(self, user: str, workspace: str, *, actor: str = "system") -> list[str]:
        """Take ``user`` out of ``workspace``: their roles there go, and their keys there are
        revoked (so adding them back later does not bring old keys back). Returns the
        prefixes of the keys revoked."""
        current = await self.get_member(user, workspace)
        self._keep_an_admin(current, "remove")
        await self._set_roles(current.user, current.workspace, [], actor=actor)
        now = self.clock()
        async with self.db.engine.begin() as conn:
            user_id, ws_id = await _member_ids(conn, current.user, current.workspace)
            prefixes = list(
                (
                    await conn.execute(
                        select(api_keys.c.prefix).where(
                            api_keys.c.user_id == user_id,
                            api_keys.c.workspace_id == ws_id,
                            api_keys.c.revoked_at.is_(None),
                        )
                    )
                ).scalars()
            )
            await conn.execute(
                api_keys.update()
                .where(
                    api_keys.c.user_id == user_id,
                    api_keys.c.workspace_id == ws_id,
                    api_keys.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
            await conn.execute(
                memberships.delete().where(
                    memberships.c.user_id == user_id, memberships.c.workspace_id == ws_id
                )
            )
        await self._keys_changed((), gone=prefixes)
        return prefixes

    def _keep_an_admin(self, member: Membership, verb: str) -> None:
        """Refuse to leave a workspace without an admin: nobody could manage it any more."""
        if "admin" not in member.roles:
            return
        admins = set(self.permissions.subjects_with_role("admin", member.workspace))
        if admins <= {member.user}:
            raise Conflict(
                "user",
                f"{member.user} is the last admin of {member.workspace!r}; make someone else "
                f"admin before you {verb} them",
            )

    async def _set_roles(self, email: str, slug: str, roles: list[str], *, actor: str) -> None:
        from core.permissions import PolicyError

        try:
            await self.permissions.set_roles(email, slug, roles, actor=actor)
        except PolicyError as exc:
            field = "role" if exc.field in ("role", "roles") else exc.field
            raise InvalidValue(field, exc.message) from exc

    # -- API keys -------------------------------------------------------------------------

    async def create_key(
        self,
        user: str,
        workspace: str,
        name: str | None = None,
        scopes: Iterable[str] | None = None,
        expires_in: timedelta | None = None,
        *,
        expires_at: datetime | None = None,
    ) -> tuple[str, ApiKey]:
        """A new key for a member of ``workspace``: (the key, shown this once; its record).

        It expires after ``expires_in`` or at ``expires_at`` (not both), or never.
        """
        name = check_text(name, "name")
        clean_scopes = list(validate_scopes(scopes))
        expires_in = check_expires_in(expires_in)
        now = self.clock()
        expiry = _expiry(now, expires_in, expires_at)
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
                expires_at=expiry,
            )
            records, entries = await self._after_write(conn, [key_id], now)
        await self._keys_changed(entries, gone=())
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
        await self._keys_changed((), gone=[row.prefix])
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
                raise Conflict("prefix", f"key {old.prefix} was rotated or revoked meanwhile")
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
        await self._keys_changed(entries, gone=[] if old.prefix in still_valid else [old.prefix])
        return plaintext, records[0]

    # -- cache --------------------------------------------------------------------------

    async def _after_write(
        self, conn: AsyncConnection, key_ids: Sequence[int], now: datetime
    ) -> tuple[list[ApiKey], list[CachedKey]]:
        """Records of the keys just written (in ``key_ids`` order) and their cache entries."""
        records = {r.id: r for r in await _key_records(conn, api_keys.c.id.in_(key_ids))}
        entries = await load_entries(conn, now, api_keys.c.id.in_(key_ids))
        return [records[i] for i in key_ids], entries

    async def _keys_changed(self, entries: Sequence[CachedKey], gone: Sequence[str]) -> None:
        """After a commit: update this process's cache, then tell the other instances."""
        if self.keys is not None:
            for prefix in gone:
                self.keys.discard(prefix)
            self.keys.put(entries)
        changed = [*gone, *(e.prefix for e in entries)]
        if self.changes is not None and changed:
            await self.changes.publish(changed)


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


def _expiry(now: datetime, expires_in: timedelta | None, at: datetime | None) -> datetime | None:
    if at is None:
        return now + expires_in if expires_in else None
    if expires_in is not None:
        raise InvalidValue("expires_at", "give an expiry time or a duration, not both")
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise InvalidValue("expires_at", f"must be a date and time with a time zone, got {at!r}")
    if at <= now:
        raise InvalidValue("expires_at", f"{at.isoformat()} is in the past")
    if at - now > _MAX_EXPIRY:
        raise InvalidValue(
            "expires_at", "must be at most 10 years ahead; leave it out for no expiry"
        )
    return at.astimezone(UTC)


async def _membership(conn: AsyncConnection, user_id: int, workspace_id: int) -> Row[Any] | None:
    return (
        await conn.execute(
            select(memberships).where(
                memberships.c.user_id == user_id, memberships.c.workspace_id == workspace_id
            )
        )
    ).one_or_none()


async def _member_ids(conn: AsyncConnection, email: str, slug: str) -> tuple[int, int]:
    user_row = await _user_row(conn, email)
    ws_row = await _workspace_row(conn, slug)
    if await _membership(conn, user_row.id, ws_row.id) is None:
        raise NotFound("user", f"{user_row.email} is not a member of {ws_row.slug!r}")
    return user_row.id, ws_row.id


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
        raise Conflict("prefix", f"key {row.prefix} is revoked; create a new key instead")
    if row.expires_at is not None and row.expires_at <= now:
        raise Conflict("prefix", f"key {row.prefix} has expired; create a new key instead")
    if row.grace_until is not None:
        raise Conflict(
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
