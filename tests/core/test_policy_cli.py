"""``switchyard policy``: list, add, remove, check, history and revert on a migrated database
(SQLite, and PostgreSQL when configured), JSON on every command, one error line and exit 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.cli import main
from tests.core.db_fixtures import pg
from tests.core.server_helpers import SWITCHYARD, cli_env

pg_url = pg.pg_url
db_url = pg.db_url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def migrated(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> str:
    monkeypatch.setenv("SWITCHYARD_DATABASE__URL", db_url)
    monkeypatch.setenv("USER", "robin")
    code, _, err = run(capsys, "db", "upgrade")
    assert code == 0, err
    return db_url


def test_add_check_and_remove_an_assignment(capsys: Any, migrated: str) -> None:
    code, out, err = run(capsys, "policy", "check", "alice@example.com", "team-a", "/api/v1/config", "read")
    assert (code, out.splitlines()[0]) == (0, "denied")
    assert "alice@example.com holds no role in 'team-a'" in out

    code, out, err = run(capsys, "policy", "add", "g", "Alice@Example.com", "viewer", "team-a")
    assert code == 0, err
    assert out.startswith("added [g, alice@example.com, viewer, team-a] (change ")

    code, out, _ = run(capsys, "policy", "check", "alice@example.com", "team-a", "/api/v1/config", "read")
    lines = out.splitlines()
    assert lines[0] == "allowed"
    assert "granted by [p, viewer, *, read_config, read]" in lines[1]
    assert "through [g2, /api/v1/config, read_config]" in lines[1]
    assert lines[2] == "  roles of alice@example.com in team-a: viewer"

    code, out, _ = run(capsys, "policy", "check", "alice@example.com", "team-a", "/api/v1/keys", "write", "--json")
    decision = json.loads(out)
    assert decision["allowed"] is False and decision["roles"] == ["viewer"] and decision["rule"] is None

    code, out, _ = run(capsys, "policy", "remove", "g", "alice@example.com", "viewer", "team-a", "--json")
    change = json.loads(out)
    assert change["action"] == "remove" and change["actor"] == "cli:robin"
    assert change["before"] == [["g", "alice@example.com", "viewer", "team-a"]] and change["after"] == []


def test_list_with_and_without_a_workspace(capsys: Any, migrated: str) -> None:
    run(capsys, "policy", "add", "g", "bob@example.com", "user", "team-a")
    run(capsys, "policy", "add", "g", "cid@example.com", "user", "team-b")
    run(capsys, "policy", "add", "p", "user", "team-b", "manage_keys", "write", "--actor", "ops@example.com")
    code, out, _ = run(capsys, "policy", "list")
    lines = out.splitlines()
    assert code == 0
    assert "p, admin, *, *, *" in lines and "g, cid@example.com, user, team-b" in lines
    assert "g2, /api/v1/keys/*, manage_keys" in lines
    code, out, _ = run(capsys, "policy", "list", "--workspace", "team-a", "--json")
    listed = json.loads(out)
    assert {"ptype": "g", "values": ["bob@example.com", "user", "team-a"]} in listed
    assert {"ptype": "g", "values": ["cid@example.com", "user", "team-b"]} not in listed
    assert {"ptype": "p", "values": ["user", "team-b", "manage_keys", "write"]} not in listed
    code, out, _ = run(capsys, "policy", "history", "--json", "--limit", "1")
    [latest] = json.loads(out)
    assert (latest["actor"], latest["workspace"]) == ("ops@example.com", "team-b")


def test_g2_lines_and_revert(capsys: Any, migrated: str) -> None:
    code, out, _ = run(capsys, "policy", "add", "g2", "/api/v1/exports/*", "view_analytics", "--json")
    change_id = json.loads(out)["id"]
    run(capsys, "policy", "add", "g", "dee@example.com", "viewer", "team-a")
    code, out, _ = run(capsys, "policy", "check", "dee@example.com", "team-a", "/api/v1/exports/7", "read")
    assert out.startswith("allowed")
    code, out, _ = run(capsys, "policy", "revert", str(change_id))
    assert code == 0 and out.startswith(f"reverted change {change_id} (change ")
    code, out, _ = run(capsys, "policy", "check", "dee@example.com", "team-a", "/api/v1/exports/7", "read")
    assert out.startswith("denied")
    code, out, _ = run(capsys, "policy", "history")
    assert "revert" in out and "    - g2, /api/v1/exports/*, view_analytics" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["add", "x", "a", "b"], "ptype: unknown rule type 'x'"),
        (["add", "p", "user", "*", "read_config"], "values: a p line has 4 values"),
        (["add", "g", "bob@example.com", "wizard", "team-a"], "role: unknown role 'wizard'"),
        (["add", "g", "bob@example.com", "user", "Team A"], "workspace: 'Team A' must not contain spaces"),
        (["add", "g2", "/api/v1/keys*", "manage_keys"], "pattern: '/api/v1/keys*': * must be a whole segment"),
        (["add", "p", "user", "*", "read_config", "read"], "rule: [p, user, *, read_config, read] is already"),
        (["remove", "g", "bob@example.com", "user", "team-a"], "rule: [g, bob@example.com, user, team-a] is not"),
        (["check", "bob@example.com", "team-a", "/api/v1/keys", "erase"], "action: 'erase' is not an action"),
        (["revert", "1"], "change_id: the initial policy cannot be reverted"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_and_changes_nothing(
    capsys: Any, migrated: str, argv: list[str], message: str
) -> None:
    _, before, _ = run(capsys, "policy", "history", "--json")
    code, out, err = run(capsys, "policy", *argv)
    assert code == 2 and out == ""
    assert err.startswith(f"switchyard: error: {message}"), err
    assert len(err.strip().splitlines()) == 1
    _, after, _ = run(capsys, "policy", "history", "--json")
    assert after == before


def test_an_unmigrated_database_says_what_to_do(capsys: Any) -> None:
    code, out, err = run(capsys, "policy", "list")
    assert code == 2 and out == ""
    assert err.startswith("switchyard: error: cannot read the policy (")
    assert err.strip().endswith("run `switchyard db upgrade` first")


def test_the_installed_command_works_end_to_end(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home", USER="sam")
    subprocess.run([SWITCHYARD, "db", "upgrade"], env=env, check=True, capture_output=True)
    added = subprocess.run(
        [SWITCHYARD, "policy", "add", "g", "eve@example.com", "admin", "team-a", "--json"],
        env=env, capture_output=True, text=True, check=True,
    )
    assert json.loads(added.stdout)["actor"] == "cli:sam"
    checked = subprocess.run(
        [SWITCHYARD, "policy", "check", "eve@example.com", "team-a", "/api/v1/keys", "write"],
        env=env, capture_output=True, text=True, check=True,
    )
    assert checked.stdout.splitlines()[0] == "allowed"
    helped = subprocess.run(
        [SWITCHYARD, "policy", "--help"], env=env, capture_output=True, text=True, check=True
    )
    for command in ("list", "add", "remove", "check", "history", "revert"):
        assert f"  {command}" in helped.stdout
