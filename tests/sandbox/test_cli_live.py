"""The issue's acceptance: an admin builds, packs and installs the pii-redactor example with
the CLI, and a server that is already running redacts live traffic without a restart (the
host polls the store's version)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.cli_support import fails, listed, ok

pytest.importorskip("ziglang")
pytestmark = pytest.mark.usefixtures("sandbox_entry_point", "fast_discovery")

REPO = Path(__file__).resolve().parents[2]
PLUGINS = [("routing", "plugins.routing:includeme"), ("sandbox", "sandbox:includeme")]
PROMPT = "Mail jane.doe@example.com about card 4111 1111 1111 1111"


def said(client: Any) -> str:
    response = client.post(
        "/v1/messages",
        json={
            "model": "mock,mock-1",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": PROMPT}],
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["content"][0]["text"]


def eventually(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_install_reaches_a_running_server_without_restart(
    client_for: Callable[..., Any], capsys: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "pii-redactor"
    shutil.copytree(
        REPO / "examples" / "pii-redactor", source, ignore=shutil.ignore_patterns("*.wasm")
    )
    ok(capsys, "plugin", "build", str(source))
    monkeypatch.chdir(tmp_path)
    ok(capsys, "plugin", "pack", str(source))
    syp = Path("pii-redactor-0.1.0.syp")
    assert syp.is_file()

    client = client_for(PLUGINS, toml="[sandbox]\nreload_interval_s = 0.2\n")
    assert "jane.doe@example.com" in said(client)  # nothing installed yet
    ok(capsys, "db", "upgrade")  # the CLI's plugins (the marketplace too), as `serve` would

    assert fails(capsys, "plugin", "install", f"./{syp}", "--allow-unsigned", "--grant", "log") == (
        "--grant: pii-redactor does not ask for log; it asks for config"
    )
    ok(capsys, "plugin", "install", f"./{syp}", "--allow-unsigned", "--grant", "config")
    assert eventually(lambda: "[EMAIL]" in said(client)), said(client)
    text = said(client)
    assert "jane.doe@example.com" not in text and "[CARD]" in text

    ok(capsys, "plugin", "disable", "pii-redactor")
    assert eventually(lambda: "jane.doe@example.com" in said(client))
    ok(capsys, "plugin", "enable", "pii-redactor")
    assert eventually(lambda: "[EMAIL]" in said(client))
    ok(capsys, "plugin", "uninstall", "pii-redactor", "--yes")
    assert eventually(lambda: "jane.doe@example.com" in said(client))
    assert listed(capsys) == []
