"""Issue 6's marketplace flow in headless Chromium against a real ``switchyard serve`` that is
its own index: pii-redactor, built from source, packed, signed with the offline test signer
and published with the CLI; then an admin browses, opens its page, installs it granting its
capability, sees it enabled and masking an email in a live /v1/messages request (the mock
model answers with what it received), disables it and uninstalls it. axe-core must find
nothing on any page, at 1280 px and at 320 px.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.support import Visitor, require_browser
from tests.core.server_helpers import SWITCHYARD, LoggedServer, cli_env, serve_with_output
from tests.marketplace.sigstore_testing import GITHUB_ISSUER, default_root, sign_for_tests
from tests.plugins.auth.test_first_run_server import first_admin_links

require_browser()
pytestmark = pytest.mark.browser

ADMIN, PASSWORD, WORKSPACE = "ada@example.com", "correct horse battery staple", "team-a"
PUBLISHER = "https://github.com/acme/pii-redactor/.github/workflows/release.yml@refs/heads/main"
EMAIL = "jane.doe@example.com"


def config(folder: Path) -> Path:
    """The offline Sigstore as trust root; the sandbox follows installs quickly."""
    path = folder / "switchyard.toml"
    path.write_text(
        f'[marketplace.trust]\ntrusted_root = "{default_root().trusted_root_path}"\n'
        "[sandbox]\nreload_interval_s = 0.3\n"
    )
    return path


def cli(home: Path, conf: Path, *args: str) -> str:
    done = subprocess.run([SWITCHYARD, "--config", str(conf), *args], env=cli_env(home),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"switchyard {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def wait_for(check: Callable[[], Any], what: str, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def wait_for_key(base: str, key: str) -> None:
    """A key made by another process (the CLI) reaches the server on its next key refresh."""
    wait_for(
        lambda: httpx.get(f"{base}/api/v1/me", headers={"x-api-key": key}, timeout=5).status_code
        == 200,
        "the server to accept the new key",
    )


def sign_in_first_admin(admin: Visitor, server: LoggedServer) -> None:
    """The printed one-time link makes the admin, who creates a workspace and works in it."""
    [link] = first_admin_links(server)
    admin.open(link)
    admin.page.fill("#f-email", ADMIN)
    admin.page.fill("#f-display_name", "Ada")
    admin.page.fill("#f-password", PASSWORD)
    admin.page.fill("#f-password_confirm", PASSWORD)
    admin.page.click("button:has-text('Create admin and sign in')")
    admin.page.wait_for_url(f"{server.base}/ui/**")
    admin.open("/ui/workspaces")
    admin.page.fill("#ws-slug", WORKSPACE)
    admin.page.fill("#ws-name", "Team A")
    admin.page.click("button:has-text('Create workspace')")
    admin.page.locator(f"#workspaces-panel button:has-text('Work in {WORKSPACE}')").click()
    admin.page.wait_for_load_state("networkidle")


def pack_example(tmp: Path, example: str = "pii-redactor") -> Path:
    """The example built from source and packed with the CLI (tests/sandbox helpers)."""
    from tests.sandbox.test_examples_server import package

    return package(tmp, example)


def ask(base: str, key: str, text: str) -> str:
    """One /v1/messages request; the mock model's answer quotes what reached it."""
    reply = httpx.post(f"{base}/v1/messages", headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
                       json={"model": "mock,mock-1", "max_tokens": 64,
                             "messages": [{"role": "user", "content": text}]}, timeout=30)
    assert reply.status_code == 200, reply.text
    return "".join(b.get("text", "") for b in reply.json()["content"])


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoggedServer, Path, Path]]:
    folder = tmp_path_factory.mktemp("marketplace-flow")
    home, conf = folder / "home", config(folder)
    with serve_with_output(home, "--config", str(conf)) as server:
        yield server, home, conf


