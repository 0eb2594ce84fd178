"""``switchyard plugin ...``: write, build, test and pack wasm plugins; install and manage them.

Registered by the sandbox plugin (``sandbox.store.includeme_storage``), not by the kernel:
the kernel imports no plugin, and without the sandbox its tables' migrations are not
available, so installing could not work anyway. ``new``, ``build``, ``test`` and ``pack``
touch only the plugin's folder; the others work on the configured database and
``$SWITCHYARD_HOME/plugins`` and, like every admin command, check first that the schema
is migrated instead of migrating as a side effect. Running servers poll the store and pick
changes up within a few seconds, without a restart.

Errors are one line on stderr with exit code 2; data commands take ``--json``.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from sandbox.manifest import CAPABILITIES, CAPABILITY_HELP, Manifest, ManifestError

if TYPE_CHECKING:
    from sandbox.package import Package
    from sandbox.store import InstalledPlugin, PluginStore

__all__ = ["PluginCommandError", "plugin"]

T = TypeVar("T")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_PICKUP = "running servers pick this up within a few seconds"


class PluginCommandError(click.ClickException):
    """One line on stderr, exit code 2, like the kernel's settings errors."""

    exit_code = 2


@click.group()
def plugin() -> None:
    """Wasm plugins: write, build, test and pack them; install and manage them."""


# -- authoring ------------------------------------------------------------------------------


@plugin.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Folder to create the plugin folder in.",
)
def new_command(name: str, parent: str) -> None:
    """Create NAME/, a plugin that builds, passes its own test and packs."""
    from sandbox.scaffold import ScaffoldError, scaffold

    try:
        folder = scaffold(name, Path(parent))
    except ScaffoldError as exc:
        raise PluginCommandError(str(exc)) from None
    click.echo(f"created {folder}")
    click.echo(f"next: switchyard plugin build {folder} && switchyard plugin test {folder}")


@plugin.command("build")
@click.argument("directory", type=click.Path(file_okay=False))
def build_command(directory: str) -> None:
    """Compile DIR/src/*.c to DIR/plugin.wasm (zig cc, wasm32, no WASI)."""
    from sandbox.devtools import DevError, build

    try:
        out = build(Path(directory))
    except DevError as exc:
        raise PluginCommandError(str(exc)) from None
    click.echo(f"built {out} ({out.stat().st_size} bytes)")


@plugin.command("test")
@click.argument("directory", type=click.Path(file_okay=False))
@_JSON
def test_command(directory: str, as_json: bool) -> None:
    """Run DIR/plugin.wasm in the real sandbox against DIR/tests/cases.json."""
    from sandbox.devtools import DevError, run_cases

    try:
        results = run_cases(Path(directory))
    except DevError as exc:
        raise PluginCommandError(str(exc)) from None
    failed = [r for r in results if not r.passed]
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        for r in results:
            click.echo(
                f"{'ok  ' if r.passed else 'FAIL'} {r.name} ({r.hook}, {r.elapsed_ms:.2f} ms)"
            )
            if not r.passed:
                click.echo(f"     {r.problem}")
        click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise PluginCommandError(f"{len(failed)} of {len(results)} cases failed")


@plugin.command("pack")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(), help="Folder or .syp path (default: the current folder).")
@_JSON
def pack_command(directory: str, out: str | None, as_json: bool) -> None:
    """Write NAME-VERSION.syp from DIR (plugin.toml, plugin.wasm, README.md)."""
    import hashlib

    from sandbox.package import PackageError, pack

    try:
        path = pack(Path(directory), out)
    except PackageError as exc:
        raise PluginCommandError(str(exc)) from None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if as_json:
        click.echo(json.dumps({"path": str(path), "sha256": digest, "size": path.stat().st_size}))
    else:
        click.echo(f"packed {path}\nsha256 {digest}")


# -- administration -------------------------------------------------------------------------


