"""Plugins found through entry points: a real sample distribution, installed with pip, no kernel change."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.app import build_registry
from tests.core.server_helpers import SWITCHYARD, cli_env, install_sample_dists, running_server
from tests.identity_plugin import ADMIN, as_user

SIGNED_IN = as_user(ADMIN)  # the test identity plugin makes this an admin of "default"


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    return install_sample_dists(target, "switchyard-hello", "switchyard-broken", "switchyard-test-identity")


def test_discovery_includes_installed_plugins_and_reports_broken_ones(
    dists: Path, settings_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(dists))
    registry = build_registry(settings_for())
    hello = registry.plugins["hello"]
    assert (hello.status, hello.version, hello.origin) == ("ok", "0.3.1", "switchyard-hello")
    assert "GET /hello" in hello.routes and "/ui/hello" in hello.views and "Hello" in hello.nav
    broken = registry.plugins["broken"]
    assert broken.status == "failed"
    assert "libfrobnicate" in (broken.error or "") and "Traceback" in (broken.error or "")
    assert registry.plugins["web"].status == "ok"


def test_settings_disable_and_enable_plugins(dists: Path, settings_for: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(dists))
    registry = build_registry(settings_for('[plugins]\ndisabled = ["broken", "hello"]\n'))
    assert registry.plugins["hello"].status == "disabled"
    assert registry.plugins["broken"].status == "disabled"
    assert not [r for r in registry.routes if r.plugin == "hello"]

    only = build_registry(settings_for('[plugins]\nenabled = ["hello", "ghost"]\n'))
    assert set(only.plugins) == {"core", "hello", "ghost"}
    assert only.plugins["ghost"].status == "failed"
    assert "no installed distribution provides it" in (only.plugins["ghost"].error or "")


def test_cli_lists_plugins_as_json(dists: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [SWITCHYARD, "plugins", "--json"],
        env=cli_env(tmp_path / "home", dists),
        capture_output=True,
        text=True,
        check=True,
    )
    by_name = {p["name"]: p for p in json.loads(result.stdout)}
    assert by_name["hello"]["version"] == "0.3.1"
    assert by_name["hello"]["routes"] == ["GET /hello", "GET /hello/slow"]
    assert by_name["broken"]["status"] == "failed"


def test_running_server_shows_the_plugin_route_page_and_nav(dists: Path, tmp_path: Path) -> None:
    with running_server(tmp_path / "home", pythonpath=dists) as server:
        assert httpx.get(f"{server.base}/hello").status_code == 401  # not public: the guard asks
        assert httpx.get(f"{server.base}/hello", headers=SIGNED_IN).json() == {"hello": "world"}
        page = httpx.get(f"{server.base}/ui/hello", headers=SIGNED_IN).text
        assert '<p id="greeting">Hello from a plugin</p>' in page
        home = httpx.get(f"{server.base}/ui/", headers=SIGNED_IN).text
        assert re.search(r'<a[^>]+href="/ui/hello"', home), "nav item missing from the shell"
        listing = httpx.get(f"{server.base}/ui/plugins", headers=SIGNED_IN).text
        assert "switchyard-hello" in listing and "0.3.1" in listing
        assert "libfrobnicate" in listing  # the broken plugin's error is shown
        ready = httpx.get(f"{server.base}/readyz").json()
        assert ready["checks"]["database"] == "ok"
        assert ready["checks"]["plugin:broken"].startswith("failed")


def test_sigterm_lets_in_flight_requests_finish_and_runs_shutdown(dists: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with running_server(home, pythonpath=dists) as server:
        result: dict[str, Any] = {}

        def slow_call() -> None:
            result["response"] = httpx.get(
                f"{server.base}/hello/slow?seconds=1.5", headers=SIGNED_IN, timeout=10
            )

        caller = threading.Thread(target=slow_call)
        caller.start()
        time.sleep(0.5)  # the request is in flight
        exit_code = server.terminate()
        caller.join(10)
        output = server.output()
    assert result["response"].status_code == 200, output
    assert result["response"].json() == {"slept": 1.5}
    assert exit_code == 0, output
    assert "stopped cleanly: jobs stopped, events flushed, database closed" in output
    assert (home / "hello-shutdown.txt").read_text() == "clean shutdown\n"
