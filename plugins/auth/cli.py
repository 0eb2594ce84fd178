"""``switchyard users|workspaces|keys ...``: administration without the UI.

The same operations as the management API, on the configured database (``--config`` /
``SWITCHYARD_HOME``). The commands do not migrate: they check first that the tables are
there and otherwise ask for ``switchyard db upgrade``, so an admin command never changes the
schema as a side effect. Roles go through the kernel's permissions service (the policy's
``g`` lines), exactly as the API writes them; running servers pick policy changes up within
``security.policy_refresh_seconds``. Key changes are announced on Redis when ``redis.url``
is set, so running servers apply them at once; otherwise within their key refresh interval.

Every command takes ``--json`` (data on stdout); errors are one line on stderr, exit 1.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

__all__ = ["COMMANDS", "keys", "users", "workspaces"]

T = TypeVar("T")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _actor() -> str:
    """Who made a policy change from the command line, for the policy history."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name (some containers)
        return "cli"


def _settings(ctx: click.Context) -> Any:
    from core.settings import load_settings

    return load_settings(ctx.find_root().params.get("config"))


def _run(ctx: click.Context, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(service)`` against the configured database; AuthErrors become one line."""
    from core.db import Database
    from core.permissions import Permissions, PolicyError
    from plugins.auth.errors import AuthError
    from plugins.auth.revocation import KeyChanges
    from plugins.auth.service import AuthService

    settings = _settings(ctx)
    url = settings.database_url
    _require_schema(url)

    async def go() -> T:
        db = Database(url)
        changes = KeyChanges(settings.redis.url) if settings.redis.url else None
        try:
            permissions = await Permissions.open(db)
            return await work(AuthService(db, permissions=permissions, changes=changes))
        finally:
            if changes is not None:
                await changes.stop()
            await db.dispose()

    try:
        return asyncio.run(go())
    except (AuthError, PolicyError) as exc:
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


def _propagation(ctx: click.Context) -> str:
    if _settings(ctx).redis.url:
        return "running servers refuse it at once (announced on Redis)"
    return "running servers refuse it within their key refresh interval (5 s by default)"


# -- users --------------------------------------------------------------------------------


@click.group()
def users() -> None:
    """People who may sign in and hold API keys."""


@users.command("create")
@click.argument("email")
@click.option("--name", "display_name", help="Display name.")
@_JSON
@click.pass_context
def users_create(ctx: click.Context, email: str, display_name: str | None, as_json: bool) -> None:
    """Create a user (no password: they will sign in with a link or SSO)."""
    user = _run(ctx, lambda s: s.create_user(email, display_name=display_name))
    if as_json:
        _echo_json(user.as_dict())
    else:
        click.echo(f"created user {user.email}")


@users.command("list")
@_JSON
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


@users.command("reset-mfa")
@click.argument("email")
@_JSON
@click.pass_context
def users_reset_mfa(ctx: click.Context, email: str, as_json: bool) -> None:
    """Turn EMAIL's two-step sign-in (TOTP) off and delete their recovery codes, for someone
    who lost their authenticator; they sign in with the password alone and set it up again."""
    from plugins.auth.mfa import reset_mfa

    async def work(service: Any) -> tuple[Any, bool, int]:
        user = await service.get_user(email)
        return (user, *await reset_mfa(service.db, user.id))

    user, was_on, codes = _run(ctx, work)
    if as_json:
        _echo_json({"email": user.email, "totp_was_on": was_on, "recovery_codes_deleted": codes})
    elif was_on:
        click.echo(
            f"two-step sign-in is off for {user.email} ({codes} unused recovery code(s) "
            "deleted); they can set it up again on /ui/me/security"
        )
    else:
        click.echo(f"two-step sign-in was not on for {user.email}; nothing changed")


@users.command("sign-out")
@click.argument("email")
@_JSON
@click.pass_context
def users_sign_out(ctx: click.Context, email: str, as_json: bool) -> None:
    """End every session of EMAIL (their API keys keep working)."""
    from plugins.auth.sessions import SessionStore

    async def work(service: Any) -> tuple[Any, int]:
        user = await service.get_user(email)
        # idle and absolute limits do not matter for revoking
        store = SessionStore(service.db, idle=timedelta(hours=1), absolute=timedelta(hours=1))
        if service.changes is not None:
            store.announce = service.changes.publish_sessions
        return user, await store.revoke_user(user.id)

    user, ended = _run(ctx, work)
    if as_json:
        _echo_json({"email": user.email, "sessions_ended": ended})
        return
    if _settings(ctx).redis.url:
        when = "running servers refuse them at once (announced on Redis)"
    else:
        when = "running servers refuse them within [auth] session_cache_seconds (5 s by default)"
    click.echo(f"signed {user.email} out of {ended} session(s); {when}")


# -- workspaces and members ---------------------------------------------------------------


@click.group()
def workspaces() -> None:
    """Team spaces (the Casbin domains), who belongs to them and with which role."""


@workspaces.command("create")
@click.argument("slug")
@click.option("--name", help="Display name (default: the slug).")
@click.option("--owner", metavar="EMAIL", help="Make this user the workspace's first admin.")
@_JSON
@click.pass_context
def workspaces_create(
    ctx: click.Context, slug: str, name: str | None, owner: str | None, as_json: bool
) -> None:
    """Create a workspace; SLUG is 2-40 lower-case letters, digits and dashes."""
    workspace = _run(
        ctx, lambda s: s.create_workspace(slug, name=name, owner=owner, actor=_actor())
    )
    if as_json:
        _echo_json(workspace.as_dict())
    else:
        click.echo(
            f"created workspace {workspace.slug}"
            + (f" with admin {owner.lower()}" if owner else "")
        )


@workspaces.command("list")
@click.option("--user", metavar="EMAIL", help="Only the workspaces this user belongs to.")
@_JSON
@click.pass_context
def workspaces_list(ctx: click.Context, user: str | None, as_json: bool) -> None:
    """List every workspace (or one user's, with their roles)."""
    if user is not None:
        mine = _run(ctx, lambda s: s.workspaces_of(user))
        if as_json:
            _echo_json([{**w.as_dict(), "roles": list(r)} for w, r in mine])
        else:
            _table(
                ("SLUG", "NAME", "ROLES"), [(w.slug, w.name, ",".join(r) or "-") for w, r in mine]
            )
        return
    found = _run(ctx, lambda s: s.list_workspaces())
    if as_json:
        _echo_json([w.as_dict() for w in found])
        return
    if not found:
        click.echo("no workspaces yet; add one with `switchyard workspaces create SLUG`")
    _table(("SLUG", "NAME", "CREATED"), [(w.slug, w.name, _when(w.created_at)) for w in found])


@workspaces.command("members")
@click.argument("slug")
@_JSON
@click.pass_context
def workspaces_members(ctx: click.Context, slug: str, as_json: bool) -> None:
    """List the members of workspace SLUG with the roles the policy gives them."""
    found = _run(ctx, lambda s: s.list_members(slug))
    if as_json:
        _echo_json([m.as_dict() for m in found])
        return
    if not found:
        click.echo(f"{slug} has no members; add one with `switchyard workspaces add-member`")
    _table(
        ("EMAIL", "ROLES", "JOINED"),
        [(m.user, ",".join(m.roles) or "-", _when(m.created_at)) for m in found],
    )


def _echo_member(member: Any, as_json: bool) -> None:
    if as_json:
        _echo_json(member.as_dict())
    else:
        click.echo(f"{member.user} is now {member.role} in {member.workspace}")


@workspaces.command("add-member")
@click.argument("slug")
@click.argument("email")
@click.argument("role")
@_JSON
@click.pass_context
def workspaces_add_member(
    ctx: click.Context, slug: str, email: str, role: str, as_json: bool
) -> None:
    """Give the user EMAIL the ROLE (admin, user, viewer, billing_admin) in workspace SLUG."""
    member = _run(ctx, lambda s: s.add_member(email, slug, role, actor=_actor()))
    _echo_member(member, as_json)


@workspaces.command("set-role")
@click.argument("slug")
@click.argument("email")
@click.argument("role")
@_JSON
@click.pass_context
def workspaces_set_role(
    ctx: click.Context, slug: str, email: str, role: str, as_json: bool
) -> None:
    """Change the role of member EMAIL in workspace SLUG to ROLE."""
    member = _run(ctx, lambda s: s.set_member_role(email, slug, role, actor=_actor()))
    _echo_member(member, as_json)


@workspaces.command("remove-member")
@click.argument("slug")
@click.argument("email")
@_JSON
@click.pass_context
def workspaces_remove_member(ctx: click.Context, slug: str, email: str, as_json: bool) -> None:
    """Take EMAIL out of workspace SLUG: their roles there go and their keys there are revoked."""
    revoked = _run(ctx, lambda s: s.remove_member(email, slug, actor=_actor()))
    if as_json:
        _echo_json({"email": email.strip().lower(), "workspace": slug, "revoked_keys": revoked})
    else:
        keys_note = f"; revoked {len(revoked)} key(s): {', '.join(revoked)}" if revoked else ""
        click.echo(f"removed {email.strip().lower()} from {slug}{keys_note}")


@workspaces.command("invite")
@click.argument("slug")
@click.argument("email")
@click.argument("role")
@click.option("--base-url", metavar="URL", help="The UI's address (default: from the settings).")
@_JSON
@click.pass_context
def workspaces_invite(
    ctx: click.Context, slug: str, email: str, role: str, base_url: str | None, as_json: bool
) -> None:
    """Invite EMAIL to SLUG as ROLE: prints a one-time link (7 days) to send them.

    They get the role when they accept; someone new creates their account on the way.
    """
    from plugins.auth.api.members import send_invite
    from plugins.auth.links import invite_path

    token, new_user = _run(ctx, lambda s: send_invite(s, email, slug, role, _actor()))
    server = _settings(ctx).server
    base = (base_url or f"http://{server.host}:{server.port}").rstrip("/")
    link = base + invite_path(token)
    if as_json:
        _echo_json(
            {"email": email.strip().lower(), "workspace": slug, "role": role, "link": link,
             "new_user": new_user}
        )  # fmt: skip
    else:
        click.echo(f"invited {email.strip().lower()} to {slug} as {role}; send them:", err=True)
        click.echo(link)


# -- keys ---------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """Per-user API keys for the AI endpoints."""


def _parse_when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.ClickException(
            f"expires_at: {value!r} is not a date and time (e.g. 2027-01-31T18:00:00+00:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@keys.command("create")
@click.option("--user", "user", required=True, metavar="EMAIL", help="Owner of the key.")
@click.option("--workspace", required=True, metavar="SLUG", help="Workspace the key is for.")
@click.option("--name", help="A label, e.g. the machine or tool using it.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="PATTERN",
    help="Endpoint ('/v1/messages', '/v1/*') or model ('model:claude-*') pattern the key may "
    "use (repeat; none: everything).",
)
@click.option("--expires-days", type=click.IntRange(1, 3650), help="Expire after N days.")
@click.option("--ttl", "ttl_seconds", type=click.IntRange(1), help="Expire after N seconds.")
@click.option("--expires-at", metavar="ISO-8601", help="Expire at this time (UTC if no zone).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (includes the key).")
@click.pass_context
def keys_create(
    ctx: click.Context,
    user: str,
    workspace: str,
    name: str | None,
    scopes: tuple[str, ...],
    expires_days: int | None,
    ttl_seconds: int | None,
    expires_at: str | None,
    as_json: bool,
) -> None:
    """Create a key and print it once: it cannot be shown again."""
    if sum(x is not None for x in (expires_days, ttl_seconds, expires_at)) > 1:
        raise click.ClickException("expires_at: give one of --expires-days, --ttl and --expires-at")
    expires_in = (
        timedelta(days=expires_days)
        if expires_days
        else timedelta(seconds=ttl_seconds)
        if ttl_seconds
        else None
    )
    at = _parse_when(expires_at)
    plaintext, key = _run(
        ctx,
        lambda s: s.create_key(user, workspace, name, list(scopes), expires_in, expires_at=at),
    )
    if as_json:
        _echo_json({"key": plaintext, **key.as_dict(), "status": key.status(key.created_at)})
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
@_JSON
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
@_JSON
@click.pass_context
def keys_revoke(ctx: click.Context, prefix: str, as_json: bool) -> None:
    """Stop the key PREFIX (e.g. sy_ab12cd34) from working."""

    async def revoke(service: Any) -> tuple[Any, Any]:
        before = await service.get_key(prefix)
        return before, await service.revoke_key(prefix)

    before, key = _run(ctx, revoke)
    if as_json:
        now = datetime.now(UTC)
        already = before.revoked_at is not None
        _echo_json({**key.as_dict(), "status": key.status(now), "already_revoked": already})
    elif before.revoked_at is not None:
        click.echo(f"{key.prefix} was already revoked on {_when(key.revoked_at)} UTC")
    else:
        click.echo(f"revoked {key.prefix}; {_propagation(ctx)}")


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
        _echo_json({"key": plaintext, **key.as_dict(), "status": key.status(key.created_at)})
        return
    click.echo(
        f"created key {key.prefix} replacing {prefix}, which works for {grace_seconds} s more",
        err=True,
    )
    click.echo(plaintext)
    click.echo("store it now: it is not shown again", err=True)


COMMANDS = (users, workspaces, keys)
