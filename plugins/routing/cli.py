"""``switchyard routing ...``: check the routing configuration and reload a running server."""

from __future__ import annotations

import json
import os
import signal

import click
import msgspec

from core.home import read_pid

__all__ = ["routing"]


@click.group()
def routing() -> None:
    """Providers, routes and fallbacks of the routing plugin."""


@routing.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def check(ctx: click.Context, as_json: bool) -> None:
    """Validate the routing configuration and show the effective routes."""
    from plugins.routing.reload import load_routing_config

    config = load_routing_config(ctx.find_root().params.get("config"))
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(config), indent=2))
        return
    click.echo(f"source: {config.source}")
    for scenario in ("default", "background", "think", "long_context", "web_search", "image"):
        target = getattr(config.router, scenario)
        if target:
            fallbacks = config.fallback.get(scenario, [])
            click.echo(f"  {scenario:<13} {target}" + (f"  then {', '.join(fallbacks)}" if fallbacks else ""))
    for provider in config.providers.values():
        click.echo(f"  provider {provider.name} ({provider.api}): {len(provider.api_keys)} key(s), "
                   f"models {', '.join(provider.models) or '-'}")


@routing.command()
@click.pass_context
def reload(ctx: click.Context) -> None:
    """Make the running server re-read its routing configuration (sends SIGHUP)."""
    from core.settings import default_home
    from plugins.routing.reload import load_routing_config

    load_routing_config(ctx.find_root().params.get("config"))  # refuse to signal with a broken file
    pid = read_pid(default_home())
    if pid is None:
        raise click.ClickException("no running server found (no switchyard.pid in SWITCHYARD_HOME)")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise click.ClickException(f"the server recorded as pid {pid} is not running") from None
    click.echo(f"asked server {pid} to reload its routing configuration")
