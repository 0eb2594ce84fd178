"""Claude Code itself (npm @anthropic-ai/claude-code 2.1.x) through a running Switchyard to the mock."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.server_helpers import RunningServer, running_server

CLAUDE = os.environ.get("SWITCHYARD_TEST_CLAUDE", "")

pytestmark = pytest.mark.skipif(
    not CLAUDE or not os.path.exists(CLAUDE),
    reason="Claude Code end-to-end test left out: set SWITCHYARD_TEST_CLAUDE to the claude binary "
    "(.ci/run installs it from npm)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("claude")
    config = folder / "switchyard.toml"
    config.write_text('[routing]\napi_key = "sy-claude-code"\n')
    with running_server(folder / "home", "--config", str(config)) as running:
        yield running


def claude(server: RunningServer, tmp_path: Path, prompt: str, key: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "ANTHROPIC_BASE_URL": server.base,
        "ANTHROPIC_API_KEY": key,
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    return subprocess.run([CLAUDE, "-p", prompt], check=False, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_claude_p_answers_from_the_mock(server: RunningServer, tmp_path: Path) -> None:
    result = claude(server, tmp_path, "hi", "sy-claude-code")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Hello from Switchyard's mock model. You said: hi"

