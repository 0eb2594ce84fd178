"""``switchyard users|workspaces|keys``: end to end against a throwaway SWITCHYARD_HOME.

Most tests call the real command (``core.cli.main``) in-process, which is fast; one runs the
installed ``switchyard`` executable to prove the whole path, exit code and stderr included.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.cli import main
from core.discovery import ENTRY_POINT_GROUP
from tests.core.server_helpers import SWITCHYARD, cli_env

_packages_distributions = functools.cache(importlib.metadata.packages_distributions)


@pytest.fixture(autouse=True)
def _fast_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    """Discovery asks importlib.metadata which distribution ships each plugin, a full scan of
    site-packages (about 1 s) per plugin per command; the answer cannot change during the
    tests, so compute it once."""
    monkeypatch.setattr(importlib.metadata, "packages_distributions", _packages_distributions)


@pytest.fixture
def entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path | None:
    """Make the ``auth`` entry point discoverable; a folder for PYTHONPATH if one was needed.

    Until the distribution declares it (pyproject.toml), a throwaway dist-info declares it.
    """
    names = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    if "auth" in names:
        return None
    shim = tmp_path / "entry-point"
    info = shim / "switchyard_auth_test-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: switchyard-auth-test\nVersion: 0.0\n"
    )
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nauth = plugins.auth:includeme\n"
    )
    monkeypatch.syspath_prepend(str(shim))
    return shim


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return out


@pytest.fixture
def upgraded(entry_point: Path | None, capsys: pytest.CaptureFixture[str]) -> Path | None:
    assert "auth_0001" in ok(capsys, "db", "upgrade")
    return entry_point


def test_the_whole_administration_flow(upgraded: Any, capsys: Any) -> None:
    assert ok(capsys, "users", "create", "Alice@Example.com", "--name", "Alice") == (
        "created user alice@example.com\n"
    )
    [user] = json.loads(ok(capsys, "users", "list", "--json"))
    assert (user["email"], user["display_name"], user["is_active"]) == (
        "alice@example.com",
        "Alice",
        True,
    )
    assert "alice@example.com  Alice" in ok(capsys, "users", "list")

    ok(capsys, "workspaces", "create", "team-a", "--name", "Team A")
    assert json.loads(ok(capsys, "workspaces", "list", "--json"))[0]["name"] == "Team A"
    assert ok(capsys, "workspaces", "add-member", "team-a", "alice@example.com", "user") == (
        "alice@example.com is now user in team-a\n"
    )

    code, out, err = run(
        capsys, "keys", "create", "--user", "alice@example.com", "--workspace", "team-a",
        "--name", "laptop", "--scope", "/v1/*", "--scope", "model:claude-*", "--expires-days", "30",
    )  # fmt: skip
    assert code == 0
    key = out.strip()  # stdout holds the key alone, so `KEY=$(switchyard keys create ...)` works
    assert key.startswith("sy_") and "\n" not in key
    assert "not shown again" in err and key not in err
    [listed] = json.loads(ok(capsys, "keys", "list", "--json"))
    assert key.startswith(listed["prefix"] + "_") and key not in json.dumps(listed)
    assert (listed["status"], listed["scopes"], listed["name"]) == (
        "active",
        ["/v1/*", "model:claude-*"],
        "laptop",
    )
    assert listed["prefix"] in ok(capsys, "keys", "list", "--workspace", "team-a")

    rotated = json.loads(
        ok(capsys, "keys", "rotate", listed["prefix"], "--grace-seconds", "60", "--json")
    )
    assert rotated["rotated_from"] == listed["prefix"] and rotated["key"].startswith(
        rotated["prefix"]
    )
    statuses = {k["prefix"]: k["status"] for k in json.loads(ok(capsys, "keys", "list", "--json"))}
    assert statuses == {listed["prefix"]: "grace", rotated["prefix"]: "active"}

    assert ok(capsys, "keys", "revoke", rotated["prefix"]).startswith(
        f"revoked {rotated['prefix']}"
    )
    assert "already revoked" in ok(capsys, "keys", "revoke", rotated["prefix"])
    statuses = {k["prefix"]: k["status"] for k in json.loads(ok(capsys, "keys", "list", "--json"))}
    assert statuses[rotated["prefix"]] == "revoked"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("users", "create", "not-an-email"), "email: 'not-an-email' is not an email address"),
        (("workspaces", "create", "Team_A"), "slug: 'Team_A' is not a workspace slug"),
        (
            ("workspaces", "add-member", "team-a", "x@example.com", "owner"),
            "role: 'owner' is not a role",
        ),
        (
            ("workspaces", "add-member", "nope", "x@example.com", "user"),
            "workspace: no workspace 'nope'",
        ),
        (
            ("keys", "create", "--user", "nobody@example.com", "--workspace", "team-a"),
            "user: no user with email 'nobody@example.com'",
        ),
        (("keys", "revoke", "sy_nothere"), "prefix: no key with prefix 'sy_nothere'"),
        (("keys", "rotate", "sy_nothere"), "prefix: no key with prefix 'sy_nothere'"),
    ],
)
def test_errors_are_one_line_on_stderr(
    upgraded: Any, capsys: Any, argv: tuple[str, ...], message: str
) -> None:
    ok(capsys, "workspaces", "create", "team-a")
    ok(capsys, "users", "create", "x@example.com")
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert err.startswith(f"switchyard: error: {message}")
    assert len(err.strip().splitlines()) == 1


def test_an_unmigrated_database_asks_for_db_upgrade(entry_point: Any, capsys: Any) -> None:
    code, out, err = run(capsys, "users", "list")
    assert code == 1 and out == ""
    assert err.strip() == (
        "switchyard: error: the database is not up to date (missing auth_0001, core_0001); "
        "run `switchyard db upgrade` first"
    )


def test_the_installed_executable(upgraded: Path | None, capsys: Any, tmp_path: Path) -> None:
    ok(capsys, "users", "create", "alice@example.com")
    env = cli_env(tmp_path / "home", upgraded)
    listed = subprocess.run(
        [SWITCHYARD, "users", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert [u["email"] for u in json.loads(listed.stdout)] == ["alice@example.com"]
    refused = subprocess.run(
        [SWITCHYARD, "keys", "revoke", "sy_nothere"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.splitlines() == [
        "switchyard: error: prefix: no key with prefix 'sy_nothere' (see `switchyard keys list`)"
    ]
