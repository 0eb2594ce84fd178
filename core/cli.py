"""The ``switchyard`` command: kernel commands plus every plugin's ``add_cli_command``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from core.actions import ConfigurationError
from core.policy_cli import policy
from core.settings import Settings, SettingsError, load_settings

__all__ = ["cli", "main"]


class _Context:
    """Settings and registry, loaded once per invocation and only when needed."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None
        self._registry: Any = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from core.app import build_registry

            self._registry = build_registry(self.settings)
        return self._registry


class _PluginGroup(click.Group):
    """Adds the commands plugins registered, looked up only when asked for."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        obj = ctx.ensure_object(dict)
        if "plugin_commands" not in obj:
            try:
                registry = _ctx(ctx).registry
                obj["plugin_commands"] = {c.command.name: c.command for c in registry.cli_commands}
            except (SettingsError, ConfigurationError):
                obj["plugin_commands"] = {}
        return obj["plugin_commands"]

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugin_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name) or self._plugin_commands(ctx).get(cmd_name)
        if found is None:
            self._explain_missing(ctx, cmd_name)
        return found

    def _explain_missing(self, ctx: click.Context, cmd_name: str) -> None:
        """A command of a plugin that failed to load: say why instead of 'No such command'."""
        registry = ctx.find_root().ensure_object(dict).get("switchyard")
        registry = getattr(registry, "_registry", None)
        report = registry.plugins.get(cmd_name) if registry is not None else None
        if report is not None and report.status == "failed":
            reason = (report.error or "").strip().splitlines()[-1:] or ["unknown error"]
            raise click.UsageError(f"'{cmd_name}' is unavailable: plugin {cmd_name!r} failed to load: {reason[0]}")


def _ctx(ctx: click.Context) -> _Context:
    root = ctx.find_root()
    obj = root.ensure_object(dict)
    if "switchyard" not in obj:
        obj["switchyard"] = _Context(root.params.get("config"))
    return obj["switchyard"]



CONFIG_OPTION = click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    envvar="SWITCHYARD_CONFIG",
    help="switchyard.toml or a claude-code-router config.json (default: built-in defaults).",
)


@click.group(cls=_PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@CONFIG_OPTION
@click.version_option(package_name="switchyard", prog_name="switchyard")
def cli(config: str | None) -> None:
    """Switchyard: a self-hosted gateway between AI clients and model providers."""


@cli.command()
@CONFIG_OPTION
@click.option("--host", help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 3456).")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes (default 1).")
@click.pass_context
def serve(ctx: click.Context, config: str | None, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the gateway and the UI (migrates the database first)."""
    import msgspec

    from core.server import serve as run

    state = _ctx(ctx)
    if config:
        state.config_path = config
    settings = state.settings
    server = msgspec.structs.replace(
        settings.server,
        host=host or settings.server.host,
        port=port or settings.server.port,
        workers=workers or settings.server.workers,
    )
    run(msgspec.structs.replace(settings, server=server), config_path=state.config_path)


@cli.group()
def db() -> None:
    """Database migrations (Alembic), covering every enabled plugin's tables."""


def _sources(ctx: click.Context) -> tuple[str, list[Any]]:
    from core import migrate

    registry = _ctx(ctx).registry
    return registry.settings.database_url, [migrate.kernel_source(), *registry.migration_sources]


@db.command()
@click.option("--revision", default="heads", show_default=True)
@click.pass_context
def upgrade(ctx: click.Context, revision: str) -> None:
    """Upgrade the database to the newest revision of every plugin."""
    from core import migrate

    url, sources = _sources(ctx)
    migrate.upgrade(url, sources, revision)
    click.echo(f"database at {', '.join(migrate.current(url, sources)) or 'base'}")


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def current(ctx: click.Context, as_json: bool) -> None:
    """Show the current revision of each branch."""
    from core import migrate

    url, sources = _sources(ctx)
    revisions = migrate.current(url, sources)
    click.echo(json.dumps(revisions) if as_json else ("\n".join(revisions) or "base (empty database)"))


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def history(ctx: click.Context, as_json: bool) -> None:
    """List every revision, newest first."""
    from core import migrate

    url, sources = _sources(ctx)
    rows = migrate.history(url, sources)
    if as_json:
        click.echo(json.dumps([{"revision": r, "down_revision": d, "doc": doc} for r, d, doc in rows]))
        return
    for revision, down, doc in rows:
        click.echo(f"{down or '<base>'} -> {revision}  {doc}")


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def plugins_command(ctx: click.Context, as_json: bool) -> None:
    """List every plugin: version, origin, status, hooks and routes."""
    reports = sorted(_ctx(ctx).registry.plugins.values(), key=lambda r: (r.name != "core", r.name))
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in reports], indent=2))
        return
    for r in reports:
        click.echo(f"{r.name} {r.version or '-'} [{r.status}] from {r.origin}")
        for label, items in (("hooks", r.hooks), ("routes", r.routes), ("pages", r.views)):
            if items:
                click.echo(f"    {label}: {', '.join(sorted(set(items)))}")
        if r.error:
            click.echo(f"    error: {r.error.strip().splitlines()[-1]}")


cli.add_command(policy)


def main(argv: list[str] | None = None) -> None:
    """Entry point: errors become one clear message on stderr and a non-zero exit."""
    try:
        cli.main(args=argv, prog_name="switchyard", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"switchyard: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("switchyard: aborted", err=True)
        sys.exit(1)
    except (SettingsError, ConfigurationError) as exc:
        click.echo(f"switchyard: error: {exc}", err=True)
        sys.exit(2)
