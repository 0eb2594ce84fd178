"""The UI shell in real headless Chromium: phone and desktop widths, every theme, zero axe violations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.support import axe_violations, require_browser
from tests.core.server_helpers import RunningServer, install_sample_dists, running_server
from tests.identity_plugin import ADMIN, as_user

pytestmark = pytest.mark.browser

require_browser()


SIGNED_IN = as_user(ADMIN)  # the test identity distribution makes this an admin of "default"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    site = install_sample_dists(tmp_path_factory.mktemp("site"), "switchyard-test-identity")
    with running_server(tmp_path_factory.mktemp("browser") / "home", pythonpath=site) as running:
        yield running


@pytest.mark.parametrize("width,height", [(375, 812), (1440, 900)])
@pytest.mark.parametrize("theme", ["light", "dark", "contrast"])
def test_shell_pages_have_no_axe_violations(server: RunningServer, browser: Any, width: int, height: int, theme: str) -> None:
    context = browser.new_context(viewport={"width": width, "height": height}, extra_http_headers=SIGNED_IN)
    context.add_cookies([{"name": "sy_theme", "value": theme, "url": server.base}])
    page = context.new_page()
    try:
        for path in ("/ui/", "/ui/plugins", "/ui/routing", "/ui/policy"):
            page.goto(server.base + path)
            assert page.locator("html").get_attribute("data-theme") == theme
            violations = axe_violations(page)
            assert violations == [], f"{path} at {width}px, {theme}: {json.dumps(violations, indent=1)}"
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= width, f"{path} scrolls sideways at {width}px ({scroll_width}px wide)"
    finally:
        context.close()


def test_keyboard_user_can_skip_to_content_and_reach_navigation(server: RunningServer, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 900}, extra_http_headers=SIGNED_IN)
    try:
        page.goto(server.base + "/ui/")
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent.trim()")
        assert focused == "Skip to content"
        assert page.locator(".skip-link").is_visible()
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        assert page.locator("nav[aria-label=\"Main\"] a[aria-current=\"page\"]").inner_text().strip() == "Home"
    finally:
        page.close()


def test_theme_switch_with_the_form_persists(server: RunningServer, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 812}, extra_http_headers=SIGNED_IN)
    page = context.new_page()
    try:
        page.goto(server.base + "/ui/plugins")
        with page.expect_response(lambda r: r.url.endswith("/ui/theme")) as saved:
            page.select_option("#theme-select", "dark")  # app.js shows it at once, htmx saves it
        assert saved.value.status == 204
        page.wait_for_function("document.documentElement.dataset.theme === 'dark'")
        page.goto(server.base + "/ui/")
        assert page.locator("html").get_attribute("data-theme") == "dark"
    finally:
        context.close()


def test_service_worker_registers_and_manifest_is_installable(server: RunningServer, browser: Any) -> None:
    context = browser.new_context(extra_http_headers=SIGNED_IN)
    page = context.new_page()
    try:
        page.goto(server.base + "/ui/")
        scope = page.evaluate(
            "async () => (await navigator.serviceWorker.ready).scope"
        )
        assert scope == server.base + "/ui/"
        manifest = page.evaluate("async () => (await fetch('/ui/manifest.webmanifest')).json()")
        assert manifest["display"] == "standalone" and manifest["start_url"] == "/ui/"
    finally:
        context.close()
