"""The ``switchyard`` command: help, data as JSON, and one clear error line with a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_the_kernel_commands(capsys: Any) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("serve", "db", "plugins"):
        assert f"  {command}" in out


def test_settings_error_is_one_line_on_stderr(capsys: Any, tmp_path: Path) -> None:
    bad = tmp_path / "switchyard.toml"
    bad.write_text("[server]\nport = 'eighty'\n")
    code, out, err = run(capsys, "--config", str(bad), "plugins")
    assert code == 2 and out == ""
    assert err.startswith(f"switchyard: error: {bad}:2: server.port")
    assert len(err.strip().splitlines()) == 1


def test_bad_option_is_a_usage_error(capsys: Any) -> None:
    code, _, err = run(capsys, "serve", "--port", "70000")
    assert code == 2
    assert err.startswith("switchyard: error: Invalid value for '--port'")


def test_missing_config_file_names_it(capsys: Any, tmp_path: Path) -> None:
    code, _, err = run(capsys, "--config", str(tmp_path / "nope.toml"), "plugins")
    assert code == 2 and "nope.toml" in err


def test_db_upgrade_current_and_history(capsys: Any) -> None:
    code, out, _ = run(capsys, "db", "current", "--json")
    assert (code, json.loads(out)) == (0, [])
    code, out, _ = run(capsys, "db", "upgrade")
    assert code == 0 and "core_0002" in out
    code, out, _ = run(capsys, "db", "current", "--json")
    assert "core_0002" in json.loads(out)  # plus one head per installed plugin with tables
    code, out, _ = run(capsys, "db", "history", "--json")
    assert any({"revision": "core_0001", "down_revision": None}.items() <= row.items() for row in json.loads(out))


def test_plugins_lists_kernel_and_shell(capsys: Any) -> None:
    code, out, _ = run(capsys, "plugins", "--json")
    names = {p["name"]: p for p in json.loads(out)}
    assert code == 0
    assert names["core"]["routes"] == ["GET /healthz", "GET /metrics", "GET /readyz"]
    assert names["web"]["status"] == "ok" and "/ui/plugins" in names["web"]["views"]
