"""The app-wide guard on a real app: public routes, sign-in redirects, 401/403 shapes,
self-service paths, actions, workspace resolution, API keys bound to their workspace, and
policy changes from this process (at once) and from elsewhere (after the next poll)."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import pytest
from litestar import Request, get, post
from litestar.testing import TestClient

from core import migrate
from core.app import app_from_registry, build_registry
from core.configurator import Configurator
from core.db import Database
from core.permissions import Permissions, Rule
from core.security import identity_of, workspace_of
from core.settings import SettingsError
from tests.core.db_fixtures import pg
from tests.identity_plugin import KEY_WORKSPACE_HEADER, as_user, identity_plugin

pg_url = pg.pg_url
db_url = pg.db_url

WEB = ("web", "web:includeme")


@get("/api/v1/config", sync_to_thread=False)
def read_config(request: Request[Any, Any, Any]) -> dict[str, Any]:
    identity = identity_of(request)
    return {"subject": identity.subject if identity else None, "workspace": workspace_of(request)}


@post("/api/v1/config", sync_to_thread=False, opt={"exclude_from_csrf": True})
def write_config() -> dict[str, str]:
    return {"written": "yes"}


@post("/api/v1/me/keys", sync_to_thread=False, opt={"exclude_from_csrf": True, "action": "use"})
def my_key() -> dict[str, str]:
    return {"key": "sy_new"}


@get("/api/v1/me", sync_to_thread=False)
def me(request: Request[Any, Any, Any]) -> dict[str, Any]:
    identity = identity_of(request)
    assert identity is not None
    return {"subject": identity.subject, "kind": identity.kind, "workspace": workspace_of(request)}


@post("/ui/workspace", opt={"exclude_from_csrf": True})
async def choose_workspace(request: Request[Any, Any, Any]) -> dict[str, str]:
    request.session["workspace"] = (await request.json())["workspace"]
    return {"ok": "yes"}


@get("/open", sync_to_thread=False)
def open_route() -> dict[str, str]:
    return {"open": "yes"}


def sample(config: Configurator) -> None:
    config.add_route(read_config)
    config.add_route(write_config)
    config.add_route(my_key)
    config.add_route(me, access="signed_in")
    config.add_route(choose_workspace, access="signed_in")
    config.add_route(open_route, public=True)
    config.add_view("/secret", lambda request: {"status_code": 200, "detail": "inside"}, template="error.html")


GRANTS = (
    ("ada@example.com", "admin", "team-a"),
    ("uma@example.com", "user", "team-a"),
    ("uma@example.com", "viewer", "team-b"),
    ("vic@example.com", "viewer", "team-a"),
)


def client(client_for: Any, **kwargs: Any) -> TestClient[Any]:
    return client_for([WEB, ("sample", sample), identity_plugin(None, GRANTS)], **kwargs)


def test_public_routes_and_static_files_need_nobody(client_for: Any) -> None:
    c = client(client_for)
    assert c.get("/open").json() == {"open": "yes"}
    assert c.get("/healthz").status_code == 200
    assert c.get("/static/web/css/switchyard.css").status_code == 200
    assert c.get("/ui/manifest.webmanifest").status_code == 200
    assert c.get("/schema/openapi.json").status_code == 200


def test_nobody_on_a_page_is_sent_to_sign_in_with_the_way_back(client_for: Any) -> None:
    c = client(client_for)
    page = c.get("/ui/secret?tab=2", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/ui/sign-in?next=/ui/secret%3Ftab%3D2"
    assert c.get("/ui/", follow_redirects=False).headers["location"] == "/ui/sign-in?next=/ui/"
    fragment = c.get("/ui/secret", headers={"hx-request": "true", "hx-current-url": "http://testserver/ui/plugins?x=1"})
    assert fragment.status_code == 401
    assert fragment.headers["hx-redirect"] == "/ui/sign-in?next=/ui/plugins%3Fx%3D1"
    elsewhere = c.get("/ui/secret", headers={"hx-request": "true", "hx-current-url": "https://evil.example/x"})
    assert elsewhere.headers["hx-redirect"] == "/ui/sign-in?next=/ui/secret"


def test_nobody_on_the_api_gets_401_json(client_for: Any) -> None:
    c = client(client_for)
    for response in (c.get("/api/v1/config"), c.post("/api/v1/config"), c.get("/api/v1/me")):
        assert response.status_code == 401
        assert response.json() == {"status_code": 401, "detail": "sign in or send an API key"}


def test_someone_without_a_role_is_refused(client_for: Any) -> None:
    c = client(client_for)
    api = c.get("/api/v1/config", headers=as_user("nobody@example.com"))
    assert api.status_code == 403
    assert api.json()["detail"] == "nobody@example.com holds no role in any workspace"
    page = c.get("/ui/secret", headers=as_user("nobody@example.com", accept="text/html"))
    assert page.status_code == 403 and "<html" in page.text and "Error 403" in page.text
    assert "inside" not in page.text


def test_self_service_routes_take_any_identity(client_for: Any) -> None:
    c = client(client_for)
    me_ = c.get("/api/v1/me", headers=as_user("Nobody@Example.com"))
    assert me_.json() == {"subject": "nobody@example.com", "kind": "session", "workspace": None}
    home = c.get("/ui/", headers=as_user("nobody@example.com"))
    assert home.status_code == 200 and "Your gateway is running" in home.text


def test_reads_and_writes_follow_the_roles(client_for: Any) -> None:
    c = client(client_for)
    assert c.get("/api/v1/config", headers=as_user("vic@example.com")).status_code == 200
    refused = c.post("/api/v1/config", headers=as_user("vic@example.com"))
    assert refused.status_code == 403
    assert refused.json()["detail"] == "vic@example.com may not write /api/v1/config in workspace 'team-a'"
    assert c.post("/api/v1/config", headers=as_user("ada@example.com")).status_code == 201


def test_a_route_can_name_its_action(client_for: Any) -> None:
    c = client(client_for)
    assert c.post("/api/v1/me/keys", headers=as_user("uma@example.com")).status_code == 201  # use_router
    assert c.post("/api/v1/me/keys", headers=as_user("vic@example.com")).status_code == 403


def test_workspace_comes_from_query_header_session_then_first_held(client_for: Any) -> None:
    c = client(client_for)
    uma = as_user("uma@example.com")
    assert c.get("/api/v1/config", headers=uma).json()["workspace"] == "team-a"  # first held, sorted
    assert c.get("/api/v1/config?workspace=team-b", headers=uma).json()["workspace"] == "team-b"
    header = {**uma, "x-switchyard-workspace": "team-b"}
    assert c.get("/api/v1/config", headers=header).json()["workspace"] == "team-b"
    c.post("/ui/workspace", json={"workspace": "team-b"}, headers=uma)
    assert c.get("/api/v1/config", headers=uma).json()["workspace"] == "team-b"  # the session's choice
    assert c.get("/api/v1/config?workspace=team-a", headers=uma).json()["workspace"] == "team-a"
    c.post("/ui/workspace", json={"workspace": "team-z"}, headers=uma)  # not held: ignored
    assert c.get("/api/v1/config", headers=uma).json()["workspace"] == "team-a"
    # a workspace where uma holds no role: refused, not silently switched
    assert c.get("/api/v1/config?workspace=team-c", headers=uma).status_code == 403
    # uma is a viewer in team-b: reading there is fine, writing is not
    assert c.post("/api/v1/config?workspace=team-b", headers=uma).status_code == 403


def test_a_malformed_workspace_is_a_400_naming_it(client_for: Any) -> None:
    c = client(client_for)
    bad = c.get("/api/v1/config?workspace=Team%20A", headers=as_user("uma@example.com"))
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("workspace: 'Team A' must not contain spaces")


def test_an_api_key_is_bound_to_its_workspace(client_for: Any) -> None:
    c = client(client_for)
    key = as_user("uma@example.com", **{KEY_WORKSPACE_HEADER: "team-b"})
    assert c.get("/api/v1/config", headers=key).json()["workspace"] == "team-b"
    other = c.get("/api/v1/config?workspace=team-a", headers=key)
    assert other.status_code == 403
    assert other.json()["detail"] == "this API key belongs to workspace 'team-b', not 'team-a'"
    c.post("/ui/workspace", json={"workspace": "team-a"}, headers=as_user("uma@example.com"))
    assert c.get("/api/v1/config", headers=key).json()["workspace"] == "team-b"  # sessions don't apply
    assert c.get("/api/v1/me", headers=key).json()["kind"] == "api_key"


def test_policy_changes_in_this_process_apply_at_once(client_for: Any) -> None:
    c = client(client_for)
    newcomer = as_user("new@example.com")
    assert c.get("/api/v1/config", headers=newcomer).status_code == 403
    permissions = c.app.state.registry.permissions
    assert permissions is c.app.state.registry.get_interface("permissions")  # for plugins
    rule = Rule("g", ("new@example.com", "viewer", "team-a"))
    c.blocking_portal.call(functools.partial(permissions.add, rule, actor="test"))  # the app's loop
    assert c.get("/api/v1/config", headers=newcomer).status_code == 200


def test_changes_made_elsewhere_arrive_with_the_next_poll(client_for: Any, settings_for: Any, db_url: str) -> None:
    settings = settings_for(f'[security]\npolicy_refresh_seconds = 0.2\n[database]\nurl = "{db_url}"\n')
    c = client(client_for, settings=settings)
    newcomer = as_user("far@example.com")
    assert c.get("/api/v1/config", headers=newcomer).status_code == 403

    async def elsewhere() -> None:  # another instance, or the CLI, on the same database
        db = Database(settings.database_url)
        try:
            other = await Permissions.open(db)
            await other.add(Rule("g", ("far@example.com", "viewer", "team-a")), actor="cli:test")
        finally:
            await db.dispose()

    asyncio.run(elsewhere())
    deadline = time.monotonic() + 5
    while c.get("/api/v1/config", headers=newcomer).status_code != 200:
        assert time.monotonic() < deadline, "the change never arrived"
        time.sleep(0.05)


def test_identity_plugin_ordered_before_auth_wins(client_for: Any) -> None:
    def auth(config: Configurator) -> None:  # stands in for the auth plugin's own identify hook
        from core.security import Identity

        config.add_hook("identify", lambda request, **_: Identity("session@example.com", "session"))

    c = client_for([WEB, ("sample", sample), ("auth", auth), identity_plugin(None, GRANTS)])
    assert c.get("/api/v1/me", headers=as_user("ada@example.com")).json()["subject"] == "ada@example.com"
    assert c.get("/api/v1/me").json()["subject"] == "session@example.com"  # falls through to auth


def test_without_a_loaded_policy_guarded_routes_answer_503(settings_for: Any) -> None:
    settings = settings_for()
    registry = build_registry(settings, plugins=[("sample", sample), identity_plugin(None, ())])
    migrate.upgrade(settings.database_url, [migrate.kernel_source()], "core_0001")  # no policy tables
    with TestClient(app_from_registry(registry)) as c:
        refused = c.get("/api/v1/config", headers=as_user("ada@example.com"))
        assert refused.status_code == 503 and "switchyard db upgrade" in refused.json()["detail"]
        assert c.get("/open").status_code == 200
        ready = c.get("/readyz")
        assert ready.status_code == 503 and any("policy is not loaded" in v for v in ready.json()["checks"].values())


@post("/api/v1/config/checked", sync_to_thread=False)
def checked_write() -> dict[str, str]:
    return {"written": "yes"}


def test_api_keys_need_no_csrf_token_but_browsers_do(client_for: Any) -> None:
    def csrf_checked(config: Configurator) -> None:
        config.add_route(checked_write)

    c = client_for([WEB, ("sample", sample), ("checked", csrf_checked), identity_plugin(None, GRANTS)])
    admin = as_user("ada@example.com")
    browser = c.post("/api/v1/config/checked", headers=admin)
    assert browser.status_code == 403 and browser.json()["detail"] == "CSRF token verification failed"
    for credential in ({"x-api-key": "sy_whatever"}, {"authorization": "Bearer sy_whatever"}):
        assert c.post("/api/v1/config/checked", headers={**admin, **credential}).status_code == 201
    basic = c.post("/api/v1/config/checked", headers={**admin, "authorization": "Basic YTpi"})
    assert basic.status_code == 403  # browsers attach Basic credentials by themselves


def test_the_refresh_interval_is_validated(settings_for: Any) -> None:
    assert settings_for().security.policy_refresh_seconds == 2.0
    with pytest.raises(SettingsError, match=r"switchyard.toml:2: security.policy_refresh_seconds"):
        settings_for("[security]\npolicy_refresh_seconds = 0\n")
    with pytest.raises(SettingsError, match="security.refresh"):
        settings_for("[security]\nrefresh = 1\n")


def test_a_mounted_app_is_judged_on_the_whole_path(client_for: Any) -> None:
    from litestar import asgi
    from litestar.types import Receive, Scope, Send

    @asgi("/api/v1/config/files", is_mount=True, copy_scope=True)
    async def files(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    def mount(config: Configurator) -> None:
        config.add_route(files)

    c = client_for([WEB, ("mount", mount), identity_plugin(None, GRANTS)])
    seen = c.get("/api/v1/config/files/a.txt", headers=as_user("vic@example.com"))  # read_config
    assert seen.status_code == 200 and seen.text.startswith("/a.txt")  # the mount sees the rest
    assert c.get("/api/v1/config/files/a.txt", headers=as_user("nobody@example.com")).status_code == 403
    assert c.get("/api/v1/config/files/a.txt").status_code == 401
