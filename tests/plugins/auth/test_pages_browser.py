"""The management pages in real headless Chromium against ``switchyard serve``: no axe
violations at 320 px and on a desktop, no sideways scrolling, and the htmx flows a person
uses (create a key and copy it, revoke it, switch workspace) with the keyboard."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.support import axe_violations, require_browser
from tests.core.server_helpers import (
    SWITCHYARD,
    RunningServer,
    cli_env,
    install_sample_dists,
    running_server,
)
from tests.identity_plugin import as_user

ADMIN, USER = "admin@example.com", "user@example.com"
PAGES = ("/ui/keys", "/ui/members", "/ui/me/keys", "/ui/workspaces")

pytestmark = pytest.mark.browser

require_browser()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose database already holds two workspaces and their people (made with the
    CLI, as an admin would)."""
    site = install_sample_dists(tmp_path_factory.mktemp("site"), "switchyard-test-identity")
    home = tmp_path_factory.mktemp("auth-browser") / "home"
    env = cli_env(home, site)
    for argv in (
        ("db", "upgrade"),
        ("users", "create", ADMIN, "--name", "Ada Admin"),
        ("users", "create", USER),
        ("workspaces", "create", "default", "--owner", ADMIN),
        ("workspaces", "create", "team-b", "--owner", ADMIN),
        ("workspaces", "add-member", "default", USER, "user"),
        ("keys", "create", "--user", USER, "--workspace", "default", "--name", "laptop",
         "--scope", "/v1/*", "--scope", "model:claude-*"),
    ):  # fmt: skip
        done = subprocess.run(
            [SWITCHYARD, *argv], check=False, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    with running_server(home, pythonpath=site) as running:
        yield running


@pytest.mark.parametrize(("width", "height"), [(320, 700), (1440, 900)])
def test_pages_pass_axe_and_fit_the_screen(
    server: RunningServer, browser: Any, width: int, height: int
) -> None:
    context = browser.new_context(
        viewport={"width": width, "height": height}, extra_http_headers=as_user(ADMIN)
    )
    page = context.new_page()
    try:
        for path in PAGES:
            response = page.goto(server.base + path)
            assert response.status == 200, path
            violations = axe_violations(page)
            assert violations == [], f"{path} at {width}px: {json.dumps(violations, indent=1)}"
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, f"{path} scrolls sideways at {width}px ({scroll}px wide)"
    finally:
        context.close()


def test_create_copy_and_revoke_a_key_with_the_keyboard(
    server: RunningServer, browser: Any
) -> None:
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, extra_http_headers=as_user(USER)
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base)
    page = context.new_page()
    try:
        page.goto(server.base + "/ui/me/keys")
        page.get_by_label("Name").fill("browser")
        page.get_by_label("Scopes").fill("/v1/messages")
        page.get_by_label("Name").press("Enter")  # submits the form, htmx swaps the panel
        secret_field = page.locator("#new-key")
        secret_field.wait_for()
        secret = secret_field.input_value()
        assert secret.startswith("sy_")
        assert page.locator("html").get_attribute("class") and "has-htmx" in page.locator(
            "html"
        ).get_attribute("class")
        assert "Created key" in page.locator("#flashes").inner_text()  # announced (aria-live)
        assert page.url.endswith("/ui/me/keys")  # no full reload

        copy = page.get_by_role("button", name="Copy")
        assert copy.is_visible()  # hidden without JavaScript, shown with it
        copy.focus()
        page.keyboard.press("Enter")
        page.get_by_text("Copied to the clipboard.").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == secret

        prefix = secret[:11]
        page.once("dialog", lambda dialog: dialog.accept())  # hx-confirm
        page.get_by_role("button", name=f"Revoke {prefix}").click()
        page.locator(f"#key-{prefix} .badge-error").wait_for()
        assert page.locator("#new-key").count() == 0  # the secret is gone for good
        violations = axe_violations(page)
        assert violations == [], json.dumps(violations, indent=1)
    finally:
        context.close()


def test_the_switcher_moves_every_page_to_another_workspace(
    server: RunningServer, browser: Any
) -> None:
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, extra_http_headers=as_user(ADMIN)
    )
    page = context.new_page()
    try:
        page.goto(server.base + "/ui/members")
        assert USER in page.locator("#members-panel").inner_text()
        with page.expect_navigation():
            page.get_by_label("Workspace").select_option("team-b")  # htmx posts on change
        assert page.url.endswith("/ui/members")
        assert USER not in page.locator("#members-panel").inner_text()
        assert "You are working in team-b." in page.locator("#flashes").inner_text()
        assert page.get_by_label("Workspace").input_value() == "team-b"
    finally:
        context.close()
