"""``switchyard plugin publish|search|install NAME[==V]|upgrade|rollback|uninstall --purge``.

Added to the sandbox's ``plugin`` group by the marketplace plugin (``extend``), so the group
stays one command. ``install`` keeps taking a local ``FILE`` (handled by the sandbox's
command, unchanged) and also takes ``NAME`` or ``NAME==VERSION`` from the configured indexes,
running every check of ``marketplace.client`` in order. Errors are one line on stderr, exit
code 2, and a refused check is named first (``signature: ...``).
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from sandbox.cli import PluginCommandError, _actor, _confirm, _parse_grant

if TYPE_CHECKING:
    from marketplace.client import InstallPlan, MarketplaceClient

__all__ = ["extend"]

T = TypeVar("T")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_PICKUP = "running servers pick this up within a few seconds"
_SANDBOX_INSTALL = "marketplace.sandbox_install"


def extend(group: click.Group) -> None:
    """Add the marketplace's commands to ``group``; safe to call more than once."""
    current = group.commands.get("install")
    if current is not None and current is not install_command:
        _ORIGINAL["install"] = current  # the sandbox's own command still installs a FILE
    for command in (install_command, publish_command, search_command, upgrade_command,
                    rollback_command, uninstall_command):  # fmt: skip
        group.add_command(command)


_ORIGINAL: dict[str, click.Command] = {}


# -- publish --------------------------------------------------------------------------------


@click.command("publish")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--index", "index", required=True, help="The instance's index URL (…/marketplace/).")
@click.option(
    "--api-key", envvar="SWITCHYARD_API_KEY", required=True, help="An API key allowed to publish."
)
@click.option("--bundle", type=click.Path(dir_okay=False), help="Default: FILE.sigstore.json.")
@click.option("--category", help="providers, middleware, analytics, security or integrations.")
@_JSON
def publish_command(
    file: str, index: str, api_key: str, bundle: str | None, category: str | None, as_json: bool
) -> None:
    """Publish FILE (a signed .syp) to an instance's marketplace."""
    package = Path(file)
    bundle_path = Path(bundle) if bundle else package.with_name(package.name + ".sigstore.json")
    if not bundle_path.is_file():
        raise PluginCommandError(
            f"{bundle_path}: no signature bundle; sign first with `switchyard plugin sign {file}`"
        )
    fields = {"category": category} if category else {}
    files = {
        "package": (package.name, package.read_bytes()),
        "bundle": (bundle_path.name, bundle_path.read_bytes()),
    }
    status, answer = _post_form(publish_url(index), api_key, fields, files)
    if status != 201:
        detail = answer.get("detail") if isinstance(answer, dict) else None
        check = answer.get("check") if isinstance(answer, dict) else None
        prefix = f"{check}: " if check and not str(detail).startswith(f"{check}:") else ""
        raise PluginCommandError(f"publish refused (HTTP {status}): {prefix}{detail or answer}")
    if as_json:
        click.echo(json.dumps(answer, indent=2))
    else:
        newest = answer["versions"][0] if answer.get("versions") else {}
        click.echo(
            f"published {answer['name']} {newest.get('version', '?')} to {index} "
            f"(signed by {answer['publisher']['identity']})"
        )


def publish_url(index: str) -> str:
    """``…/marketplace/index.json`` or ``…/marketplace/`` -> ``…/marketplace/publish``."""
    base = index.removesuffix("index.json")
    if not base.endswith("/"):
        base += "/"
    return base + "publish"


def _post_form(
    url: str, api_key: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]]
) -> tuple[int, Any]:
    boundary = "switchyard-" + secrets.token_hex(12)
    body = bytearray()
    for name, value in fields.items():
        body += f'--{boundary}\r\ncontent-disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for name, (filename, data) in files.items():
        media = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        body += (
            f'--{boundary}\r\ncontent-disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"content-type: {media}\r\n\r\n"
        ).encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        url,
        data=bytes(body),
        method="POST",
        headers={"content-type": f"multipart/form-data; boundary={boundary}", "x-api-key": api_key},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise PluginCommandError(f"{url}: cannot reach: {getattr(exc, 'reason', exc)}") from None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")[:200]


# -- search ---------------------------------------------------------------------------------


@click.command("search")
@click.argument("query", required=False, default="")
@click.option("--category", help="providers, middleware, analytics, security or integrations.")
@click.option(
    "--index", "indexes", multiple=True, help="Search this index (default: [marketplace] indexes)."
)
@_JSON
@click.pass_context
def search_command(
    ctx: click.Context, query: str, category: str | None, indexes: tuple[str, ...], as_json: bool
) -> None:
    """Search the configured marketplace indexes."""
    hits = _run(ctx, lambda client: client.search(query, category), indexes=indexes)
    if as_json:
        click.echo(json.dumps([{"index": h.index_url, **_plugin_dict(h)} for h in hits], indent=2))
        return
    if not hits:
        click.echo("no plugins found")
        return
    for hit in hits:
        latest = hit.latest
        rating = hit.plugin.rating.get("average")
        stars = f"{rating:.1f}/5" if isinstance(rating, int | float) else "unrated"
        click.echo(
            f"{hit.plugin.name} {latest.version if latest else '-'}  [{hit.plugin.category}]  "
            f"{hit.plugin.downloads} downloads, {stars}\n  {hit.plugin.summary}"
        )


