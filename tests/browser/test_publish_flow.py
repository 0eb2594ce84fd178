"""Author to admin, end to end, against a real ``switchyard serve`` that is its own index.

The author scaffolds a plugin (``plugin new``), builds it with the real compiler, packs it,
signs it with ``plugin sign`` through the offline Sigstore stand-ins (a real Fulcio
certificate and Rekor entry for the author's identity), and publishes it with
``plugin publish FILE --index URL --api-key KEY`` using a key of the ``publisher`` role. The
admin then finds it in the marketplace UI, installs it granting what it asks for, and sees it
installed, signed by the author and healthy; axe-core checks every page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.support import Visitor, require_browser
from tests.browser.test_marketplace_flow import (
    WORKSPACE,
    cli,
    config,
    sign_in_first_admin,
    wait_for,
    wait_for_key,
)
from tests.core.server_helpers import LoggedServer, serve_with_output
from tests.marketplace.sigstore_testing import EMAIL_ISSUER, default_root, identity_token

require_browser()
pytestmark = pytest.mark.browser

AUTHOR = "author@example.com"


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoggedServer, Path, Path]]:
    folder = tmp_path_factory.mktemp("publish-flow")
    home, conf = folder / "home", config(folder)
    with serve_with_output(home, "--config", str(conf)) as server:
        yield server, home, conf


def author_publishes(home: Path, conf: Path, base: str, work: Path) -> Path:
    """new -> build -> pack -> sign -> publish, each with the CLI, as a publisher."""
    cli(home, conf, "users", "create", AUTHOR)
    cli(home, conf, "workspaces", "add-member", WORKSPACE, AUTHOR, "user")
    cli(home, conf, "policy", "add", "g", AUTHOR, "publisher", WORKSPACE)
    key = cli(home, conf, "keys", "create", "--user", AUTHOR, "--workspace", WORKSPACE,
              "--name", "release").strip()
    cli(home, conf, "plugin", "new", "word-guard", "--dir", str(work))
    folder = work / "word-guard"
    cli(home, conf, "plugin", "build", str(folder))
    packed = json.loads(cli(home, conf, "plugin", "pack", str(folder), "--out", str(work / "dist"), "--json"))
    syp = Path(packed["path"])
    with default_root().serve() as services:
        signed = json.loads(cli(home, conf, "plugin", "sign", str(syp), "--identity-token",
                                identity_token(AUTHOR, EMAIL_ISSUER), "--trust-config",
                                str(services.trust_config_path), "--json"))
    assert signed["identity"] == AUTHOR and Path(signed["bundle"]).is_file()
    wait_for_key(base, key)
    cli(home, conf, "plugin", "publish", str(syp), "--index", f"{base}/marketplace/", "--api-key", key)
    return syp


def test_an_author_publishes_and_an_admin_installs_from_the_ui(
    instance: tuple[LoggedServer, Path, Path], browser: Any, tmp_path: Path
) -> None:
    server, home, conf = instance
    admin = Visitor(browser, server.base)
    try:
        sign_in_first_admin(admin, server)
        author_publishes(home, conf, server.base, tmp_path)

        admin.open("/ui/marketplace?q=word")
        admin.page.click("#mp-results >> text=word-guard")
        admin.page.wait_for_url("**/ui/marketplace/word-guard")
        admin.check()
        body = admin.page.locator("main").inner_text()
        assert AUTHOR in body and "Signed" in body and "Write to the gateway's log" in body

        admin.page.click("a:has-text('Install 0.1.0')")
        admin.page.wait_for_url("**/ui/marketplace/word-guard/install**")
        admin.check()
        checks = admin.page.locator("#install-checks").inner_text()
        assert f"signed by {AUTHOR}" in checks and "sha256 passed" in checks
        for box in admin.page.locator("input[name='grant']").all():
            box.check()
        admin.page.click("button:has-text('Grant and install')")
        admin.page.wait_for_url("**/ui/plugins/installed**")
        admin.check()
        card = admin.page.locator("#installed-word-guard")
        assert "Signed" in card.inner_text() and "config, log" in card.inner_text()

        def healthy() -> bool:
            admin.page.reload()
            return "Healthy" in admin.page.locator("#installed-word-guard .mp-badges").inner_text()

        wait_for(healthy, "word-guard to load")
        admin.check()
    finally:
        admin.close()


def test_the_flow_leaves_no_server_errors(instance: tuple[LoggedServer, Path, Path]) -> None:
    output = "".join(instance[0].lines)
    assert "Traceback" not in output, output[-4000:]
