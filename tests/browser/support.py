"""What every browser test needs: Chromium from Debian, Playwright, and axe-core.

Tests that use these call ``require_browser()`` at module level: without Chromium they are
skipped with the reason, not failed. The ``browser`` fixture lives in tests/conftest.py.
"""

from __future__ import annotations

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