@plugin.command("install")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--grant", "grant", metavar="CAPS", help="Grant these capabilities (comma-separated)."
)
@click.option("--yes", "-y", is_flag=True, help="Grant every capability asked for; do not ask.")
@click.option(
    "--required/--not-required",
    default=None,
    help="Whether requests fail when this plugin fails (default: as before, or not required).",
)
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="Install an unsigned package anyway (it stays marked unsigned).",
)
@_JSON
@click.pass_context
def install_command(
    ctx: click.Context,
    file: str,
    grant: str | None,
    yes: bool,
    required: bool | None,
    as_json: bool,
    allow_unsigned: bool = False,
) -> None:
    """Install a local .syp package. Without the marketplace plugin nothing can check a
    signature, so the package counts as unsigned and needs --allow-unsigned."""
    from sandbox.package import PackageError, open_package

    if not allow_unsigned:
        raise PluginCommandError(
            f"{file} would install unsigned (signatures are checked by the marketplace plugin, "
            "which is not enabled); pass --allow-unsigned to install it anyway"
        )
    given = _parse_grant(grant)
    try:
        package = open_package(Path(file))
    except PackageError as exc:
        raise PluginCommandError(str(exc)) from None

    async def work(store: PluginStore) -> InstalledPlugin:
        from sandbox.store import StoreError

        manifest = package.manifest
        current = await store.get(manifest.name)
        kept = set(current.granted) & set(manifest.capabilities) if current else set()
        needed = [c for c in manifest.capabilities if c not in kept]
        describe_package(package, current, kept, err=as_json)
        grants = decide_grants(manifest, needed, given, grant, yes)
        try:
            return await store.install(
                package, granted=grants, required=required, signed=False, installed_by=_actor()
            )
        except StoreError as exc:
            raise PluginCommandError(str(exc)) from None

    installed = _run(ctx, work)
    if as_json:
        click.echo(json.dumps(installed.as_dict(), indent=2))
    else:
        click.echo(f"installed {installed.name} {installed.version} (unsigned); {_PICKUP}")


@plugin.command("list")
@_JSON
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """List installed wasm plugins, enabled or not."""
    found = _run(ctx, lambda store: store.installed(enabled_only=False))
    if as_json:
        click.echo(json.dumps([p.as_dict() for p in found], indent=2))
        return
    if not found:
        click.echo(
            "no wasm plugins installed; install one with `switchyard plugin install FILE.syp`"
        )
        return
    rows = [
        (
            p.name,
            p.version,
            "enabled" if p.enabled else "disabled",
            ",".join(p.granted) or "-",
            "yes" if p.required else "no",
            "signed" if p.signed else "unsigned",
            p.disabled_reason or "",
        )
        for p in found
    ]
    headers = ("NAME", "VERSION", "STATUS", "GRANTED", "REQUIRED", "SIGNATURE", "REASON")
    widths = [max(len(c) for c in column) for column in zip(headers, *rows, strict=True)]
    for line in (headers, *rows):
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


@plugin.command("enable")
@click.argument("name")
@_JSON
@click.pass_context
def enable_command(ctx: click.Context, name: str, as_json: bool) -> None:
    """Enable an installed plugin (also after it was disabled for faults)."""
    found = _run(ctx, lambda store: _store_call(store.set_enabled(name, True)))
    _echo_state(found, as_json, "enabled")


@plugin.command("disable")
@click.argument("name")
@click.option("--reason", help="Why (shown in `plugin list`).")
@_JSON
@click.pass_context
def disable_command(ctx: click.Context, name: str, reason: str | None, as_json: bool) -> None:
    """Disable an installed plugin without removing it."""
    why = reason or f"disabled by {_actor()}"
    found = _run(ctx, lambda store: _store_call(store.set_enabled(name, False, why)))
    _echo_state(found, as_json, "disabled")


@plugin.command("uninstall")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_JSON
@click.pass_context
def uninstall_command(ctx: click.Context, name: str, yes: bool, as_json: bool) -> None:
    """Remove an installed plugin, its files and its stored (kv) data."""

    async def work(store: PluginStore) -> InstalledPlugin:
        found = await store.get(name)
        if found is None:
            return await _store_call(store.uninstall(name))  # the store's "not installed" error
        if not yes and not _confirm(
            f"Uninstall {name} {found.version} and delete its stored data?"
        ):
            raise PluginCommandError("nothing was uninstalled")
        return await _store_call(store.uninstall(name))

    removed = _run(ctx, work)
    if as_json:
        click.echo(json.dumps(removed.as_dict(), indent=2))
    else:
        click.echo(f"uninstalled {removed.name} {removed.version}; {_PICKUP}")


# -- helpers --------------------------------------------------------------------------------


def _parse_grant(grant: str | None) -> set[str]:
    if grant is None:
        return set()
    names = [g.strip() for g in grant.split(",") if g.strip()]
    for name in names:
        if name not in CAPABILITIES:
            raise PluginCommandError(
                f"--grant: unknown capability {name!r}; expected some of {', '.join(CAPABILITIES)}"
            )
    return set(names)


