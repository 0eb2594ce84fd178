"""The permissions service on real databases (SQLite, and PostgreSQL when configured):
seeding, validated writes that leave nothing behind when refused, history and revert,
decisions and their explanations, and two instances sharing one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from core import migrate
from core.db import Database, kernel_policy_changes, kernel_policy_rules
from core.permissions import Permissions, PolicyError, Rule
from core.policy_rules import DEFAULT_POLICY, parse_policy_csv
from tests.core.db_fixtures import pg

pg_url = pg.pg_url
db_url = pg.db_url

DEFAULT_RULES = parse_policy_csv(DEFAULT_POLICY.read_text())


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    migrate.upgrade(db_url, [migrate.kernel_source()])
    db = Database(db_url)
    yield db
    await db.dispose()


@pytest.fixture
async def perms(database: Database) -> Permissions:
    return await Permissions.open(database)


async def stored(db: Database) -> tuple[set[Rule], int]:
    """The rules in the table and the number of recorded changes, read straight from SQL."""
    async with db.engine.connect() as connection:
        rows = (await connection.execute(select(kernel_policy_rules))).all()
        changes = (await connection.execute(select(func.count()).select_from(kernel_policy_changes))).scalar_one()
    rules = set()
    for row in rows:
        values = (row.v0, row.v1, row.v2, row.v3)
        rules.add(Rule(row.ptype, values[: {"p": 4, "g": 3, "g2": 2}[row.ptype]]))
    return rules, changes


async def test_first_start_seeds_the_default_policy_once(database: Database) -> None:
    first = await Permissions.open(database)
    assert set(first.rules()) == set(DEFAULT_RULES)
    [seed] = await first.history()
    assert (seed.actor, seed.action, seed.workspace, seed.before) == ("system", "seed", "*", ())
    assert set(seed.after) == set(DEFAULT_RULES)
    await first.remove(Rule("p", ("viewer", "*", "view_analytics", "read")), actor="ops")
    second = await Permissions.open(database)  # another start: not seeded again
    assert Rule("p", ("viewer", "*", "view_analytics", "read")) not in second.rules()
    assert len(await second.history()) == 2


async def test_add_applies_at_once_and_is_recorded(perms: Permissions, database: Database) -> None:
    assert not perms.enforce("bob@example.com", "team-a", "/v1/messages", "use")
    change = await perms.add(Rule("g", ("Bob@Example.com ", "user", "team-a")), actor="alice@example.com")
    assert change.after == (Rule("g", ("bob@example.com", "user", "team-a")),)  # trimmed, lower-case
    assert (change.actor, change.action, change.workspace, change.before) == ("alice@example.com", "add", "team-a", ())
    assert perms.enforce("bob@example.com", "team-a", "/v1/messages", "use")  # cache was cleared
    assert perms.version == change.id
    rules, changes = await stored(database)
    assert Rule("g", ("bob@example.com", "user", "team-a")) in rules and changes == 2
    assert perms.roles_for("bob@example.com", "team-a") == ["user"]
    assert perms.subjects_with_role("user", "team-a") == ["bob@example.com"]
    assert perms.workspaces_for("BOB@example.com") == ["team-a"]


async def test_remove_takes_the_rule_away(perms: Permissions, database: Database) -> None:
    await perms.add(Rule("g", ("bob@example.com", "viewer", "team-a")), actor="a")
    change = await perms.remove(Rule("g", ("bob@example.com", "viewer", "team-a")), actor="a")
    assert change.before == (Rule("g", ("bob@example.com", "viewer", "team-a")),) and change.after == ()
    assert not perms.enforce("bob@example.com", "team-a", "/api/v1/config", "read")
    rules, _ = await stored(database)
    assert Rule("g", ("bob@example.com", "viewer", "team-a")) not in rules


BAD = [
    (Rule("x", ("a", "b")), "ptype", "unknown rule type 'x'"),
    (Rule("p", ("user", "*", "read_config")), "values", "has 4 values (role, workspace, object, action), got 3"),
    (Rule("g2", ("/a", "b", "c")), "values", "got 3"),
    (Rule("p", ("", "*", "read_config", "read")), "role", "must not be empty"),
    (Rule("p", ("user", "  ", "read_config", "read")), "workspace", "must not be empty"),
    (Rule("p", ("User", "*", "read_config", "read")), "role", "not a role name"),
    (Rule("p", ("user", "Team A", "read_config", "read")), "workspace", "must not contain spaces"),
    (Rule("p", ("user", "t", "read_config", "read")), "workspace", "'t' is not a workspace"),
    (Rule("p", ("user", "team_a", "read_config", "read")), "workspace", "is not a workspace"),
    (Rule("g", ("bob@example.com", "user", "*")), "workspace", "'*' is not a workspace"),
    (Rule("p", ("user", "*", "read-config", "read")), "object", "must be *, a permission name"),
    (Rule("p", ("user", "*", "/api//v1", "read")), "object", "empty segment"),
    (Rule("p", ("user", "*", "/api/v1/keys/{id}", "read")), "object", ":name (keyMatch2), not {name}"),
    (Rule("p", ("user", "*", "/api/v1/keys/{id", "read")), "object", "not {name}"),
    (Rule("p", ("user", "*", "/api/v1/ke(ys", "read")), "object", "segment 'ke(ys'"),
    (Rule("g2", ("/api/v1/keys*", "manage_keys")), "pattern", "* must be a whole segment"),
    (Rule("g2", ("api/v1/keys", "manage_keys")), "pattern", "must start with /"),
    (Rule("g2", ("/api/v1/x y", "manage_keys")), "pattern", "must not contain spaces"),
    (Rule("g2", ("/api/v1/keys", "Manage-Keys")), "permission", "not a permission name"),
    (Rule("p", ("user", "*", "read_config", "delete")), "action", "'delete' is not an action"),
    (Rule("g", ("bob,eve@example.com", "user", "team-a")), "subject", "must not contain spaces, commas"),
    (Rule("g", ("bob@example.com", "nobody", "team-a")), "role", "unknown role 'nobody'"),
    (Rule("p", ("user", "*", "read_config", "read")), "rule", "already in the policy"),
]


@pytest.mark.parametrize("rule,field,message", BAD, ids=[f"{r.ptype}-{f}-{i}" for i, (r, f, _) in enumerate(BAD)])
async def test_bad_rules_are_refused_and_change_nothing(
    perms: Permissions, database: Database, rule: Rule, field: str, message: str
) -> None:
    before = await stored(database)
    version = perms.version
    with pytest.raises(PolicyError) as refused:
        await perms.add(rule, actor="a")
    assert refused.value.field == field
    assert message in refused.value.message
    assert await stored(database) == before
    assert perms.version == version


async def test_removing_what_is_not_there_is_refused(perms: Permissions, database: Database) -> None:
    before = await stored(database)
    with pytest.raises(PolicyError, match="rule: \\[g, bob@example.com, user, team-a\\] is not in the policy"):
        await perms.remove(Rule("g", ("bob@example.com", "user", "team-a")), actor="a")
    assert await stored(database) == before


async def test_a_role_still_held_keeps_its_last_permission(perms: Permissions, database: Database) -> None:
    await perms.add(Rule("p", ("auditor", "team-a", "view_analytics", "read")), actor="a")
    await perms.add(Rule("g", ("carol@example.com", "auditor", "team-a")), actor="a")
    before = await stored(database)
    with pytest.raises(PolicyError) as refused:
        await perms.remove(Rule("p", ("auditor", "team-a", "view_analytics", "read")), actor="a")
    assert refused.value.field == "role" and "carol@example.com in team-a" in refused.value.message
    assert await stored(database) == before
    await perms.remove(Rule("g", ("carol@example.com", "auditor", "team-a")), actor="a")
    await perms.remove(Rule("p", ("auditor", "team-a", "view_analytics", "read")), actor="a")


async def test_actor_is_required(perms: Permissions) -> None:
    with pytest.raises(PolicyError) as refused:
        await perms.add(Rule("g", ("bob@example.com", "user", "team-a")), actor=" ")
    assert refused.value.field == "actor"


async def test_set_roles_replaces_a_members_roles(perms: Permissions) -> None:
    first = await perms.set_roles("Dan@example.com", "team-a", ["viewer", "user", "viewer"], actor="a")
    assert first.action == "set_roles" and first.before == ()
    assert [r.values[1] for r in first.after] == ["user", "viewer"]
    assert perms.roles_for("dan@example.com", "team-a") == ["user", "viewer"]
    second = await perms.set_roles("dan@example.com", "team-a", ["admin"], actor="a")
    assert [r.values[1] for r in second.before] == ["user", "viewer"]
    assert perms.roles_for("dan@example.com", "team-a") == ["admin"]
    same = await perms.set_roles("dan@example.com", "team-a", ["admin"], actor="a")
    assert same.id == 0  # nothing changed, nothing recorded
    await perms.set_roles("dan@example.com", "team-a", [], actor="a")
    assert perms.roles_for("dan@example.com", "team-a") == []
    with pytest.raises(PolicyError) as refused:
        await perms.set_roles("dan@example.com", "team-a", ["admin", "wizard"], actor="a")
    assert refused.value.field == "role"
    assert perms.roles_for("dan@example.com", "team-a") == []  # all or nothing
    with pytest.raises(PolicyError, match="roles: must be a list"):
        await perms.set_roles("dan@example.com", "team-a", "admin", actor="a")
    with pytest.raises(PolicyError, match="workspace"):
        await perms.set_roles("dan@example.com", "*", ["admin"], actor="a")


async def test_history_is_newest_first_and_filtered_by_workspace(perms: Permissions) -> None:
    await perms.add(Rule("g", ("a@example.com", "user", "team-a")), actor="x")
    await perms.add(Rule("g", ("b@example.com", "user", "team-b")), actor="x")
    await perms.add(Rule("g2", ("/api/v1/exports/*", "view_analytics")), actor="x")
    all_changes = await perms.history()
    assert [c.action for c in all_changes] == ["add", "add", "add", "seed"]
    assert [c.id for c in all_changes] == sorted((c.id for c in all_changes), reverse=True)
    team_a = await perms.history("team-a")
    assert [c.workspace for c in team_a] == ["*", "team-a", "*"]  # g2 lines concern every workspace
    assert len(await perms.history(limit=1)) == 1


async def test_revert_undoes_a_change_as_a_new_change(perms: Permissions) -> None:
    added = await perms.add(Rule("g", ("erin@example.com", "user", "team-a")), actor="alice@example.com")
    undone = await perms.revert(added.id, actor="bob@example.com")
    assert (undone.action, undone.actor, undone.workspace) == ("revert", "bob@example.com", "team-a")
    assert undone.before == added.after and undone.after == ()
    assert perms.roles_for("erin@example.com", "team-a") == []
    redone = await perms.revert(undone.id, actor="bob@example.com")  # a revert can be reverted
    assert redone.after == added.after
    assert perms.roles_for("erin@example.com", "team-a") == ["user"]


async def test_revert_of_set_roles_restores_the_old_roles(perms: Permissions) -> None:
    await perms.set_roles("fay@example.com", "team-a", ["viewer"], actor="a")
    change = await perms.set_roles("fay@example.com", "team-a", ["user", "admin"], actor="a")
    await perms.revert(change.id, actor="a")
    assert perms.roles_for("fay@example.com", "team-a") == ["viewer"]


async def test_revert_refuses_what_no_longer_applies(perms: Permissions, database: Database) -> None:
    added = await perms.add(Rule("g", ("gus@example.com", "user", "team-a")), actor="a")
    await perms.remove(Rule("g", ("gus@example.com", "user", "team-a")), actor="a")
    before = await stored(database)
    with pytest.raises(PolicyError) as refused:
        await perms.revert(added.id, actor="a")
    assert refused.value.field == "change_id" and "no longer in the policy" in refused.value.message
    with pytest.raises(PolicyError, match="change_id: the initial policy cannot be reverted"):
        await perms.revert(1, actor="a")
    with pytest.raises(PolicyError, match="change_id: there is no change 999"):
        await perms.revert(999, actor="a")
    assert await stored(database) == before


async def test_explain_reports_rule_roles_and_the_g2_line(perms: Permissions) -> None:
    await perms.add(Rule("g", ("hal@example.com", "user", "team-a")), actor="a")
    allowed = perms.explain("hal@example.com", "team-a", "/v1/messages", "use")
    assert allowed.allowed and allowed.roles == ("user",)
    assert allowed.rule == Rule("p", ("user", "*", "use_router", "use"))
    assert allowed.via == Rule("g2", ("/v1/*", "use_router"))
    assert "granted by [p, user, *, use_router, use]" in allowed.reason
    denied = perms.explain("hal@example.com", "team-a", "/api/v1/keys", "write")
    assert not denied.allowed and denied.rule is None and denied.roles == ("user",)
    assert denied.reason == "denied: no rule lets 'user' write /api/v1/keys in 'team-a'"
    stranger = perms.explain("hal@example.com", "team-b", "/v1/messages", "use")
    assert stranger.reason == "denied: hal@example.com holds no role in 'team-b'"
    await perms.add(Rule("g", ("ida@example.com", "admin", "team-a")), actor="a")
    admin = perms.explain("ida@example.com", "team-a", "/anything", "write")
    assert admin.rule == Rule("p", ("admin", "*", "*", "*")) and admin.via is None


async def test_rules_for_a_workspace(perms: Permissions) -> None:
    await perms.add(Rule("g", ("a@example.com", "user", "team-a")), actor="x")
    await perms.add(Rule("g", ("b@example.com", "user", "team-b")), actor="x")
    await perms.add(Rule("p", ("user", "team-b", "manage_keys", "write")), actor="x")
    team_a = perms.rules("team-a")
    assert Rule("g", ("a@example.com", "user", "team-a")) in team_a
    assert Rule("g", ("b@example.com", "user", "team-b")) not in team_a
    assert Rule("p", ("user", "team-b", "manage_keys", "write")) not in team_a
    assert Rule("p", ("user", "*", "use_router", "use")) in team_a
    assert Rule("g2", ("/v1/*", "use_router")) in team_a
    assert [r.ptype for r in team_a] == sorted((r.ptype for r in team_a), key=["p", "g", "g2"].index)


async def test_a_second_instance_sees_changes_after_reload(database: Database, db_url: str) -> None:
    one = await Permissions.open(database)
    other_db = Database(db_url)
    try:
        two = await Permissions.open(other_db)
        assert await two.reload() is False  # nothing moved
        await one.add(Rule("g", ("jo@example.com", "viewer", "team-a")), actor="a")
        assert not two.enforce("jo@example.com", "team-a", "/api/v1/config", "read")  # not yet
        assert await two.reload() is True
        assert two.enforce("jo@example.com", "team-a", "/api/v1/config", "read")
        assert two.version == one.version
    finally:
        await other_db.dispose()


async def test_two_instances_adding_the_same_rule_at_once(database: Database, db_url: str) -> None:
    one = await Permissions.open(database)
    other_db = Database(db_url)
    try:
        two = await Permissions.open(other_db)
        rule = Rule("g", ("kim@example.com", "user", "team-a"))
        results = await asyncio.gather(one.add(rule, actor="a"), two.add(rule, actor="b"), return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        assert len(errors) == 1 and isinstance(errors[0], PolicyError), results
        rules, changes = await stored(database)
        assert rule in rules and changes == 2
    finally:
        await other_db.dispose()


async def test_an_unloaded_service_denies_everything(database: Database) -> None:
    perms = Permissions(database)
    assert not perms.loaded and not perms.enforce("x@example.com", "team-a", "/v1/messages", "use")
    with pytest.raises(RuntimeError, match="no database"):
        await Permissions().reload()
