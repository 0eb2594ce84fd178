"""Issue 4's acceptance flow in headless Chromium against a real ``switchyard serve``.

An admin signs in with the first-run link the server printed, creates a workspace, invites a
user as a viewer; the viewer sees read-only pages and is refused a write; the admin edits the
policy in the editor and the viewer's access changes without a restart. Two workers serve the
app, so the edit made in one process must reach the other (policy polling), and axe-core must
find nothing on any page either person visits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.support import Visitor, require_browser
from tests.core.server_helpers import LoggedServer, serve_with_output
from tests.plugins.auth.test_first_run_server import first_admin_links

require_browser()
pytestmark = pytest.mark.browser

ADMIN, VIEWER = "ada@example.com", "bob@example.com"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedServer]:
    home = tmp_path_factory.mktemp("team-flow") / "home"
    with serve_with_output(home, "--workers", "2") as running:
        yield running


def set_password(page: Any) -> None:
    page.fill("#f-password", PASSWORD)
    page.fill("#f-password_confirm", PASSWORD)


def wait_for_status(visitor: Visitor, path: str, status: int, timeout: float = 15) -> Any:
    """The other worker applies a policy change on its next poll (every 2 s by default)."""
    deadline = time.monotonic() + timeout
    while True:
        response = visitor.page.goto(visitor.base + path)
        if response.status == status or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


def test_admin_gives_a_viewer_access_and_edits_the_policy_live(server: LoggedServer, browser: Any) -> None:
    [link] = first_admin_links(server)
    admin = Visitor(browser, server.base)
    viewer = Visitor(browser, server.base, width=320)
    try:
        # 1. The admin signs in with the printed one-time link and creates a workspace.
        admin.open(link)
        admin.page.fill("#f-email", ADMIN)
        admin.page.fill("#f-display_name", "Ada")
        set_password(admin.page)
        admin.page.click("button:has-text('Create admin and sign in')")
        admin.page.wait_for_url(f"{server.base}/ui/**")
        admin.check()
        admin.open("/ui/workspaces")
        admin.page.fill("#ws-slug", "team-a")
        admin.page.fill("#ws-name", "Team A")
        admin.page.click("button:has-text('Create workspace')")
        admin.page.locator("#workspaces-panel button:has-text('Work in team-a')").click()
        admin.page.wait_for_load_state("networkidle")
        assert admin.page.locator("#workspace-select").input_value() == "team-a"
        admin.check()

        # 2. The admin invites a user into team-a as a viewer.
        admin.open("/ui/members")
        admin.page.fill("#invite-email", VIEWER)
        admin.page.select_option("#invite-role", "viewer")
        admin.page.click("button:has-text('Create invitation link')")
        invite = admin.page.locator("#invite-link").input_value()
        assert "/ui/invite?token=" in invite
        admin.check()

        # 3. The viewer joins, sees read-only pages, and is refused writes.
        viewer.open(invite)
        viewer.page.fill("#f-display_name", "Bob")
        set_password(viewer.page)
        viewer.page.click("button:has-text('Create account and join')")
        viewer.page.wait_for_url(f"{server.base}/ui/**")
        viewer.check()
        for path in ("/ui/members", "/ui/policy", "/ui/routing"):
            assert viewer.open(path).status == 200, path
        viewer.open("/ui/members")
        assert viewer.page.locator("text=Create invitation link").count() == 0  # no write controls
        assert VIEWER in viewer.page.locator("#members-panel").inner_text()
        assert viewer.post_form("/ui/members", {"op": "invite", "email": "eve@example.com", "role": "admin"}) == 403
        assert viewer.post_form("/ui/policy/rules", {
            "form": "assign", "subject": VIEWER, "role": "admin"}) == 403
        refused = viewer.open("/ui/keys")
        assert refused.status == 403
        assert viewer.page.locator("h1").inner_text().strip() != ""

        # 4. The admin lets viewers read the keys page, in the editor, without a page load.
        admin.open("/ui/policy")
        admin.page.evaluate("window.__sameDocument = true")
        admin.page.fill("#grant-role", "viewer")
        admin.page.fill("#grant-object", "manage_keys")
        admin.page.select_option("#grant-action", "read")
        admin.page.check("#grant-scope-here")
        admin.page.click("button:has-text('Add rule')")
        admin.page.locator("ol.history > li", has_text="manage_keys").first.wait_for()
        assert admin.page.evaluate("window.__sameDocument === true"), "the editor reloaded the page"
        admin.check()

        # 5. It takes effect without a restart, in whichever worker serves the viewer; a
        #    write there is still refused.
        allowed = wait_for_status(viewer, "/ui/keys", 200)
        assert allowed.status == 200
        viewer.check()
        assert viewer.post_form("/ui/keys", {"op": "create", "user": VIEWER, "name": "sneaky"}) == 403

        # The history's one-click revert undoes it, again live.
        admin.open("/ui/policy")
        newest = admin.page.locator("ol.history > li", has_text="manage_keys").first
        newest.locator("button:has-text('Revert')").click()
        admin.page.wait_for_load_state("networkidle")
        admin.check()
        assert wait_for_status(viewer, "/ui/keys", 403).status == 403
    finally:
        admin.close()
        viewer.close()
    assert len(admin.checked) >= 8 and len(viewer.checked) >= 6


def test_the_flow_leaves_no_server_errors(server: LoggedServer) -> None:
    """Runs after the flow: nothing it did made the server log a traceback."""
    output = "".join(server.lines)
    assert "Traceback" not in output, output[-4000:]
