"""``switchyard policy list|add|remove|check|history|revert``: the live policy without the UI.

Works on the configured database (after ``switchyard db upgrade``) through the same
permissions service the server uses, so the CLI validates and records changes exactly as the
editor does; running servers pick them up with their next poll.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from core.permissions import Permissions

__all__ = ["policy"]

T = TypeVar("T")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
ACTOR_OPTION = click.option(
    "--actor", default=None, help="Who makes the change, for the history (default: cli:$USER)."
)


class PolicyCliError(click.ClickException):
    """One line on stderr and exit 2, like every other refused command."""

    exit_code = 2


def _default_actor() -> str:
    try:
        user = os.environ.get("USER") or getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (containers): still say it was the CLI
        user = "unknown"
    return f"cli:{user}"


def _run(ctx: click.Context, work: Callable[[Permissions], Awaitable[T]]) -> T:
    """Open the permissions service on the configured database, run ``work``, close."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from core.cli import _ctx
    from core.db import Database
    from core.permissions import Permissions, PolicyError

    async def main() -> T:
        db = Database(_ctx(ctx).settings.database_url)
        try:
            return await work(await Permissions.open(db))
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except PolicyError as exc:
        raise PolicyCliError(str(exc)) from None
    except (OperationalError, ProgrammingError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise PolicyCliError(
            f"cannot read the policy ({reason}); run `switchyard db upgrade` first"
        ) from None


def _rule_text(rule: Any) -> str:
    return str(rule)


@click.group()
def policy() -> None:
    """Casbin policies: roles' permissions (p), role assignments (g), resource patterns (g2)."""


@policy.command("list")
@click.option("--workspace", default=None, help="Only the lines that apply in this workspace.")
@JSON_OPTION
@click.pass_context
def list_rules(ctx: click.Context, workspace: str | None, as_json: bool) -> None:
    """List the policy lines."""

    async def work(perms: Permissions) -> list[Any]:
        return perms.rules(workspace)

    rules = _run(ctx, work)
    if as_json:
        click.echo(json.dumps([{"ptype": r.ptype, "values": list(r.values)} for r in rules], indent=2))
        return
    for rule in rules:
        click.echo(_rule_text(rule))


def _change_command(name: str, verb: str) -> click.Command:
    @click.command(
        name,
        help=f"{verb.capitalize()} a line: p ROLE WORKSPACE OBJECT ACTION | g SUBJECT ROLE "
        "WORKSPACE | g2 PATTERN PERMISSION.",
    )
    @click.argument("ptype")
    @click.argument("values", nargs=-1, required=True)
    @ACTOR_OPTION
    @JSON_OPTION
    @click.pass_context
    def command(ctx: click.Context, ptype: str, values: tuple[str, ...], actor: str | None, as_json: bool) -> None:
        from core.permissions import Rule

        async def work(perms: Permissions) -> Any:
            method = perms.add if name == "add" else perms.remove
            return await method(Rule(ptype, values), actor=actor or _default_actor())

        change = _run(ctx, work)
        if as_json:
            click.echo(json.dumps(change.as_dict(), indent=2))
            return
        [rule] = change.after or change.before
        click.echo(f"{verb} [{rule}] (change {change.id})")

    return command


policy.add_command(_change_command("add", "added"))
policy.add_command(_change_command("remove", "removed"))


@policy.command()
@click.argument("subject")
@click.argument("workspace")
@click.argument("obj", metavar="OBJECT")
@click.argument("action")
@JSON_OPTION
@click.pass_context
def check(ctx: click.Context, subject: str, workspace: str, obj: str, action: str, as_json: bool) -> None:
    """May SUBJECT do ACTION on OBJECT (a path or permission) in WORKSPACE? Says why."""
    from core.policy_rules import check_value

    async def work(perms: Permissions) -> Any:
        checked = [check_value("p", "workspace", workspace), check_value("p", "action", action)]
        return perms.explain(subject.strip().lower(), checked[0], obj.strip(), checked[1])

    decision = _run(ctx, work)
    if as_json:
        click.echo(json.dumps(decision.as_dict(), indent=2))
        return
    click.echo("allowed" if decision.allowed else "denied")
    click.echo(f"  {decision.reason}")
    click.echo(f"  roles of {decision.subject} in {decision.workspace}: {', '.join(decision.roles) or 'none'}")


@policy.command()
@click.option("--workspace", default=None, help="Only changes to this workspace (and to every workspace).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@JSON_OPTION
@click.pass_context
def history(ctx: click.Context, workspace: str | None, limit: int, as_json: bool) -> None:
    """Recorded changes, newest first: who, when, what was removed and added."""

    async def work(perms: Permissions) -> list[Any]:
        return await perms.history(workspace, limit)

    changes = _run(ctx, work)
    if as_json:
        click.echo(json.dumps([c.as_dict() for c in changes], indent=2))
        return
    for change in changes:
        click.echo(f"{change.id}  {change.at:%Y-%m-%d %H:%M:%S}  {change.actor}  {change.action}  {change.workspace}")
        for rule in change.before:
            click.echo(f"    - {rule}")
        for rule in change.after:
            click.echo(f"    + {rule}")


@policy.command()
@click.argument("change_id", type=int)
@ACTOR_OPTION
@JSON_OPTION
@click.pass_context
def revert(ctx: click.Context, change_id: int, actor: str | None, as_json: bool) -> None:
    """Undo the change CHANGE_ID (recorded as a new change)."""

    async def work(perms: Permissions) -> Any:
        return await perms.revert(change_id, actor=actor or _default_actor())

    change = _run(ctx, work)
    if as_json:
        click.echo(json.dumps(change.as_dict(), indent=2))
        return
    click.echo(f"reverted change {change_id} (change {change.id})")
