"""The policy editor in real headless Chromium: htmx changes without a reload, the checker's
answer in its live region, keyboard use, and no axe violations after a swap."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.support import axe_violations, require_browser
from tests.core.server_helpers import RunningServer, install_sample_dists, running_server
from tests.identity_plugin import ADMIN, as_user

require_browser()
pytestmark = pytest.mark.browser
SIGNED_IN = as_user(ADMIN)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    site = install_sample_dists(tmp_path_factory.mktemp("site"), "switchyard-test-identity")
    with running_server(tmp_path_factory.mktemp("policy") / "home", pythonpath=site) as running:
        yield running


@pytest.fixture
def page(browser: Any, server: RunningServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, extra_http_headers=SIGNED_IN)
    page = context.new_page()
    page.goto(server.base + "/ui/policy")
    page.wait_for_function("document.documentElement.classList.contains('has-htmx')")
    yield page
    context.close()


def test_giving_a_role_swaps_the_panel_without_a_reload(page: Any, server: RunningServer) -> None:
    page.evaluate("window.__sameDocument = true")
    page.fill("#assign-subject", "pat@example.com")
    page.select_option("#assign-role", "viewer")
    page.click("text=Give role")
    page.wait_for_selector("#role-viewer >> text=pat@example.com")
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    assert "added g, pat@example.com, viewer, default" in page.inner_text("#flashes")
    rules = httpx.get(f"{server.base}/api/v1/policy/rules", headers=SIGNED_IN).json()["rules"]
    assert {"ptype": "g", "values": ["pat@example.com", "viewer", "default"]} in rules
    assert axe_violations(page) == []


def test_a_refused_value_is_marked_on_its_field(page: Any) -> None:
    page.fill("#grant-role", "viewer")
    page.fill("#grant-object", "/api/v1/keys*")
    page.click("text=Add rule")
    page.wait_for_selector("#grant-object-error")
    assert page.get_attribute("#grant-object", "aria-invalid") == "true"
    assert page.input_value("#grant-object") == "/api/v1/keys*"
    assert "object:" in page.inner_text("#grant-object-error")
    assert axe_violations(page) == []


def test_the_checker_answers_in_its_live_region_from_the_keyboard(page: Any) -> None:
    page.fill("#check-object", "/api/v1/keys")
    page.select_option("#check-action", "write")
    page.focus("#check-object")
    page.keyboard.press("Enter")  # submits the form, like a click
    page.wait_for_selector("#check-result .badge")
    assert page.inner_text("#check-result .badge") == "Allowed"
    assert "p, admin, *, *, *" in page.inner_text("#check-result")
    assert page.get_attribute("#check-result", "aria-live") == "polite"


def test_revert_is_one_click(page: Any) -> None:
    page.fill("#assign-subject", "rev@example.com")
    page.click("text=Give role")
    page.wait_for_selector("#policy-panel >> text=rev@example.com")
    page.locator(".history li").first.locator("button", has_text="Revert").click()
    page.wait_for_selector("#flashes >> text=Reverted change")
    assert page.locator("#policy-panel td >> text=rev@example.com").count() == 0
