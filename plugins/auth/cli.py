"""``switchyard users|workspaces|keys ...``: administration without the UI.

The commands work on the configured database (``--config`` / ``SWITCHYARD_HOME``) and do
not migrate it: they check first that the auth tables are there and otherwise ask for
``switchyard db upgrade`` (``serve`` runs it too), so an admin command never changes the
schema as a side effect. A server picks up keys changed here on its next key refresh
(every ``auth.key_refresh_seconds``, 5 s by default).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

__all__ = ["COMMANDS", "keys", "users", "workspaces"]

T = TypeVar("T")


def _run(ctx: click.Context, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(service)`` against the configured database; AuthErrors become one line."""
    from core.db import Database
    from core.settings import load_settings
    from plugins.auth.errors import AuthError
    from plugins.auth.service import AuthService

    url = load_settings(ctx.find_root().params.get("config")).database_url
    _require_schema(url)

    async def go() -> T:
        db = Database(url)
        try:
            return await work(AuthService(db))
        finally:
            await db.dispose()

    try:
        return asyncio.run(go())
    except AuthError as exc:
        raise click.ClickException(str(exc)) from None


def _require_schema(url: str) -> None:
    from core import migrate
    from plugins.auth import MIGRATIONS
    from plugins.auth.models import metadata

    source = migrate.MigrationSource("auth", metadata, MIGRATIONS)
    missing = set(migrate.heads(url, [source])) - set(migrate.current(url, [source]))
    if missing:
        raise click.ClickException(
            f"the database is not up to date (missing {', '.join(sorted(missing))}); "
            "run `switchyard db upgrade` first"
        )


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if not rows:
        return
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    for line in (headers, *rows):
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


# -- users --------------------------------------------------------------------------------


@click.group()
def users() -> None:
    """People who may sign in and hold API keys."""


