"""The permissions service: the live Casbin policy, its history, and policy decisions.

The policy (``p``, ``g`` and ``g2`` lines of ``policies/model.conf``) lives in the database
(``kernel_policy_rules``); every write records a ``kernel_policy_changes`` row in the same
transaction, and the newest change id is the policy version. Decisions are answered from
memory: an immutable snapshot (enforcer, rules, version, decision cache) that a reload swaps
in one assignment, so a request never sees half a policy and the cache never outlives the
rules it was computed from. Each instance polls the version (``reload``) and changes made in
this process apply at once. Nothing here knows about users or HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import casbin
from casbin.util import key_match2
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database, kernel_policy_changes, kernel_policy_rules
from core.policy_rules import (
    ACTIONS,
    DEFAULT_POLICY,
    FIELDS,
    MODEL,
    Change,
    Decision,
    PolicyError,
    Rule,
    check_consistent,
    check_value,
    is_permission_name,
    parse_policy_csv,
    validate_rule,
)

__all__ = [
    "ACTIONS",
    "DEFAULT_POLICY",
    "FIELDS",
    "MODEL",
    "Change",
    "Decision",
    "Permissions",
    "PolicyError",
    "Rule",
    "parse_policy_csv",
    "validate_rule",
]

log = logging.getLogger("switchyard.permissions")

SYSTEM_ACTOR = "system"
# casbin logs the whole model at INFO each time an enforcer is built (every reload): noise.
logging.getLogger("casbin").setLevel(logging.WARNING)
_CACHE_LIMIT = 50_000
_PG_LOCK_KEY = zlib.crc32(b"switchyard:policy")

# -- the in-memory snapshot -----------------------------------------------------------------


def _build_enforcer(rules: Iterable[Rule]) -> casbin.Enforcer:
    """A fresh enforcer holding ``rules`` (already unique), never mutated afterwards."""
    enforcer = casbin.Enforcer(str(MODEL))
    enforcer.add_named_matching_func("g2", key_match2)
    model = enforcer.get_model()
    for rule in rules:  # Model.add_policy checks for duplicates line by line: O(n^2)
        assertion = model[rule.ptype[0]][rule.ptype]
        assertion.policy.append(list(rule.values))
        assertion.policy_map[",".join(rule.values)] = len(assertion.policy) - 1
    enforcer.build_role_links()
    return enforcer


@dataclass(frozen=True)
class _Snapshot:
    version: int
    rules: tuple[Rule, ...]
    enforcer: casbin.Enforcer
    held: dict[str, tuple[str, ...]]  # subject -> workspaces where it holds a role (the guard asks)
    cache: dict[tuple[str, str, str, str], bool] = field(default_factory=dict)

    @classmethod
    def build(cls, version: int, rules: Iterable[Rule]) -> _Snapshot:
        ordered = tuple(sorted(set(rules), key=Rule.sort_key))
        held: dict[str, set[str]] = {}
        for rule in ordered:
            if rule.ptype == "g":
                held.setdefault(rule.values[0], set()).add(rule.values[2])
        return cls(version, ordered, _build_enforcer(ordered), {s: tuple(sorted(w)) for s, w in held.items()})


def _rows_to_rules(rows: Iterable[Any]) -> list[Rule]:
    rules = []
    for row in rows:
        names = FIELDS.get(row.ptype)
        if names is None:
            log.warning("ignoring a policy row of unknown type %r", row.ptype)
            continue
        rules.append(Rule(row.ptype, (row.v0, row.v1, row.v2, row.v3)[: len(names)]))
    return rules


def _row_values(rule: Rule) -> dict[str, str]:
    padded = (*rule.values, "", "", "", "")[:4]
    return {"ptype": rule.ptype, **{f"v{i}": v for i, v in enumerate(padded)}}


def _change_from_row(row: Any) -> Change:
    return Change(
        id=row.id,
        at=row.at,
        actor=row.actor,
        workspace=row.workspace,
        action=row.action,
        before=tuple(Rule.from_list(line) for line in row.before),
        after=tuple(Rule.from_list(line) for line in row.after),
    )


# A plan turns the current rules into (removed, added, workspace, before, after), or raises.
Plan = Callable[[set[Rule]], tuple[list[Rule], list[Rule], str, list[Rule], list[Rule]]]


class Permissions:
    """The live policy of one database; see the module docstring.

    Build it unloaded (the kernel does, before the database exists) and ``start`` it, or
    ``await Permissions.open(db)`` for standalone use (the CLI). Until loaded it denies all.
    """

    def __init__(self, db: Database | None = None) -> None:
        self.db = db
        self._snapshot = _Snapshot.build(0, ())
        self.loaded = False
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, db: Database) -> Permissions:
        permissions = cls(db)
        await permissions.start()
        return permissions

    async def start(self, db: Database | None = None) -> None:
        """Seed the default policy on the very first start, then load the policy."""
        if db is not None:
            self.db = db
        await self._seed_if_new()
        await self._load()

    @property
    def version(self) -> int:
        """The id of the newest change the in-memory policy reflects (0: none)."""
        return self._snapshot.version

    # -- decisions (memory only) -----------------------------------------------------------

    def enforce(self, subject: str, workspace: str, obj: str, action: str) -> bool:
        snapshot = self._snapshot
        key = (subject, workspace, obj, action)
        allowed = snapshot.cache.get(key)
        if allowed is None:
            if len(snapshot.cache) >= _CACHE_LIMIT:
                snapshot.cache.clear()
            allowed = snapshot.cache[key] = bool(snapshot.enforcer.enforce(*key))
        return allowed

    def explain(self, subject: str, workspace: str, obj: str, action: str) -> Decision:
        snapshot = self._snapshot
        allowed, matched = snapshot.enforcer.enforce_ex(subject, workspace, obj, action)
        roles = tuple(sorted(snapshot.enforcer.get_roles_for_user_in_domain(subject, workspace)))
        base = {"subject": subject, "workspace": workspace, "object": obj, "action": action, "roles": roles}
        if allowed and matched:
            rule = Rule("p", tuple(matched))
            via = None
            if is_permission_name(rule.values[2]):  # a permission: which g2 line covers obj
                via = next(
                    (
                        g2 for g2 in snapshot.rules
                        if g2.ptype == "g2" and g2.values[1] == rule.values[2] and key_match2(obj, g2.values[0])
                    ),
                    None,
                )
            reason = f"allowed: {subject} holds {rule.values[0]!r} in {workspace!r}, granted by [{rule}]"
            if via is not None:
                reason += f"; {obj} is covered by {via.values[1]!r} through [{via}]"
            return Decision(True, rule=rule, via=via, reason=reason, **base)
        if allowed:
            return Decision(True, reason="allowed", **base)
        if not roles:
            reason = f"denied: {subject} holds no role in {workspace!r}"
        else:
            reason = (
                f"denied: no rule lets {', '.join(repr(r) for r in roles)} {action} {obj} in {workspace!r}"
            )
        return Decision(False, reason=reason, **base)

    def rules(self, workspace: str | None = None) -> list[Rule]:
        """All lines, or those of one workspace: its p lines and ``*`` ones, its g lines, all g2."""
        rules = self._snapshot.rules
        if workspace is None:
            return list(rules)
        return [r for r in rules if r.workspace in (workspace, "*") or (r.ptype == "g2")]

    def roles_for(self, subject: str, workspace: str) -> list[str]:
        return sorted(self._snapshot.enforcer.get_roles_for_user_in_domain(subject.lower(), workspace))

    def subjects_with_role(self, role: str, workspace: str) -> list[str]:
        return sorted(self._snapshot.enforcer.get_users_for_role_in_domain(role, workspace))

    def workspaces_for(self, subject: str) -> list[str]:
        """The workspaces where ``subject`` holds at least one role, sorted."""
        return list(self._snapshot.held.get(subject.lower(), ()))

    def workspaces(self) -> list[str]:
        """Every workspace some line names (``*`` left out), sorted."""
        return sorted({r.workspace for r in self._snapshot.rules if r.workspace != "*"})

    def roles(self) -> list[str]:
        """Every role some p line defines."""
        return sorted({r.values[0] for r in self._snapshot.rules if r.ptype == "p"})

    # -- writes ----------------------------------------------------------------------------

    async def add(self, rule: Rule, *, actor: str) -> Change:
        rule = validate_rule(rule)

        def plan(current: set[Rule]) -> Any:
            if rule in current:
                raise PolicyError("rule", f"[{rule}] is already in the policy")
            return [], [rule], rule.workspace, [], [rule]

        return await self._write("add", plan, actor)

    async def remove(self, rule: Rule, *, actor: str) -> Change:
        rule = validate_rule(rule)

        def plan(current: set[Rule]) -> Any:
            if rule not in current:
                raise PolicyError("rule", f"[{rule}] is not in the policy")
            return [rule], [], rule.workspace, [rule], []

        return await self._write("remove", plan, actor)

    async def set_roles(self, subject: str, workspace: str, roles: Iterable[str], *, actor: str) -> Change:
        """Make ``roles`` exactly the roles ``subject`` holds in ``workspace`` ([] removes all)."""
        if isinstance(roles, str):
            raise PolicyError("roles", "must be a list of role names, not one string")
        subject = check_value("g", "subject", subject)
        workspace = check_value("g", "workspace", workspace)
        wanted = [Rule("g", (subject, check_value("g", "role", r), workspace)) for r in dict.fromkeys(roles)]

        def plan(current: set[Rule]) -> Any:
            held = sorted(
                (r for r in current if r.ptype == "g" and r.values[0] == subject and r.values[2] == workspace),
                key=Rule.sort_key,
            )
            removed = [r for r in held if r not in wanted]
            added = [r for r in wanted if r not in held]
            return removed, added, workspace, held, sorted(wanted, key=Rule.sort_key)

        return await self._write("set_roles", plan, actor)

    async def revert(self, change_id: int, *, actor: str) -> Change:
        """Undo one change: re-add what it removed and remove what it added, as a new change."""
        original = await self.change(change_id)
        if original is None:
            raise PolicyError("change_id", f"there is no change {change_id}")
        if original.action == "seed":
            raise PolicyError("change_id", "the initial policy cannot be reverted")
        undo_add = [r for r in original.after if r not in original.before]
        undo_remove = [r for r in original.before if r not in original.after]

        def plan(current: set[Rule]) -> Any:
            for rule in undo_add:
                if rule not in current:
                    raise PolicyError(
                        "change_id", f"cannot revert change {change_id}: [{rule}] is no longer in the policy"
                    )
            for rule in undo_remove:
                if rule in current:
                    raise PolicyError(
                        "change_id", f"cannot revert change {change_id}: [{rule}] is already in the policy"
                    )
            return undo_add, undo_remove, original.workspace, undo_add, undo_remove

        return await self._write("revert", plan, actor)

    async def history(self, workspace: str | None = None, limit: int = 100) -> list[Change]:
        """Newest first; with a workspace, its changes and those for every workspace (``*``)."""
        table = kernel_policy_changes
        query = select(table).order_by(table.c.id.desc()).limit(max(1, min(int(limit), 1000)))
        if workspace is not None:
            query = query.where(table.c.workspace.in_((workspace, "*")))
        async with self._database().engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_change_from_row(row) for row in rows]

    async def reload(self) -> bool:
        """Load the policy from the database if its version moved; True when it did."""
        async with self._database().engine.connect() as connection:
            version = await _latest_version(connection)
        if self.loaded and version == self._snapshot.version:
            return False
        await self._load()
        return True

    async def refresh_quietly(self) -> None:
        """The polling job: reload, logging rather than raising (the next tick retries)."""
        try:
            if await self.reload():
                log.info("policy reloaded at version %d", self.version)
        except Exception:  # a database hiccup must not kill the scheduler
            log.exception("could not reload the policy; keeping version %d", self.version)

    # -- storage ---------------------------------------------------------------------------

    def _database(self) -> Database:
        if self.db is None:
            raise RuntimeError("Permissions has no database; call start(db) or Permissions.open(db)")
        return self.db

    async def _load(self) -> None:
        async with self._database().engine.connect() as connection:
            version = await _latest_version(connection)  # first: rules are never older than it
            rows = (await connection.execute(select(kernel_policy_rules).order_by(kernel_policy_rules.c.id))).all()
        self._snapshot = _Snapshot.build(version, _rows_to_rules(rows))
        self.loaded = True

    async def change(self, change_id: int) -> Change | None:
        """One recorded change, or None."""
        table = kernel_policy_changes
        async with self._database().engine.connect() as connection:
            row = (await connection.execute(select(table).where(table.c.id == int(change_id)))).first()
        return _change_from_row(row) if row is not None else None

    async def _seed_if_new(self) -> None:
        """Write policies/default_policy.csv into a database that never had a policy."""
        rules = parse_policy_csv(DEFAULT_POLICY.read_text(encoding="utf-8"))
        try:
            async with self._database().engine.begin() as connection:
                await _lock(connection)
                count = select(func.count()).select_from(kernel_policy_changes)
                if (await connection.execute(count)).scalar_one():
                    return
                await connection.execute(insert(kernel_policy_rules), [_row_values(r) for r in rules])
                await _record(connection, SYSTEM_ACTOR, "*", "seed", [], rules)
        except IntegrityError:
            log.info("another instance seeded the policy first")
            return
        log.info("seeded the default policy (%d lines)", len(rules))

    async def _write(self, action: str, plan: Plan, actor: str) -> Change:
        actor = (actor or "").strip()
        if not actor:
            raise PolicyError("actor", "must not be empty: say who makes the change")
        async with self._write_lock:
            try:
                async with self._database().engine.begin() as connection:
                    await _lock(connection)
                    rows = (await connection.execute(select(kernel_policy_rules))).all()
                    current = set(_rows_to_rules(rows))
                    removed, added, workspace, before, after = plan(current)
                    if not removed and not added:
                        return Change(0, datetime.now(UTC), actor, workspace, action, tuple(before), tuple(after))
                    check_consistent((current - set(removed)) | set(added), removed, added)
                    for rule in removed:
                        await connection.execute(
                            delete(kernel_policy_rules).where(
                                *(getattr(kernel_policy_rules.c, k) == v for k, v in _row_values(rule).items())
                            )
                        )
                    if added:
                        await connection.execute(insert(kernel_policy_rules), [_row_values(r) for r in added])
                    change = await _record(connection, actor, workspace, action, before, after)
            except IntegrityError:
                raise PolicyError("rule", "another change wrote the same rule at the same moment; try again") from None
            await self._load()
        log.info("policy change %d by %s: %s", change.id, actor, action)
        return change


async def _lock(connection: AsyncConnection) -> None:
    """Serialise policy writers across instances (PostgreSQL; SQLite has one writer anyway)."""
    if connection.dialect.name == "postgresql":
        await connection.execute(text(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})"))


async def _latest_version(connection: AsyncConnection) -> int:
    found = await connection.execute(select(func.max(kernel_policy_changes.c.id)))
    return int(found.scalar_one() or 0)


async def _record(
    connection: AsyncConnection,
    actor: str,
    workspace: str,
    action: str,
    before: Sequence[Rule],
    after: Sequence[Rule],
) -> Change:
    now = datetime.now(UTC)
    values = {
        "at": now,
        "actor": actor[:255],
        "workspace": workspace,
        "action": action,
        "before": [r.as_list() for r in before],
        "after": [r.as_list() for r in after],
    }
    result = await connection.execute(insert(kernel_policy_changes).values(**values))
    change_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return Change(change_id, now, values["actor"], workspace, action, tuple(before), tuple(after))
