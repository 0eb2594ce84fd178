"""Running the app under granian (chosen by measurement: see benchmarks/RESULTS.md).

granian's ASGI server matched uvicorn's throughput and kept its tail latency flat at
256 connections, where uvicorn on uvloop left requests waiting for seconds. The main
process supervises the workers; each worker builds the app from the same settings.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from granian.constants import Interfaces, Loops
from granian.log import LogLevels
from granian.server import MPServer

from core.home import pid_file, prepare_home
from core.settings import Settings, load_settings

if TYPE_CHECKING:
    from core.registry import Registry

__all__ = ["serve", "worker_app"]

log = logging.getLogger("switchyard")
CONFIG_ENV = "SWITCHYARD_CONFIG"


def migrate_registry(registry: Registry) -> None:
    """Bring every enabled plugin's tables to their newest revision."""
    from core import migrate

    sources = [migrate.kernel_source(), *registry.migration_sources]
    migrate.upgrade(registry.settings.database_url, sources)


def _prepare(settings: Settings) -> None:
    """Load every plugin once, migrate and print the banner: in a child process, so the
    supervisor that outlives it stays small (its memory is forked into every worker)."""
    from core.app import build_registry

    registry = build_registry(settings)
    migrate_registry(registry)
    _print_banner(registry)
    asyncio.run(_plugin_banner_lines(registry))


async def _plugin_banner_lines(registry: Registry) -> None:
    """Lines plugins add to the banner (the auth plugin's one-time first-admin link)."""
    try:
        for lines in await registry.hooks.acall("banner", registry=registry):
            for line in lines or ():
                print(f"  {line}", flush=True)
    finally:
        assert registry.db is not None
        await registry.db.dispose()


def worker_app() -> Any:
    """Factory each worker process calls: the app for the settings ``serve`` was given."""
    from core.app import make_app

    settings = load_settings(os.environ.get(CONFIG_ENV) or None)
    logging.basicConfig(level=settings.logging.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return make_app(settings)


class _Supervisor(MPServer):
    """granian's supervisor, with SIGHUP passed on to the workers.

    granian's own SIGHUP respawns every worker, dropping in-memory state and
    starting a new worker even from a broken file. Passed on instead, each worker
    re-reads its settings in place (the kernel's ``reload`` hook) and keeps the
    working configuration if the new one does not validate.
    """

    def signal_handler_reload(self, *args: Any, **kwargs: Any) -> None:
        for worker in list(self.wrks):
            try:
                os.kill(worker.inner.pid, signal.SIGHUP)
            except (ProcessLookupError, AttributeError, TypeError):
                continue


def _print_banner(registry: Registry) -> None:
    from core.app import switchyard_version

    settings = registry.settings
    base = f"http://{settings.server.host}:{settings.server.port}"
    for warning in getattr(settings, "warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    for report in registry.plugins.values():
        if report.status == "failed":
            reason = (report.error or "").strip().splitlines()[-1:] or ["unknown error"]
            print(f"warning: plugin {report.name!r} failed to load: {reason[0]} (see {base}/ui/plugins)",
                  file=sys.stderr)
    print(f"Switchyard {switchyard_version()} serving on {base}", flush=True)
    print(f"  UI:        {base}/ui/", flush=True)
    print(f"  Anthropic: ANTHROPIC_BASE_URL={base}", flush=True)
    print(f"  State:     {settings.home}", flush=True)


def serve(settings: Settings, *, config_path: str | None = None) -> None:
    """Migrate once, print where to go, then serve until SIGTERM/SIGINT.

    On SIGTERM the workers stop accepting connections, let in-flight requests
    finish, then run the app's shutdown: jobs stop, queued events flush, the
    database closes. SIGHUP makes every worker reload its settings.
    """
    logging.basicConfig(level=settings.logging.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    prepare_home(settings.home)
    child = multiprocessing.get_context("spawn").Process(target=_prepare, args=(settings,), name="switchyard-prepare")
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(child.exitcode or 1)
    server = settings.server
    # Workers rebuild the app from the same file, with the command line's overrides.
    if config_path:
        os.environ[CONFIG_ENV] = os.path.abspath(config_path)
    os.environ["SWITCHYARD_HOME"] = settings.home
    os.environ["SWITCHYARD_SERVER__HOST"] = server.host
    os.environ["SWITCHYARD_SERVER__PORT"] = str(server.port)
    supervisor = _Supervisor(
        "core.server:worker_app",
        factory=True,
        address=server.host,
        port=server.port,
        interface=Interfaces.ASGI,
        workers=server.workers,
        loop=Loops.uvloop if sys.platform != "win32" else Loops.asyncio,
        log_access=settings.logging.access_log,
        log_level=LogLevels(settings.logging.level.lower()),
        workers_kill_timeout=int(server.graceful_timeout) or None,
        respawn_failed_workers=True,
    )
    pid_path = pid_file(settings.home)
    pid_path.write_text(f"{os.getpid()}\n")
    try:
        supervisor.serve()
    finally:
        pid_path.unlink(missing_ok=True)