@users.command("create")
@click.argument("email")
@click.option("--name", "display_name", help="Display name.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def users_create(ctx: click.Context, email: str, display_name: str | None, as_json: bool) -> None:
    """Create a user (no password: they will sign in with a link or SSO)."""
    user = _run(ctx, lambda s: s.create_user(email, display_name=display_name))
    if as_json:
        _echo_json(user.as_dict())
    else:
        click.echo(f"created user {user.email}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """List every user."""
    found = _run(ctx, lambda s: s.list_users())
    if as_json:
        _echo_json([u.as_dict() for u in found])
        return
    if not found:
        click.echo("no users yet; add one with `switchyard users create EMAIL`")
    _table(
        ("EMAIL", "NAME", "ACTIVE", "CREATED"),
        [
            (u.email, u.display_name, "yes" if u.is_active else "no", _when(u.created_at))
            for u in found
        ],
    )


# -- workspaces ---------------------------------------------------------------------------


@click.group()
def workspaces() -> None:
    """Team spaces (the Casbin domains) and who belongs to them."""


@workspaces.command("create")
@click.argument("slug")
@click.option("--name", help="Display name (default: the slug).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def workspaces_create(ctx: click.Context, slug: str, name: str | None, as_json: bool) -> None:
    """Create a workspace; SLUG is 2-40 lower-case letters, digits and dashes."""
    workspace = _run(ctx, lambda s: s.create_workspace(slug, name=name))
    if as_json:
        _echo_json(workspace.as_dict())
    else:
        click.echo(f"created workspace {workspace.slug}")


@workspaces.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def workspaces_list(ctx: click.Context, as_json: bool) -> None:
    """List every workspace."""
    found = _run(ctx, lambda s: s.list_workspaces())
    if as_json:
        _echo_json([w.as_dict() for w in found])
        return
    if not found:
        click.echo("no workspaces yet; add one with `switchyard workspaces create SLUG`")
    _table(("SLUG", "NAME", "CREATED"), [(w.slug, w.name, _when(w.created_at)) for w in found])


@workspaces.command("add-member")
@click.argument("slug")
@click.argument("email")
@click.argument("role")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def workspaces_add_member(
    ctx: click.Context, slug: str, email: str, role: str, as_json: bool
) -> None:
    """Give the user EMAIL the ROLE (admin, user, viewer, billing_admin) in workspace SLUG."""
    member = _run(ctx, lambda s: s.add_member(email, slug, role))
    if as_json:
        _echo_json(member.as_dict())
    else:
        click.echo(f"{member.user} is now {member.role} in {member.workspace}")


# -- keys ---------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """Per-user API keys for the AI endpoints."""


@keys.command("create")
@click.option("--user", "user", required=True, metavar="EMAIL", help="Owner of the key.")
@click.option("--workspace", required=True, metavar="SLUG", help="Workspace the key is for.")
@click.option("--name", help="A label, e.g. the machine or tool using it.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="PATTERN",
    help="Endpoint or model pattern the key may use (repeat; none: everything).",
)
@click.option("--expires-days", type=click.IntRange(1, 3650), help="Expire after N days.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (includes the key).")
@click.pass_context
def keys_create(
    ctx: click.Context,
    user: str,
    workspace: str,
    name: str | None,
    scopes: tuple[str, ...],
    expires_days: int | None,
    as_json: bool,
) -> None:
    """Create a key and print it once: it cannot be shown again."""
    expires_in = timedelta(days=expires_days) if expires_days else None
    plaintext, key = _run(ctx, lambda s: s.create_key(user, workspace, name, scopes, expires_in))
    if as_json:
        _echo_json({"key": plaintext, **key.as_dict()})
        return
    click.echo(
        f"created key {key.prefix} for {key.user} in {key.workspace}"
        f"{f' (expires {_when(key.expires_at)} UTC)' if key.expires_at else ''}",
        err=True,
    )
    click.echo(plaintext)
    click.echo("store it now: it is not shown again", err=True)


@keys.command("list")
@click.option("--user", metavar="EMAIL", help="Only this user's keys.")
@click.option("--workspace", metavar="SLUG", help="Only this workspace's keys.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def keys_list(ctx: click.Context, user: str | None, workspace: str | None, as_json: bool) -> None:
    """List keys (never their secrets), revoked and expired ones too."""
    found = _run(ctx, lambda s: s.list_keys(user=user, workspace=workspace))
    now = datetime.now(UTC)
    if as_json:
        _echo_json([{**k.as_dict(), "status": k.status(now)} for k in found])
        return
    if not found:
        click.echo(
            "no keys; create one with `switchyard keys create --user EMAIL --workspace SLUG`"
        )
    _table(
        ("PREFIX", "NAME", "USER", "WORKSPACE", "STATUS", "CREATED", "EXPIRES", "SCOPES"),
        [
            (
                k.prefix,
                k.name or "-",
                k.user,
                k.workspace,
                k.status(now),
                _when(k.created_at),
                _when(k.expires_at),
                ",".join(k.scopes) or "*",
            )
            for k in found
        ],
    )


@keys.command("revoke")
@click.argument("prefix")
@click.pass_context
def keys_revoke(ctx: click.Context, prefix: str) -> None:
    """Stop the key PREFIX (e.g. sy_ab12cd34) from working."""

    async def revoke(service: Any) -> tuple[Any, Any]:
        before = await service.get_key(prefix)
        return before, await service.revoke_key(prefix)

    before, key = _run(ctx, revoke)
    if before.revoked_at is not None:
        click.echo(f"{key.prefix} was already revoked on {_when(key.revoked_at)} UTC")
    else:
        click.echo(
            f"revoked {key.prefix}; running servers refuse it within their key refresh "
            "interval (5 s by default)"
        )


@keys.command("rotate")
@click.argument("prefix")
@click.option(
    "--grace-seconds",
    type=click.IntRange(0, 30 * 24 * 3600),
    default=3600,
    show_default=True,
    help="How long the old key keeps working.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (includes the new key).")
@click.pass_context
def keys_rotate(ctx: click.Context, prefix: str, grace_seconds: int, as_json: bool) -> None:
    """Replace the key PREFIX with a new one; the old one works for the grace period."""
    plaintext, key = _run(ctx, lambda s: s.rotate_key(prefix, grace_seconds=grace_seconds))
    if as_json:
        _echo_json({"key": plaintext, **key.as_dict()})
        return
    click.echo(
        f"created key {key.prefix} replacing {prefix}, which works for {grace_seconds} s more",
        err=True,
    )
    click.echo(plaintext)
    click.echo("store it now: it is not shown again", err=True)


COMMANDS = (users, workspaces, keys)