def _plugin_dict(hit: Any) -> dict[str, Any]:
    import msgspec

    return msgspec.to_builtins(hit.plugin)


# -- install / upgrade / rollback / uninstall -----------------------------------------------


@click.command("install")
@click.argument("target")
@click.option(
    "--index",
    "indexes",
    multiple=True,
    help="Install from this index (default: [marketplace] indexes).",
)
@click.option("--identity", help="Expected signer identity (instead of the index's publisher).")
@click.option("--issuer", help="Expected OIDC issuer (instead of the index's publisher).")
@click.option("--workspace", default="default", show_default=True,
              help="Workspace whose policy on unsigned installs applies.")  # fmt: skip
@click.option(
    "--grant", "grant", metavar="CAPS", help="Grant these capabilities (comma-separated)."
)
@click.option("--yes", "-y", is_flag=True, help="Grant every capability asked for; do not ask.")
@click.option(
    "--required/--not-required", default=None, help="Whether requests fail when this plugin fails."
)
@click.option("--bundle", type=click.Path(dir_okay=False),
              help="A local FILE's Sigstore bundle (default: FILE.sigstore.json).")  # fmt: skip
@click.option("--allow-unsigned", is_flag=True,
              help="Install an unsigned package even where the workspace does not allow it "
                   "(it stays marked unsigned).")  # fmt: skip
@_JSON
@click.pass_context
def install_command(
    ctx: click.Context,
    target: str,
    indexes: tuple[str, ...],
    identity: str | None,
    issuer: str | None,
    workspace: str,
    grant: str | None,
    yes: bool,
    required: bool | None,
    bundle: str | None,
    allow_unsigned: bool,
    as_json: bool,
) -> None:
    """Install NAME or NAME==VERSION from the marketplace, or a local FILE (every check, in
    order; a local file's signature is its FILE.sigstore.json, checked against --identity and
    --issuer)."""
    from marketplace.client import InstallRefused, parse_requirement

    given = _parse_grant(grant)
    if target.endswith(".syp") or os.path.sep in target or Path(target).is_file():

        async def local(client: MarketplaceClient) -> Any:
            try:
                plan = await client.plan_file(target, identity=identity, issuer=issuer, bundle=bundle)
            except InstallRefused as exc:
                raise PluginCommandError(f"install refused at check {exc}") from None
            return await _confirm_and_install(
                client, plan, given, grant, yes, required, workspace, as_json, allow_unsigned
            )

        _echo_installed(_run(ctx, local, indexes=indexes), as_json, "installed")
        return

    try:
        name, version = parse_requirement(target)
    except ValueError as exc:
        raise PluginCommandError(str(exc)) from None

    async def work(client: MarketplaceClient) -> Any:
        try:
            plan = await client.plan_install(name, version, identity=identity, issuer=issuer)
        except InstallRefused as exc:
            raise PluginCommandError(f"install refused at check {exc}") from None
        return await _confirm_and_install(
            client, plan, given, grant, yes, required, workspace, as_json
        )

    installed = _run(ctx, work, indexes=indexes)
    _echo_installed(installed, as_json, "installed")