def decide_grants(
    manifest: Manifest, needed: list[str], given: set[str], grant: str | None, yes: bool
) -> set[str]:
    """What the admin grants: everything with --yes, exactly --grant, or what they confirm.
    Anything short of what the package needs installs nothing."""
    unasked = sorted(given - set(manifest.capabilities))
    if unasked:
        raise PluginCommandError(
            f"--grant: {manifest.name} does not ask for {', '.join(unasked)}; "
            f"it asks for {', '.join(manifest.capabilities) or 'nothing'}"
        )
    if yes:
        return set(needed)
    if grant is not None:
        missing = [c for c in needed if c not in given]
        if missing:
            raise PluginCommandError(
                f"{manifest.name} asks for {', '.join(missing)}, not granted by --grant; "
                "nothing was installed"
            )
        return given
    question = (
        f"Grant {', '.join(needed)} and install {manifest.name} {manifest.version}?"
        if needed
        else f"Install {manifest.name} {manifest.version}?"
    )
    if not _confirm(question):
        raise PluginCommandError("not granted; nothing was installed")
    return set(needed)


def describe_package(
    package: Package,
    current: InstalledPlugin | None,
    kept: set[str],
    *,
    err: bool,
    signed_by: str | None = None,
) -> None:
    """What the admin is about to allow, in words; on stderr when stdout carries JSON.
    ``signed_by`` names a verified signer; None means unsigned (said loudly)."""
    m: Manifest = package.manifest

    def say(text: str = "", **style: Any) -> None:
        click.echo(click.style(text, **style) if style else text, err=err)

    change = f" (replaces {current.version})" if current else ""
    say(f"{m.name} {m.version}{change}", bold=True)
    say(f"  {m.summary}")
    say(
        f"  license {m.license}, category {m.category}, ABI {m.abi}, needs switchyard >= {m.min_host_version}"
    )
    say(f"  hooks: {', '.join(m.hooks)}")
    if m.capabilities:
        say("  capabilities asked for:")
        for cap in m.capabilities:
            meaning = CAPABILITY_HELP[cap]
            if cap == "http" and m.http is not None:
                meaning += ": " + ", ".join(m.http.allowed_hosts)
            note = " (already granted)" if cap in kept else ""
            say(f"    {cap:<7}{meaning}{note}")
    else:
        say("  capabilities asked for: none")
    limits = m.limits
    parts = [
        f"fuel {limits.fuel}" if limits.fuel else "",
        f"memory {limits.memory_mb} MiB" if limits.memory_mb else "",
        f"timeout {limits.timeout_ms} ms" if limits.timeout_ms else "",
    ]
    shown = ", ".join(p for p in parts if p) or "the defaults"
    say(f"  limits: {shown} (capped by the [sandbox] settings)")
    say(f"  sha256 {package.sha256}")
    if signed_by:
        say(f"  signed by {signed_by}")
    else:
        say("  UNSIGNED: nobody vouches for where this package came from", bold=True)


def _confirm(question: str) -> bool:
    """Ask on stderr; no answer (EOF, as in a script without --yes) is a refusal."""
    try:
        answer = click.confirm(question, default=False, err=True)
    except click.Abort:
        answer = False
    if not sys.stdin.isatty():  # a piped answer is not echoed: end the prompt's line
        click.echo(err=True)
    return answer


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def _echo_state(found: InstalledPlugin, as_json: bool, word: str) -> None:
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2))
    else:
        click.echo(f"{word} {found.name} {found.version}; {_PICKUP}")


async def _store_call(awaitable: Awaitable[T]) -> T:
    from sandbox.store import StoreError

    try:
        return await awaitable
    except StoreError as exc:
        raise PluginCommandError(str(exc)) from None


def _run(ctx: click.Context, work: Callable[[PluginStore], Awaitable[T]]) -> T:
    """Run ``work(store)`` on the configured database and home, schema checked first."""
    from core.db import Database
    from core.settings import load_settings
    from sandbox.store import PluginStore

    settings = load_settings(ctx.find_root().params.get("config"))
    _require_schema(settings.database_url)

    async def go() -> T:
        db = Database(settings.database_url)
        try:
            return await work(PluginStore(db, settings.home))
        finally:
            await db.dispose()

    try:
        return asyncio.run(go())
    except ManifestError as exc:  # a stored manifest no longer validates
        raise PluginCommandError(str(exc)) from None


def _require_schema(url: str) -> None:
    from core import migrate
    from sandbox.models import metadata
    from sandbox.store import MIGRATIONS

    source = migrate.MigrationSource("sandbox", metadata, MIGRATIONS)
    missing = set(migrate.heads(url, [source])) - set(migrate.current(url, [source]))
    if missing:
        raise PluginCommandError(
            f"the database is not up to date (missing {', '.join(sorted(missing))}); "
            "run `switchyard db upgrade` first"
        )
