"""The sign-in journey in real headless Chromium against a real server: first admin, TOTP
set-up, sign-out, sign-in with htmx and the second step; zero axe violations and no sideways
scrolling at 320 px on every page on the way."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.browser.support import axe_violations, require_browser
from tests.core.server_helpers import serve_with_output
from tests.plugins.auth.signin_support import PASSWORD
from tests.plugins.auth.test_first_run_server import first_admin_links

require_browser()
pytestmark = pytest.mark.browser


def check_page(page: Any, what: str) -> None:
    """No axe violations (WCAG 2.1 A/AA and best practice), no sideways scrolling."""
    violations = axe_violations(page)
    assert violations == [], f"{what}: {json.dumps(violations, indent=1)}"
    width = page.viewport_size["width"]
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{what} scrolls sideways at {width}px ({scroll}px wide)"


@pytest.mark.parametrize("width", [320, 1280])
def test_first_admin_totp_and_sign_in_in_a_browser(tmp_path: Path, width: int, browser: Any) -> None:
    with serve_with_output(tmp_path / "home") as server:
        [link] = first_admin_links(server)
        context = browser.new_context(viewport={"width": width, "height": 800})
        page = context.new_page()
        try:
            _first_admin(page, link)
            secret = _turn_on_totp(page, server.base)
            _sign_out(page, server.base)
            _sign_in_with_htmx_and_code(page, server.base, secret)
        finally:
            context.close()


def _first_admin(page: Any, link: str) -> None:
    page.goto(link)
    page.get_by_label("Email").fill("root@example.com")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Password again").fill("short")
    page.get_by_role("button", name="Create admin and sign in").click()
    error = page.locator("#f-password-error")
    assert error.inner_text() == "Password must be 8 to 1024 characters long."
    assert page.get_by_label("Password", exact=True).get_attribute("aria-invalid") == "true"
    check_page(page, "first run with an error")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create admin and sign in").click()
    page.wait_for_url(re.compile(r".*/ui/$"))
    assert "You are the admin of default" in page.locator("#flashes").inner_text()


def _turn_on_totp(page: Any, base: str) -> str:
    page.goto(base + "/ui/me/security")
    check_page(page, "security page")
    page.get_by_role("button", name="Set up two-step sign-in").click()
    page.wait_for_selector(".auth-qr svg")
    check_page(page, "TOTP set-up with QR code")
    secret = page.locator(".auth-secret").inner_text().replace(" ", "")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    page.wait_for_selector(".auth-codes")
    assert page.locator(".auth-codes li").count() == 10
    check_page(page, "recovery codes")
    return secret


def _sign_out(page: Any, base: str) -> None:
    page.goto(base + "/ui/sign-out")
    check_page(page, "sign-out page")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/ui/sign-in$"))


def _sign_in_with_htmx_and_code(page: Any, base: str, secret: str) -> None:
    page.goto(base + "/ui/me/security")
    page.wait_for_url(re.compile(r".*/ui/sign-in\?next=/ui/me/security$"))
    page.evaluate("window.__same_document = true")
    page.get_by_label("Email").fill("root@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    alert = page.locator("#sign-in-error")
    alert.wait_for()
    assert alert.inner_text() == "Error: Email or password is incorrect."
    assert page.evaluate("window.__same_document === true"), "htmx should swap the form in place"
    check_page(page, "sign-in with an error")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/ui/sign-in/mfa$"))
    check_page(page, "second step")
    page.get_by_role("textbox", name="Code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r".*/ui/me/security$"))
    assert "Signed in as" in page.locator("main").inner_text()