@click.command("upgrade")
@click.argument("name")
@click.option("--index", "indexes", multiple=True, help="Upgrade from this index.")
@click.option("--workspace", default="default", show_default=True)
@click.option("--grant", "grant", metavar="CAPS", help="Grant new capabilities (comma-separated).")
@click.option("--yes", "-y", is_flag=True, help="Grant every new capability asked for; do not ask.")
@_JSON
@click.pass_context
def upgrade_command(
    ctx: click.Context,
    name: str,
    indexes: tuple[str, ...],
    workspace: str,
    grant: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Install the newest version of NAME from the marketplace, if newer (every check again)."""
    from marketplace.client import InstallRefused

    given = _parse_grant(grant)

    async def work(client: MarketplaceClient) -> Any:
        try:
            plan = await client.plan_upgrade(name)
        except InstallRefused as exc:
            raise PluginCommandError(f"upgrade refused at check {exc}") from None
        if plan is None:
            return None
        return await _confirm_and_install(client, plan, given, grant, yes, None, workspace, as_json)

    installed = _run(ctx, work, indexes=indexes)
    if installed is None:
        click.echo(f"{name} is up to date")
        return
    _echo_installed(installed, as_json, "upgraded to")


@click.command("rollback")
@click.argument("name")
@_JSON
@click.pass_context
def rollback_command(ctx: click.Context, name: str, as_json: bool) -> None:
    """Go back to the version of NAME installed before the current one."""
    from marketplace.client import InstallRefused

    async def work(client: MarketplaceClient) -> Any:
        try:
            return await client.rollback(name, installed_by=_actor())
        except InstallRefused as exc:
            raise PluginCommandError(f"rollback refused at check {exc}") from None

    _echo_installed(_run(ctx, work), as_json, "rolled back to")


@click.command("uninstall")
@click.argument("name")
@click.option("--purge", is_flag=True, help="Also delete the plugin's stored (kv) data.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_JSON
@click.pass_context
def uninstall_command(ctx: click.Context, name: str, purge: bool, yes: bool, as_json: bool) -> None:
    """Remove an installed plugin and its files; its stored data stays unless --purge."""
    from sandbox.store import StoreError

    async def work(client: MarketplaceClient) -> Any:
        found = await client.store.get(name)
        if found is not None and not yes:
            what = "and delete its stored data" if purge else "(its stored data is kept)"
            if not _confirm(f"Uninstall {name} {found.version} {what}?"):
                raise PluginCommandError("nothing was uninstalled")
        try:
            return await client.uninstall(name, purge=purge)
        except StoreError as exc:
            raise PluginCommandError(str(exc)) from None

    removed, kept = _run(ctx, work)
    if as_json:
        click.echo(json.dumps({**removed.as_dict(), "purged": purge, "kept_keys": kept}, indent=2))
        return
    data = "its data was deleted" if purge else f"kept {kept} stored key(s) (--purge deletes them)"
    click.echo(f"uninstalled {removed.name} {removed.version}; {data}; {_PICKUP}")


# -- helpers --------------------------------------------------------------------------------


async def _confirm_and_install(
    client: MarketplaceClient,
    plan: InstallPlan,
    given: set[str],
    grant: str | None,
    yes: bool,
    required: bool | None,
    workspace: str,
    as_json: bool,
    allow_unsigned: bool = False,
) -> Any:
    from marketplace.client import InstallRefused
    from sandbox.cli import decide_grants

    _describe(plan, err=as_json)
    grants = decide_grants(plan.manifest, list(plan.new_capabilities), given, grant, yes)
    try:
        return await client.install(
            plan, granted=grants, workspace=workspace, required=required, installed_by=_actor(),
            allow_unsigned=allow_unsigned,
        )
    except InstallRefused as exc:
        raise PluginCommandError(f"install refused at check {exc}") from None


def _describe(plan: InstallPlan, *, err: bool) -> None:
    """The sandbox's description of what is asked for, then where it came from and each check."""
    from sandbox.cli import describe_package

    kept = set(plan.capabilities) - set(plan.new_capabilities)
    signer = f"{plan.identity} ({plan.issuer})" if plan.signed else None
    describe_package(plan.package, plan.current, kept, err=err, signed_by=signer)
    say = lambda text: click.echo(text, err=err)
    say(f"  from {plan.index_url or 'a local file'}")
    for check in plan.checks:
        say(f"  {'ok  ' if check.passed else 'WARN'} {check.name}: {check.detail}")


def _echo_installed(installed: Any, as_json: bool, word: str) -> None:
    if as_json:
        click.echo(json.dumps(installed.as_dict(), indent=2))
        return
    mark = "signed" if installed.signed else "unsigned"
    click.echo(f"{word} {installed.name} {installed.version} ({mark}); {_PICKUP}")


def _run(
    ctx: click.Context,
    work: Callable[[MarketplaceClient], Awaitable[T]],
    *,
    indexes: tuple[str, ...] = (),
) -> T:
    """Run ``work(client)`` on the configured database, home and indexes, schema checked first."""
    from core.db import Database
    from core.settings import SettingsError, load_settings
    from marketplace import index_urls, marketplace_settings, trust_settings
    from marketplace.client import MarketplaceClient
    from marketplace.index import IndexError_

    try:
        settings = load_settings(ctx.find_root().params.get("config"))
        section = marketplace_settings(settings)
        trust = trust_settings(settings)
    except SettingsError as exc:
        raise PluginCommandError(str(exc)) from None
    _require_schema(settings.database_url)

    async def go() -> T:
        db = Database(settings.database_url)
        try:
            client = MarketplaceClient(
                db,
                settings.home,
                indexes=list(indexes) or index_urls(settings, section),
                trust=trust,
                unsigned_workspaces=section.allow_unsigned_workspaces,
            )
            return await work(client)
        finally:
            await db.dispose()

    try:
        return asyncio.run(go())
    except IndexError_ as exc:
        raise PluginCommandError(str(exc)) from None


def _require_schema(url: str) -> None:
    from core import migrate
    from marketplace import MIGRATIONS
    from marketplace.models import metadata
    from sandbox.models import metadata as sandbox_metadata
    from sandbox.store import MIGRATIONS as SANDBOX_MIGRATIONS

    sources = [
        migrate.MigrationSource("sandbox", sandbox_metadata, SANDBOX_MIGRATIONS),
        migrate.MigrationSource("marketplace", metadata, MIGRATIONS),
    ]
    missing = set(migrate.heads(url, sources)) - set(migrate.current(url, sources))
    if missing:
        raise PluginCommandError(
            f"the database is not up to date (missing {', '.join(sorted(missing))}); "
            "run `switchyard db upgrade` first"
        )