def test_browse_install_see_traffic_change_disable_uninstall(
    instance: tuple[LoggedServer, Path, Path], browser: Any, tmp_path: Path
) -> None:
    server, home, conf = instance
    admin = Visitor(browser, server.base)
    narrow = None
    try:
        sign_in_first_admin(admin, server)
        key = cli(home, conf, "keys", "create", "--user", ADMIN, "--workspace", WORKSPACE).strip()
        wait_for_key(server.base, key)
        syp = pack_example(tmp_path)
        sign_for_tests(syp, PUBLISHER, GITHUB_ISSUER)
        cli(home, conf, "plugin", "publish", str(syp), "--index", f"{server.base}/marketplace/",
            "--api-key", key)
        assert EMAIL in ask(server.base, key, f"Write to {EMAIL}")

        # 1. Browse, and search with htmx (results land in a live region).
        admin.open("/ui/marketplace")
        admin.page.fill("#mp-q", "redact")
        admin.page.click("#mp-results >> text=pii-redactor")  # shown before and after the search
        admin.page.wait_for_url("**/ui/marketplace/pii-redactor")
        admin.check()

        # 2. The detail page: README, publisher, capability in plain words.
        body = admin.page.locator("main").inner_text()
        assert PUBLISHER in body and "Read its own settings" in body and "Signed" in body

        # 3. Install, granting the capability on the confirmation page.
        admin.page.click("a:has-text('Install 0.1.0')")
        admin.page.wait_for_url("**/ui/marketplace/pii-redactor/install**")
        admin.check()
        assert "signature passed" in admin.page.locator("#install-checks").inner_text()
        admin.page.check("#grant-config")
        admin.page.click("button:has-text('Grant and install')")
        admin.page.wait_for_url("**/ui/plugins/installed**")
        admin.check()
        card = admin.page.locator("#installed-pii-redactor")
        assert "Signed" in card.inner_text() and "config" in card.inner_text()

        # 4. Enabled, and traffic changes: the email is masked before it leaves.
        wait_for(lambda: "[EMAIL]" in ask(server.base, key, f"Write to {EMAIL}"), "the redactor to mask")
        admin.open("/ui/plugins/installed")
        badges = admin.page.locator("#installed-pii-redactor .mp-badges").inner_text()
        assert "Healthy" in badges, badges
        assert admin.page.locator("#installed-pii-redactor .mp-metrics dd").first.inner_text() != "0"

        # 5. Disable it (htmx: the panel is swapped in place) and traffic is untouched again.
        admin.page.evaluate("window.__sameDocument = true")
        admin.page.click("#installed-pii-redactor button:has-text('Disable')")
        admin.page.locator("#installed-pii-redactor .mp-badges", has_text="Disabled").wait_for()
        assert admin.page.evaluate("window.__sameDocument === true")
        admin.check()
        wait_for(lambda: EMAIL in ask(server.base, key, f"Write to {EMAIL}"), "the redactor to stop")

        # 6. Uninstall it.
        admin.page.click("#installed-pii-redactor summary")
        admin.page.click("button:has-text('Uninstall pii-redactor')")
        admin.page.locator("#installed-panel", has_text="No marketplace plugin is installed").wait_for()
        admin.check()
        assert "pii-redactor is uninstalled" in admin.page.locator("#flashes").inner_text()

        # The same pages at 320 px, signed in with the same session.
        narrow = Visitor(browser, server.base, width=320)
        narrow.context.add_cookies(admin.context.cookies())
        for path in ("/ui/marketplace", "/ui/marketplace/pii-redactor", "/ui/marketplace/pii-redactor/install",
                     "/ui/plugins/installed"):
            assert narrow.open(path).status == 200, path
    finally:
        admin.close()
        if narrow is not None:
            narrow.close()
    assert len(admin.checked) >= 6


def test_the_flow_leaves_no_server_errors(instance: tuple[LoggedServer, Path, Path]) -> None:
    output = "".join(instance[0].lines)
    assert "Traceback" not in output, output[-4000:]
