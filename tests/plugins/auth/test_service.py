"""The auth services on a real database: validation that names the field, uniqueness, keys
stored only as hashes, rotation and revocation, and all-or-nothing writes."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.db import Database
from plugins.auth import service as service_module
from plugins.auth.credentials import verify_password
from plugins.auth.errors import AlreadyExists, AuthError, InvalidValue, NotFound
from plugins.auth.keys import KeyCache
from plugins.auth.models import api_keys, memberships, users, workspaces
from plugins.auth.service import AuthService
from tests.plugins.auth.helpers import Clock, member


async def rows(db: Database, table: Any) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(select(table))).all())


async def count(db: Database, table: Any) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


# -- users ------------------------------------------------------------------------------------


async def test_email_is_lower_cased_and_unique(service: AuthService) -> None:
    user = await service.create_user("  Alice@Example.COM ", display_name="Alice")
    assert (user.email, user.display_name, user.is_active, user.has_password) == (
        "alice@example.com",
        "Alice",
        True,
        False,
    )
    with pytest.raises(AlreadyExists, match=r"^email: a user with email 'alice@example.com'"):
        await service.create_user("ALICE@example.com")
    assert [u.email for u in await service.list_users()] == ["alice@example.com"]


async def test_bad_email_names_the_field(service: AuthService) -> None:
    for email in ("bob", "bob@", "@example.com", "b ob@example.com", ""):
        with pytest.raises(InvalidValue, match=r"^email: .* is not an email address") as caught:
            await service.create_user(email)
        assert caught.value.field == "email" and isinstance(caught.value, ValueError)


async def test_password_is_stored_as_argon2id(service: AuthService, database: Database) -> None:
    user = await service.create_user("carol@example.com", password="correct horse battery")
    [row] = await rows(database, users)
    assert user.has_password and row.password_hash.startswith("$argon2id$")
    assert "correct horse" not in row.password_hash
    assert verify_password(row.password_hash, "correct horse battery")
    assert not verify_password(row.password_hash, "wrong horse battery")
    with pytest.raises(InvalidValue, match="^password: must be 8 to 1024 characters"):
        await service.create_user("dave@example.com", password="short")
    assert await count(database, users) == 1


# -- workspaces and members --------------------------------------------------------------------


async def test_workspace_slug_rules(service: AuthService) -> None:
    workspace = await service.create_workspace("team-a", name="Team A")
    assert (workspace.slug, workspace.name) == ("team-a", "Team A")
    assert (await service.create_workspace("ops")).name == "ops"  # the name defaults to the slug
    for bad in ("a", "-team", "team_a", "x" * 41, "tëam"):
        with pytest.raises(InvalidValue, match=r"^slug: .* is not a workspace slug"):
            await service.create_workspace(bad)
    with pytest.raises(InvalidValue, match=r"did you mean 'team-b'\?"):
        await service.create_workspace("Team-B")
    with pytest.raises(AlreadyExists, match="^slug: a workspace with slug 'team-a' already exists"):
        await service.create_workspace("team-a")
    assert [w.slug for w in await service.list_workspaces()] == ["ops", "team-a"]


async def test_add_member_checks_role_user_and_workspace(
    service: AuthService, database: Database
) -> None:
    await service.create_user("alice@example.com")
    await service.create_workspace("team-a")
    with pytest.raises(InvalidValue, match=r"^role: 'owner' is not a role; choose one of admin"):
        await service.add_member("alice@example.com", "team-a", "owner")
    with pytest.raises(NotFound, match=r"^user: no user with email 'bob@example.com'"):
        await service.add_member("bob@example.com", "team-a", "viewer")
    with pytest.raises(NotFound, match=r"^workspace: no workspace 'team-z'"):
        await service.add_member("alice@example.com", "team-z", "viewer")
    assert await count(database, memberships) == 0

    added = await service.add_member("Alice@example.com", "team-a", "billing_admin")
    assert (added.user, added.workspace, added.role) == (
        "alice@example.com",
        "team-a",
        "billing_admin",
    )
    with pytest.raises(AlreadyExists, match=r"^user: alice@example.com is already a member"):
        await service.add_member("alice@example.com", "team-a", "viewer")
    assert [(m.user, m.role) for m in await service.list_members("team-a")] == [
        ("alice@example.com", "billing_admin")
    ]


# -- keys -------------------------------------------------------------------------------------


async def test_key_is_shown_once_and_stored_as_its_sha256(
    service: AuthService, database: Database
) -> None:
    await member(service)
    plaintext, key = await service.create_key(
        "alice@example.com", "team-a", "laptop", ["/v1/messages", "model:claude-*"]
    )
    assert plaintext.startswith(key.prefix + "_") and len(key.prefix) == 11
    assert key.prefix.startswith("sy_") and len(plaintext) >= 11 + 1 + 43  # 32 random bytes
    assert (key.user, key.workspace, key.name) == ("alice@example.com", "team-a", "laptop")
    assert key.scopes == ("/v1/messages", "model:claude-*")
    assert (
        key.expires_at is None and key.revoked_at is None and key.status(key.created_at) == "active"
    )
    [row] = await rows(database, api_keys)
    assert row.secret_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in repr(tuple(row)) and plaintext not in repr(key.as_dict())
    second, _ = await service.create_key("alice@example.com", "team-a")
    assert second != plaintext


async def test_key_needs_membership_and_valid_input(
    service: AuthService, database: Database
) -> None:
    await service.create_user("bob@example.com")
    await service.create_workspace("team-a")
    with pytest.raises(InvalidValue, match=r"^user: bob@example.com is not a member of 'team-a'"):
        await service.create_key("bob@example.com", "team-a")
    await service.add_member("bob@example.com", "team-a", "user")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"scopes": "/v1/*"}, "scopes: must be a list"),
        ({"scopes": ["/v1/*", "two words"]}, r"scopes\[1\]: 'two words' is neither"),
        ({"scopes": [""]}, r"scopes\[0\]: is empty"),
        ({"expires_in": timedelta(days=-1)}, "expires_in: must be a positive duration"),
        ({"name": "x" * 201}, "name: is 201 characters long"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InvalidValue, match="^" + message):
            await service.create_key("bob@example.com", "team-a", **kwargs)
    assert await count(database, api_keys) == 0


async def test_expiry_and_list_filters(service: AuthService, clock: Clock) -> None:
    await member(service, "alice@example.com", "team-a")
    await member(service, "bob@example.com", "team-b")
    _, alice = await service.create_key("alice@example.com", "team-a", expires_in=timedelta(days=1))
    _, bob = await service.create_key("bob@example.com", "team-b")
    assert alice.expires_at == alice.created_at + timedelta(days=1)
    assert [k.prefix for k in await service.list_keys()] == [alice.prefix, bob.prefix]
    assert [k.prefix for k in await service.list_keys(workspace="team-b")] == [bob.prefix]
    assert [k.prefix for k in await service.list_keys(user="ALICE@example.com")] == [alice.prefix]
    later = clock.datetime() + timedelta(days=2)
    assert [k.status(later) for k in await service.list_keys()] == ["expired", "active"]
    with pytest.raises(NotFound, match="^workspace: no workspace 'nope'"):
        await service.list_keys(workspace="nope")


async def test_revoke_is_immediate_and_idempotent(service: AuthService, clock: Clock) -> None:
    await member(service)
    _, key = await service.create_key("alice@example.com", "team-a")
    revoked = await service.revoke_key(key.prefix)
    assert revoked.revoked_at == clock.datetime() and revoked.status(clock.datetime()) == "revoked"
    clock.advance(60)
    again = await service.revoke_key(key.prefix)
    assert again.revoked_at == revoked.revoked_at  # the first revocation time stays
    with pytest.raises(NotFound, match=r"^prefix: no key with prefix 'sy_nothere'"):
        await service.revoke_key("sy_nothere")


async def test_rotation_copies_the_key_and_starts_a_grace_period(
    service: AuthService, clock: Clock
) -> None:
    await member(service)
    _, old = await service.create_key(
        "alice@example.com", "team-a", "ci", ["/v1/*"], timedelta(days=30)
    )
    clock.advance(10)
    plaintext, new = await service.rotate_key(old.prefix, grace_seconds=600)
    assert plaintext.startswith(new.prefix + "_") and new.prefix != old.prefix
    assert (new.user, new.workspace, new.name, new.scopes) == (
        old.user,
        old.workspace,
        "ci",
        ("/v1/*",),
    )
    assert new.expires_at == old.expires_at and new.rotated_from == old.prefix
    old_now = await service.get_key(old.prefix)
    assert old_now.grace_until == clock.datetime() + timedelta(seconds=600)
    assert old_now.status(clock.datetime()) == "grace"
    assert old_now.status(clock.datetime() + timedelta(seconds=600)) == "rotated"

    with pytest.raises(InvalidValue, match=r"^prefix: key .* was already rotated"):
        await service.rotate_key(old.prefix)
    with pytest.raises(InvalidValue, match=r"^grace_seconds: must be a whole number from 0"):
        await service.rotate_key(new.prefix, grace_seconds=-1)
    await service.revoke_key(new.prefix)
    with pytest.raises(InvalidValue, match=r"^prefix: key .* is revoked"):
        await service.rotate_key(new.prefix)


async def test_an_expired_key_cannot_be_rotated(service: AuthService, clock: Clock) -> None:
    await member(service)
    _, key = await service.create_key("alice@example.com", "team-a", expires_in=timedelta(hours=1))
    clock.advance(7200)
    with pytest.raises(InvalidValue, match=r"^prefix: key .* has expired"):
        await service.rotate_key(key.prefix)


async def test_a_failed_rotation_writes_nothing(
    service: AuthService, cache: KeyCache, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await member(service)
    plaintext, key = await service.create_key("alice@example.com", "team-a")

    async def broken_insert(*_: Any, **__: Any) -> tuple[str, int]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(service_module, "_insert_key", broken_insert)
    with pytest.raises(RuntimeError, match="disk full"):
        await service.rotate_key(key.prefix, grace_seconds=0)
    [row] = await rows(database, api_keys)
    assert row.grace_until is None  # the update before the failed insert was rolled back
    assert cache.verify(plaintext) is not None


async def test_errors_are_value_errors_naming_the_field(service: AuthService) -> None:
    with pytest.raises(ValueError) as caught:
        await service.add_member("x@example.com", "team-a", "root")
    assert isinstance(caught.value, AuthError) and caught.value.field == "role"
    assert str(caught.value).startswith("role: ")


async def test_tables_hold_what_the_records_say(service: AuthService, database: Database) -> None:
    await member(service, role="viewer")
    assert [r.slug for r in await rows(database, workspaces)] == ["team-a"]
    [membership] = await rows(database, memberships)
    assert membership.role == "viewer"
