"""The built app: probes, metrics, pages in the shell, CSRF, flash messages, jobs, errors."""

from __future__ import annotations

import re
import time
from typing import Any

from litestar import Request, get, post

from core.configurator import Configurator
from core.templating import CSRF_COOKIE, flash


def shell(config: Configurator) -> None:
    config.include("web:includeme")


def test_probes_and_metrics(client_for: Any) -> None:
    client = client_for([("web", "web:includeme")])
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok"}
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'switchyard_plugin_up{plugin="web",version=""} 1.0' in metrics.text


def test_readyz_fails_when_a_plugin_reports_a_problem(client_for: Any) -> None:
    def sick(config: Configurator) -> None:
        config.add_hook("ready_check", lambda registry: "upstream pool empty")

    response = client_for([("sick", sick)]).get("/readyz")
    assert response.status_code == 503
    assert "error: upstream pool empty" in response.json()["checks"].values()


def test_readyz_fails_when_the_database_is_unreachable(make_app: Any, settings_for: Any) -> None:
    from litestar.testing import TestClient

    settings = settings_for('[database]\nurl = "postgresql+psycopg://nobody@127.0.0.1:1/none"\n')
    from core.app import app_from_registry, build_registry

    app = app_from_registry(build_registry(settings, plugins=[]))
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("error:")


def test_a_plugin_page_renders_inside_the_shell_with_its_nav_item(client_for: Any, tmp_path: Any) -> None:
    templates = tmp_path / "tpl"
    templates.mkdir()
    (templates / "notes.html").write_text(
        '{% extends "layout.html" %}{% block content %}<p class="n">{{ count }} notes</p>{% endblock %}'
    )

    def notes(config: Configurator) -> None:
        config.add_template_dir(str(templates))
        config.add_view("/notes", lambda request: {"count": 3}, template="notes.html", title="Notes")
        config.add_nav_item("Notes", "/ui/notes", icon="log", order=5)

    client = client_for([("web", "web:includeme"), ("notes", notes)])
    page = client.get("/ui/notes")
    assert page.status_code == 200
    assert '<p class="n">3 notes</p>' in page.text
    assert "<title>Notes · Switchyard</title>" in page.text
    assert re.search(r'href="/ui/notes"\s+aria-current="page"', page.text)
    home = client.get("/ui/").text
    assert home.index('href="/ui/"') < home.index('href="/ui/notes"') < home.index('href="/ui/plugins"')


def test_admin_template_override_can_extend_the_default(client_for: Any, tmp_path: Any) -> None:
    overrides = tmp_path / "overrides"
    overrides.mkdir()
    (overrides / "home.html").write_text(
        '{% extends "default:home.html" %}{% block content %}<p id="custom">Our gateway</p>{{ super() }}{% endblock %}'
    )
    client = client_for([("web", "web:includeme")], toml=f'[web]\ntemplates_dir = "{overrides}"\n')
    page = client.get("/ui/").text
    assert '<p id="custom">Our gateway</p>' in page
    assert "Your gateway is running" in page


def csrf_token(client: Any) -> str:
    page = client.get("/ui/").text
    match = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    assert match, "every page carries the CSRF token in its forms"
    return match.group(1)


def test_forms_without_a_csrf_token_are_refused(client_for: Any) -> None:
    client = client_for([("web", "web:includeme")])
    client.get("/ui/")
    refused = client.post("/ui/theme", data={"theme": "dark"}, follow_redirects=False)
    assert refused.status_code == 403
    assert "sy_theme" not in refused.cookies


def test_theme_form_with_token_sets_the_theme(client_for: Any) -> None:
    client = client_for([("web", "web:includeme")])
    token = csrf_token(client)
    assert client.cookies.get(CSRF_COOKIE)
    done = client.post(
        "/ui/theme", data={"theme": "contrast", "next": "/ui/plugins", "_csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/ui/plugins"
    assert '<html lang="en" data-theme="contrast">' in client.get("/ui/").text


def test_theme_form_never_redirects_off_site_and_flashes_bad_input(client_for: Any) -> None:
    client = client_for([("web", "web:includeme")])
    token = csrf_token(client)
    away = client.post(
        "/ui/theme", data={"theme": "dark", "next": "https://evil.example/", "_csrf_token": token},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/ui/"
    bad = client.post("/ui/theme", data={"theme": "neon", "_csrf_token": token}, follow_redirects=True)
    assert "Unknown theme &#39;neon&#39;" in bad.text
    assert "Unknown theme" not in client.get("/ui/").text  # a flash is shown once


def test_flash_from_a_plugin_view(client_for: Any) -> None:
    @post("/ui/ping", opt={"exclude_from_csrf": True})
    async def ping(request: Request[Any, Any, Any]) -> dict[str, str]:
        flash(request, "Pinged!", "success")
        return {"ok": "yes"}

    def pinger(config: Configurator) -> None:
        config.add_route(ping)

    client = client_for([("web", "web:includeme"), ("pinger", pinger)])
    client.post("/ui/ping")
    assert "Pinged!" in client.get("/ui/").text


def test_static_files_and_pwa_documents(client_for: Any) -> None:
    client = client_for([("web", "web:includeme")])
    css = client.get("/static/web/css/switchyard.css")
    assert css.status_code == 200 and "data-theme" in css.text
    manifest = client.get("/ui/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    icons = {icon["sizes"] for icon in manifest.json()["icons"]}
    assert {"192x192", "512x512"} <= icons
    for icon in manifest.json()["icons"]:
        assert client.get(icon["src"]).status_code == 200, icon["src"]
    worker = client.get("/ui/sw.js")
    assert worker.headers["service-worker-allowed"] == "/ui/"
    assert "/ui/offline" in worker.text
    assert "unreachable" in client.get("/ui/offline").text.lower()


def test_errors_are_html_on_pages_and_json_elsewhere(client_for: Any) -> None:
    client = client_for([("web", "web:includeme")])
    page = client.get("/ui/nowhere", headers={"accept": "text/html"})
    assert page.status_code == 404 and "<html" in page.text and "404" in page.text
    api = client.get("/api/nowhere")
    assert api.status_code == 404 and api.json()["status_code"] == 404


def test_openapi_schema_lists_plugin_routes(client_for: Any) -> None:
    @get("/api/v1/widgets", sync_to_thread=False)
    def widgets() -> list[str]:
        return ["a"]

    def widget_plugin(config: Configurator) -> None:
        config.add_route(widgets)

    schema = client_for([("w", widget_plugin)]).get("/schema/openapi.json").json()
    assert "/api/v1/widgets" in schema["paths"] and "/healthz" in schema["paths"]


def test_jobs_run_on_their_schedule_and_stop_with_the_app(make_app: Any) -> None:
    from litestar.testing import TestClient

    runs: list[float] = []

    async def tick() -> None:
        runs.append(time.monotonic())

    def ticker(config: Configurator) -> None:
        config.add_job(tick, "interval", seconds=0.05)

    with TestClient(make_app([("ticker", ticker)])):
        deadline = time.monotonic() + 5
        while len(runs) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(runs) >= 2
    stopped_at = len(runs)
    time.sleep(0.2)
    assert len(runs) == stopped_at
