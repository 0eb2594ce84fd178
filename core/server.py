"""Running the app under uvicorn (chosen by measurement: see benchmarks/RESULTS.md)."""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from typing import Any

import uvicorn

from core import migrate
from core.app import app_from_registry, build_registry, make_app, switchyard_version
from core.home import pid_file, prepare_home
from core.registry import Registry
from core.settings import Settings, load_settings

__all__ = ["serve", "worker_app"]

log = logging.getLogger("switchyard")
CONFIG_ENV = "SWITCHYARD_CONFIG"


def migrate_registry(registry: Registry) -> None:
    """Bring every enabled plugin's tables to their newest revision."""
    sources = [migrate.kernel_source(), *registry.migration_sources]
    migrate.upgrade(registry.settings.database_url, sources)


def worker_app() -> Any:
    """Factory each uvicorn worker process calls when ``--workers`` > 1."""
    app = make_app(load_settings(os.environ.get(CONFIG_ENV) or None))
    gc.freeze()
    return app


def serve(settings: Settings, *, config_path: str | None = None) -> None:
    """Migrate, print where to go, then serve until SIGTERM/SIGINT.

    On SIGTERM uvicorn stops accepting connections, lets in-flight requests
    finish (up to ``server.graceful_timeout``), then runs the app's shutdown:
    jobs stop, queued events flush, the database closes.
    """
    logging.basicConfig(
        level=settings.logging.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    prepare_home(settings.home)
    registry = build_registry(settings)
    migrate_registry(registry)
    server = settings.server
    base = f"http://{server.host}:{server.port}"
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
    options: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "loop": "uvloop" if sys.platform != "win32" else "asyncio",
        "http": "httptools",
        "lifespan": "on",
        "access_log": settings.logging.access_log,
        "log_level": settings.logging.level.lower(),
        "timeout_graceful_shutdown": int(server.graceful_timeout) or None,
        "server_header": False,
    }
    pid_path = pid_file(settings.home)
    pid_path.write_text(f"{os.getpid()}\n")
    try:
        _run(registry, options, server.workers, config_path)
    finally:
        pid_path.unlink(missing_ok=True)


def _run(registry: Registry, options: dict[str, Any], workers: int, config_path: str | None) -> None:
    server = registry.settings.server
    if workers > 1:
        if config_path:
            os.environ[CONFIG_ENV] = os.path.abspath(config_path)
        os.environ["SWITCHYARD_SERVER__HOST"] = server.host
        os.environ["SWITCHYARD_SERVER__PORT"] = str(server.port)
        uvicorn.run("core.server:worker_app", factory=True, workers=workers, **options)
        return
    app = app_from_registry(registry)
    gc.freeze()
    # uvicorn re-raises SIGTERM after its graceful shutdown; a finished shutdown is a clean exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(app, **options)
