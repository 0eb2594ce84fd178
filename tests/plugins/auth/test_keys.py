"""The in-memory verifier: what it accepts and refuses, and how it stays in step with the
database without a round trip per request."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, update

from core.db import Database
from plugins.auth import keys as keys_module
from plugins.auth.keys import KeyCache, Principal
from plugins.auth.models import memberships, users
from plugins.auth.service import AuthService
from tests.plugins.auth.helpers import Clock, member


async def test_a_valid_key_gives_its_principal(service: AuthService, cache: KeyCache) -> None:
    await member(service)
    plaintext, key = await service.create_key("alice@example.com", "team-a", scopes=["/v1/*"])
    assert cache.verify(plaintext) == Principal(
        key_id=key.prefix, user="alice@example.com", workspace="team-a", scopes=("/v1/*",)
    )


async def test_wrong_keys_are_refused(service: AuthService, cache: KeyCache) -> None:
    await member(service)
    plaintext, key = await service.create_key("alice@example.com", "team-a")
    forged = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    for wrong in (forged, key.prefix, key.prefix + "_", "", "sk-ant-something", plaintext + "x"):
        assert cache.verify(wrong) is None, wrong


async def test_revocation_takes_effect_at_once(service: AuthService, cache: KeyCache) -> None:
    await member(service)
    plaintext, key = await service.create_key("alice@example.com", "team-a")
    assert cache.verify(plaintext) is not None
    await service.revoke_key(key.prefix)
    assert cache.verify(plaintext) is None  # no refresh needed in this process
    await cache.refresh()
    assert cache.verify(plaintext) is None


async def test_an_expired_key_is_refused(
    service: AuthService, cache: KeyCache, clock: Clock
) -> None:
    await member(service)
    plaintext, _ = await service.create_key(
        "alice@example.com", "team-a", expires_in=timedelta(hours=1)
    )
    clock.advance(3599)
    assert cache.verify(plaintext) is not None
    clock.advance(1)
    assert cache.verify(plaintext) is None
    await cache.refresh()  # and a reload does not bring it back
    assert cache.verify(plaintext) is None and len(cache) == 0


async def test_rotated_key_works_during_grace_only(
    service: AuthService, cache: KeyCache, clock: Clock
) -> None:
    await member(service)
    old_plain, old = await service.create_key("alice@example.com", "team-a")
    new_plain, new = await service.rotate_key(old.prefix, grace_seconds=300)
    old_principal, new_principal = cache.verify(old_plain), cache.verify(new_plain)
    assert old_principal is not None and new_principal is not None
    assert (old_principal.key_id, new_principal.key_id) == (old.prefix, new.prefix)
    assert old_principal.user == new_principal.user == "alice@example.com"
    clock.advance(299)
    await cache.refresh()
    assert cache.verify(old_plain) is not None
    clock.advance(1)
    assert cache.verify(old_plain) is None
    assert cache.verify(new_plain) is not None
    await cache.refresh()
    assert cache.verify(old_plain) is None and new.prefix in cache and old.prefix not in cache


async def test_rotation_without_grace_stops_the_old_key_at_once(
    service: AuthService, cache: KeyCache
) -> None:
    await member(service)
    old_plain, old = await service.create_key("alice@example.com", "team-a")
    new_plain, _ = await service.rotate_key(old.prefix, grace_seconds=0)
    assert cache.verify(old_plain) is None and cache.verify(new_plain) is not None


async def test_refresh_brings_changes_made_elsewhere(
    service: AuthService, database: Database, clock: Clock
) -> None:
    """Another instance (or the CLI) writes through its own service; this cache sees it after
    its scheduled refresh."""
    here = KeyCache(database, clock=clock)
    await here.refresh()
    await member(service)
    elsewhere = AuthService(database, None, clock=clock.datetime)
    plaintext, key = await elsewhere.create_key("alice@example.com", "team-a")
    assert here.verify(plaintext) is None
    assert await here.refresh() == 1
    assert here.verify(plaintext) is not None
    await elsewhere.revoke_key(key.prefix)
    assert here.verify(plaintext) is not None  # until the next refresh
    await here.refresh()
    assert here.verify(plaintext) is None


async def test_keys_of_deactivated_users_and_former_members_are_dropped(
    service: AuthService, cache: KeyCache, database: Database
) -> None:
    await member(service, "alice@example.com")
    await member(service, "bob@example.com")
    alice_key, _ = await service.create_key("alice@example.com", "team-a")
    bob_key, _ = await service.create_key("bob@example.com", "team-a")
    async with database.engine.begin() as conn:
        await conn.execute(
            update(users).where(users.c.email == "alice@example.com").values(is_active=False)
        )
        bob_id = (await service.get_user("bob@example.com")).id
        await conn.execute(delete(memberships).where(memberships.c.user_id == bob_id))
    await cache.refresh()
    assert cache.verify(alice_key) is None and cache.verify(bob_key) is None


async def test_refresh_never_undoes_a_revocation_made_while_it_loads(
    service: AuthService, cache: KeyCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    await member(service)
    plaintext, key = await service.create_key("alice@example.com", "team-a")
    real_load = keys_module.load_entries
    calls = 0

    async def load_then_revoke(*args: Any, **kwargs: Any) -> Any:
        """The snapshot is read; then, before it is swapped in, the key is revoked here."""
        nonlocal calls
        calls += 1
        entries = await real_load(*args, **kwargs)
        if calls == 1:
            await service.revoke_key(key.prefix)
        return entries

    monkeypatch.setattr(keys_module, "load_entries", load_then_revoke)
    await cache.refresh()
    assert calls == 2  # the stale snapshot was thrown away and the load repeated
    assert cache.verify(plaintext) is None


async def test_verify_never_touches_the_database(service: AuthService, cache: KeyCache) -> None:
    await member(service)
    plaintext, _ = await service.create_key("alice@example.com", "team-a")

    class NoDatabase:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"verify() used the database ({name})")

    cache.db = NoDatabase()  # type: ignore[assignment]
    assert cache.verify(plaintext) is not None


async def test_keys_are_required_once_one_ever_existed(
    service: AuthService, database: Database, clock: Clock
) -> None:
    fresh = KeyCache(database, clock=clock)
    assert fresh.required  # nothing loaded yet: fail closed
    await fresh.refresh()
    assert not fresh.required  # the embedded default: no key exists, none is asked for
    assert KeyCache(database, always_required=True).required
    await member(service)
    _, key = await service.create_key("alice@example.com", "team-a")
    assert service.keys is not None and service.keys.required
    await service.revoke_key(key.prefix)
    later = KeyCache(database, clock=clock)
    await later.refresh()
    assert later.required  # revoking the last key does not open the gateway again
