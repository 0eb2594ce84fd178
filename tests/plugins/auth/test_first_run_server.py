"""The first-admin link end to end: a real ``switchyard serve`` prints it, a restart replaces
it, a browser-like HTTP client uses it, and once an admin exists no link is printed."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from core.templating import CSRF_COOKIE, CSRF_FIELD
from tests.core.server_helpers import SWITCHYARD, cli_env, free_port
from tests.plugins.auth.signin_support import PASSWORD

LINK = re.compile(
    r"First admin: open (http://127\.0\.0\.1:\d+/ui/first-run\?token=[A-Za-z0-9_-]{43}) "
    r"\(one use, expires in 24 h\)"
)


@dataclass
class Server:
    base: str
    lines: list[str] = field(default_factory=list)

    def first_admin_links(self) -> list[str]:
        return [m.group(1) for line in self.lines if (m := LINK.search(line))]


@contextmanager
def serve(home: Path) -> Iterator[Server]:
    """``switchyard serve`` on a free port, its output collected line by line."""
    port = free_port()
    process = subprocess.Popen(
        [SWITCHYARD, "serve", "--port", str(port)],
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    server = Server(f"http://127.0.0.1:{port}")
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: server.lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "server exited early:\n" + "".join(server.lines)
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "no answer on /healthz:\n" + "".join(server.lines)
            time.sleep(0.1)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        reader.join(timeout=5)


def test_the_printed_link_makes_the_first_admin(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with serve(home) as first:
        [old] = first.first_admin_links()
        assert old.startswith(first.base)
    with serve(home) as server:
        [link] = server.first_admin_links()
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
    with serve(home) as later:
        assert later.first_admin_links() == []
        assert not any("first-run" in line for line in later.lines)
