"""What every browser test needs: Chromium from Debian, Playwright, and axe-core.

Tests that use these call ``require_browser()`` at module level: without Chromium they are
skipped with the reason, not failed. The ``browser`` fixture lives in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

AXE = Path(__file__).resolve().parents[1] / "assets" / "axe.min.js"
CHROMIUM = os.environ.get("SWITCHYARD_TEST_CHROMIUM", "/usr/lib/chromium/chromium")
AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def require_browser() -> None:
    """Skip the calling module when there is no Chromium or no Playwright."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"browser tests left out: no Chromium at {CHROMIUM} (apt-get install chromium, "
            "or set SWITCHYARD_TEST_CHROMIUM)",
            allow_module_level=True,
        )
    pytest.importorskip("playwright.sync_api")


@contextmanager
def launched_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        try:
            yield browser
        finally:
            browser.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA and best-practice violations on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async (rules) => await axe.run(document, {runOnly: rules})", AXE_RULES
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


class Visitor:
    """One person's browser tab. Every page it lands on is checked: no axe violations and no
    sideways scrolling at the tab's width."""

    def __init__(self, browser: Any, base: str, width: int = 1280) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.base, self.width = base, width
        self.checked: list[str] = []

    def open(self, path_or_url: str) -> Any:
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        response = self.page.goto(url)
        self.check()
        return response

    def check(self) -> None:
        self.page.wait_for_load_state("networkidle")
        violations = axe_violations(self.page)
        assert violations == [], f"{self.page.url}: {json.dumps(violations, indent=1)}"
        wide = self.page.evaluate("document.documentElement.scrollWidth")
        assert wide <= self.width, f"{self.page.url} scrolls sideways at {self.width} px ({wide} px)"
        self.checked.append(self.page.url)

    def post_form(self, path: str, fields: dict[str, str]) -> int:
        """A write the way this page's own scripts would send it: same cookies, CSRF header."""
        return self.page.evaluate(
            """async ([path, fields]) => {
                const headers = JSON.parse(document.body.getAttribute('hx-headers') || '{}');
                const reply = await fetch(path, {method: 'POST', headers, body: new URLSearchParams(fields)});
                return reply.status;
            }""",
            [path, fields],
        )

    def close(self) -> None:
        self.context.close()
