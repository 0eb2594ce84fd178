"""The first-admin link end to end: a real ``switchyard serve`` prints it, a restart replaces
it, a browser-like HTTP client uses it, and once an admin exists no link is printed."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from core.templating import CSRF_COOKIE, CSRF_FIELD
from tests.core.server_helpers import LoggedServer, serve_with_output
from tests.plugins.auth.signin_support import PASSWORD

LINK = re.compile(
    r"First admin: open (http://127\.0\.0\.1:\d+/ui/first-run\?token=[A-Za-z0-9_-]{43}) "
    r"\(one use, expires in 24 h\)"
)


def first_admin_links(server: LoggedServer) -> list[str]:
    return [m.group(1) for line in server.lines if (m := LINK.search(line))]


def test_the_printed_link_makes_the_first_admin(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with serve_with_output(home) as first:
        [old] = first_admin_links(first)
        assert old.startswith(first.base)
    with serve_with_output(home) as server:
        [link] = first_admin_links(server)
        token = link.rsplit("=", 1)[1]
        assert link != old.replace(first.base, server.base)
        with httpx.Client(base_url=server.base, follow_redirects=False) as browser:
            stale = browser.get(old.replace(first.base, server.base))
            assert stale.status_code == 404, "a restart must void the older link"
            form = browser.get(link)
            assert form.status_code == 200 and "Create the first admin" in form.text
            done = browser.post(
                "/ui/first-run",
                data={
                    CSRF_FIELD: browser.cookies[CSRF_COOKIE],
                    "token": token,
                    "email": "root@example.com",
                    "display_name": "Root",
                    "password": PASSWORD,
                    "password_confirm": PASSWORD,
                },
            )
            assert done.status_code == 303 and done.headers["location"] == "/ui/"
            assert browser.get("/ui/me/security").status_code == 200
            members = browser.get("/api/v1/members")
            assert members.status_code == 200, members.text
            assert browser.get(link).status_code == 404  # used
    with serve_with_output(home) as later:
        assert first_admin_links(later) == []
        assert not any("first-run" in line for line in later.lines)
