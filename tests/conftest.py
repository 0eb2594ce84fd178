"""Shared fixtures: real apps built from small inline plugins, on a throwaway SQLite database."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from core import migrate
from core.app import app_from_registry, build_registry
from core.settings import Settings, load_settings
from tests.identity_plugin import ADMIN, NAME, identity_plugin

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test may touch the developer's real ~/.switchyard."""
    home = tmp_path / "home"
    monkeypatch.setenv("SWITCHYARD_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("SWITCHYARD_") and name not in ("SWITCHYARD_HOME",) and "__" in name:
            monkeypatch.delenv(name)
    return home


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., Settings]:
    """Settings from TOML text (or defaults) with the home in tmp_path."""

    def factory(toml: str | None = None, env: dict[str, str] | None = None) -> Settings:
        path = None
        if toml is not None:
            path = tmp_path / "switchyard.toml"
            path.write_text(toml)
        return load_settings(path, env=env or {}, home=str(tmp_path / "home"))

    return factory


@pytest.fixture
def make_app(settings_for: Callable[..., Settings]) -> Callable[..., Litestar]:
    """``make_app(plugins=[...])``: a real app from inline plugins, database migrated.

    Every request is signed in as ``identity`` (default: an admin of workspace ``default``)
    through the test identity plugin, unless it sends ``x-test-user``; tests about signing in
    pass ``identity=None`` (nobody by default) or add their own identity plugin.
    """

    def factory(
        plugins: Sequence[Any] = (),
        *,
        settings: Settings | None = None,
        toml: str | None = None,
        identity: str | None = ADMIN,
    ) -> Litestar:
        settings = settings or settings_for(toml)
        plugins = list(plugins)
        if not any(isinstance(p, tuple) and p[0] == NAME for p in plugins):
            plugins.append(identity_plugin(identity))
        registry = build_registry(settings, plugins=plugins)
        migrate.upgrade(settings.database_url, [migrate.kernel_source(), *registry.migration_sources])
        return app_from_registry(registry)

    return factory


@pytest.fixture
def client_for(make_app: Callable[..., Litestar]) -> Iterator[Callable[..., TestClient[Litestar]]]:
    """A started TestClient for an app of the given plugins (lifespan runs)."""
    clients: list[TestClient[Litestar]] = []

    def factory(plugins: Sequence[Any] = (), **kwargs: Any) -> TestClient[Litestar]:
        client = TestClient(make_app(plugins, **kwargs))
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium per test module (tests open their own contexts). Not per session:
    Playwright's sync API keeps an event loop running in this thread while it is open, and
    other modules' tests call ``asyncio.run``."""
    from tests.browser.support import launched_browser

    with launched_browser() as launched:
        yield launched
