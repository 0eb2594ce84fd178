"""Every route of the real app (every installed entry-point plugin) is guarded.

The app is built the way ``switchyard serve`` builds it, plus the test identity plugin. Each
registered route and method is called: without an identity it must answer 401 (or 303 to the
sign-in page for a page), and for a signed-in subject holding no role in the workspace 403,
unless the route is public or declared self-service. The walk is generic, so routes plugins
add later are covered the day they land; the public list is pinned below so that a new
public route is a deliberate change to this file.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import ASGIRoute, HTTPRoute
from litestar.testing import TestClient

from core import migrate
from core.app import app_from_registry, build_registry
from core.discovery import discover
from core.security import AccessRules
from core.settings import load_settings
from core.templating import CSRF_COOKIE, CSRF_HEADER
from tests.identity_plugin import as_user, identity_plugin

PUBLIC = {
    # kernel
    "/healthz", "/readyz", "/metrics", "/schema", "/schema/",
    # web shell
    "/", "/static/web/", "/ui/theme", "/ui/offline", "/ui/sw.js", "/ui/manifest.webmanifest",
    # routing: API-key auth inside the handlers
    "/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions", "/v1/models",
    # auth: signing in
    "/ui/sign-in", "/ui/sign-in/mfa", "/ui/sign-in/oidc", "/ui/sign-in/oidc/callback",
    "/ui/first-run", "/ui/invite",
    # marketplace: what a static file host would serve (publishing and reviews are guarded)
    "/marketplace", "/marketplace/index.json", "/marketplace/plugins/{name:str}",
    "/marketplace/packages/{name:str}/{version:str}/{file:str}",
}
OUTSIDER = "outsider@example.com"  # an admin, but of another workspace
NOBODY = "nobody@example.com"  # signed in, no role anywhere
SAMPLE = {str: "sample", int: "1", Path: "sample.txt", uuid.UUID: "00000000-0000-4000-8000-000000000001"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Litestar]:
    settings = load_settings(None, env={}, home=str(tmp_path_factory.mktemp("walk") / "home"))
    chosen = settings.plugins
    specs, failures = discover(enabled=chosen.enabled, disabled=chosen.disabled, required=chosen.required)
    assert not [f for f in failures if f.status == "failed"], [(f.name, f.error) for f in failures]
    grants = [(OUTSIDER, "admin", "elsewhere")]
    registry = build_registry(settings, plugins=[*specs, identity_plugin(None, grants)])
    migrate.upgrade(settings.database_url, [migrate.kernel_source(), *registry.migration_sources])
    yield app_from_registry(registry)


@pytest.fixture(scope="module")
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app) as c:
        c.get("/ui/offline")  # any page sets the CSRF cookie; unsafe methods send it back
        assert c.cookies.get(CSRF_COOKIE)
        yield c


def refused_by_guard(response: Any) -> bool:
    """The guard refused a signed-in subject (handlers may answer 401, 403 or a redirect to the
    sign-in page for reasons of their own, e.g. an identity without a user account)."""
    if response.status_code not in (401, 403) or "json" not in response.headers.get("content-type", ""):
        return False
    detail = str(response.json().get("detail", ""))
    return detail == "sign in or send an API key" or "holds no role" in detail or " may not " in detail


def concrete(route: HTTPRoute | ASGIRoute) -> str:
    path = route.path
    for name, definition in route.path_parameters.items():
        path = path.replace("{" + definition.full + "}", SAMPLE.get(definition.type, "sample"))
        path = path.replace("{" + name + "}", "sample")
    return path


def calls(app: Litestar) -> Iterator[tuple[str, str, str]]:
    """(method, concrete path, template) for every registered route, static files left out."""
    for route in app.routes:
        if route.path.startswith("/static/"):
            continue
        methods = sorted(route.methods - {"OPTIONS"}) or ["GET", "POST"]  # ASGI routes take any
        for method in methods:
            yield method, concrete(route), route.path


def test_the_public_list_is_exactly_the_known_one(app: Litestar) -> None:
    public = app.state.registry.public_paths
    assert public - PUBLIC == set(), "new public routes: add them here on purpose, or guard them"
    assert PUBLIC - public == set(), "routes no longer public: remove them here"


def test_static_files_are_only_static_routers(app: Litestar) -> None:
    static = [r for r in app.routes if r.path.startswith("/static/")]
    assert static, "the web shell serves /static/web"
    for route in static:
        assert isinstance(route, HTTPRoute) and route.path.endswith("{file_path:path}")
        for method, (handler, _) in route.route_handler_map.items():
            if method != "OPTIONS":
                assert (handler.name or "").startswith("static:"), (method, route.path)


def test_nothing_outside_the_public_list_answers_without_an_identity(app: Litestar, client: TestClient[Any]) -> None:
    rules: AccessRules = app.state.registry.state["security.access"]
    token = {CSRF_HEADER: client.cookies[CSRF_COOKIE]}
    checked = 0
    problems = []
    for method, path, template in calls(app):
        if rules.is_public(path, template):
            continue
        checked += 1
        response = client.request(method, path, headers=token, follow_redirects=False)
        page = path.startswith("/ui") and method in ("GET", "HEAD")
        expected = 303 if page else 401
        if response.status_code != expected:
            problems.append(f"{method} {path}: {response.status_code}, expected {expected}")
        elif page and not response.headers["location"].startswith("/ui/sign-in?next="):
            problems.append(f"{method} {path}: redirects to {response.headers['location']}")
    assert checked > 20, "the walk found too few guarded routes"
    assert problems == []


@pytest.mark.parametrize("subject,query", [(NOBODY, ""), (OUTSIDER, "?workspace=team-a")])
def test_no_role_in_the_workspace_means_403_except_self_service(
    app: Litestar, client: TestClient[Any], subject: str, query: str
) -> None:
    rules: AccessRules = app.state.registry.state["security.access"]
    headers = {CSRF_HEADER: client.cookies[CSRF_COOKIE], **as_user(subject)}
    problems = []
    self_service = 0
    for method, path, template in calls(app):
        if rules.is_public(path, template):
            continue
        response = client.request(method, path + query, headers=headers, follow_redirects=False)
        if rules.is_signed_in(method, template):
            self_service += 1
            if refused_by_guard(response):
                problems.append(f"{method} {path}: self-service but answered {response.status_code}")
        elif response.status_code != 403:
            problems.append(f"{method} {path}: {response.status_code}, expected 403")
    assert self_service >= 1, "the home page at least is self-service"
    assert problems == []


def test_an_admin_of_the_workspace_passes_the_guard(app: Litestar, client: TestClient[Any]) -> None:
    """The other side of the coin: the guard does not refuse someone it should let in."""
    rules: AccessRules = app.state.registry.state["security.access"]
    headers = {CSRF_HEADER: client.cookies[CSRF_COOKIE], **as_user(OUTSIDER)}
    problems = []
    for method, path, template in calls(app):
        if rules.is_public(path, template):
            continue
        response = client.request(method, path, headers=headers, follow_redirects=False)
        if refused_by_guard(response):
            problems.append(f"{method} {path}: {response.status_code} {response.text[:80]}")
    assert problems == []
