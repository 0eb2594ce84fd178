"""``switchyard users|workspaces|keys``: end to end against a throwaway SWITCHYARD_HOME.

Most tests call the real command (``core.cli.main``) in-process, which is fast; one runs the
installed ``switchyard`` executable to prove the whole path, exit code and stderr included.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import re
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
    assert re.search(r"auth_\d{4}", ok(capsys, "db", "upgrade"))
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
    assert re.fullmatch(
        r"switchyard: error: the database is not up to date \(missing auth_\d{4}, core_\d{4}\); "
        r"run `switchyard db upgrade` first",
        err.strip(),
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


# -- members: roles through the policy ----------------------------------------------------


def out_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    return json.loads(ok(capsys, *argv, "--json"))


def test_members_are_managed_through_the_policy(upgraded: Any, capsys: Any) -> None:
    for email in ("ann@example.com", "bob@example.com"):
        ok(capsys, "users", "create", email)
    made = out_json(capsys, "workspaces", "create", "team-a", "--owner", "Ann@Example.com")
    assert made["slug"] == "team-a"
    assert out_json(capsys, "workspaces", "members", "team-a") == [
        {"user": "ann@example.com", "workspace": "team-a", "role": "admin",
         "created_at": ANY_TIME, "roles": ["admin"]},
    ]  # fmt: skip

    added = out_json(capsys, "workspaces", "add-member", "team-a", "bob@example.com", "viewer")
    assert (added["user"], added["roles"]) == ("bob@example.com", ["viewer"])
    # the role is a policy line, and the policy answers with it
    lines = out_json(capsys, "policy", "list", "--workspace", "team-a")
    assert {"ptype": "g", "values": ["bob@example.com", "viewer", "team-a"]} in lines
    assert ok(
        capsys, "policy", "check", "bob@example.com", "team-a", "/api/v1/members", "read"
    ).startswith("allowed")
    assert ok(
        capsys, "policy", "check", "bob@example.com", "team-a", "/api/v1/keys", "write"
    ).startswith("denied")

    changed = out_json(capsys, "workspaces", "set-role", "team-a", "bob@example.com", "user")
    assert changed["roles"] == ["user"]
    history = out_json(capsys, "policy", "history", "--workspace", "team-a")
    assert history[0]["actor"].startswith("cli")
    mine = out_json(capsys, "workspaces", "list", "--user", "bob@example.com")
    assert [(w["slug"], w["roles"]) for w in mine] == [("team-a", ["user"])]

    key = out_json(capsys, "keys", "create", "--user", "bob@example.com", "--workspace", "team-a")
    removed = out_json(capsys, "workspaces", "remove-member", "team-a", "bob@example.com")
    assert removed == {
        "email": "bob@example.com",
        "workspace": "team-a",
        "revoked_keys": [key["prefix"]],
    }
    [listed] = out_json(capsys, "keys", "list", "--user", "bob@example.com")
    assert listed["status"] == "revoked"
    assert not any(
        line["ptype"] == "g" and line["values"][0] == "bob@example.com"
        for line in out_json(capsys, "policy", "list")
    )
    text = ok(capsys, "workspaces", "members", "team-a")
    assert "ann@example.com" in text and "bob@example.com" not in text


def test_an_invitation_link_from_the_command_line(upgraded: Any, capsys: Any) -> None:
    ok(capsys, "users", "create", "ann@example.com")
    ok(capsys, "workspaces", "create", "team-a", "--owner", "ann@example.com")
    invite = out_json(
        capsys, "workspaces", "invite", "team-a", "new@example.com", "viewer",
        "--base-url", "https://gw.example.com/",
    )  # fmt: skip
    assert invite["link"].startswith("https://gw.example.com/ui/invite?token=")
    assert (invite["new_user"], invite["role"]) == (True, "viewer")
    code, _, err = run(capsys, "workspaces", "invite", "team-a", "ann@example.com", "user")
    assert code == 1 and err.startswith(
        "switchyard: error: email: ann@example.com is already a member"
    )
    code, _, err = run(capsys, "workspaces", "invite", "team-a", "x@example.com", "owner")
    assert code == 1 and err.startswith("switchyard: error: role: 'owner' is not a role")


def test_key_expiry_options_and_json_everywhere(upgraded: Any, capsys: Any) -> None:
    ok(capsys, "users", "create", "ann@example.com")
    ok(capsys, "workspaces", "create", "team-a", "--owner", "ann@example.com")
    by_ttl = out_json(
        capsys, "keys", "create", "--user", "ann@example.com", "--workspace", "team-a", "--ttl", "3600",
    )  # fmt: skip
    assert by_ttl["key"].startswith(by_ttl["prefix"]) and by_ttl["status"] == "active"
    assert by_ttl["expires_at"] is not None
    at = out_json(
        capsys, "keys", "create", "--user", "ann@example.com", "--workspace", "team-a",
        "--expires-at", "2030-01-31T18:00:00",
    )  # fmt: skip
    assert at["expires_at"] == "2030-01-31T18:00:00+00:00"  # no zone given: UTC
    rotated = out_json(capsys, "keys", "rotate", at["prefix"], "--grace-seconds", "0")
    assert rotated["rotated_from"] == at["prefix"]
    revoked = out_json(capsys, "keys", "revoke", rotated["prefix"])
    assert (revoked["status"], revoked["already_revoked"]) == ("revoked", False)
    assert out_json(capsys, "keys", "revoke", rotated["prefix"])["already_revoked"] is True
    statuses = {
        k["prefix"]: k["status"] for k in out_json(capsys, "keys", "list", "--workspace", "team-a")
    }
    assert statuses == {
        by_ttl["prefix"]: "active",
        at["prefix"]: "rotated",
        rotated["prefix"]: "revoked",
    }
    assert out_json(capsys, "users", "list")[0]["email"] == "ann@example.com"
    assert [w["slug"] for w in out_json(capsys, "workspaces", "list")] == ["team-a"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("--scope", "/v1/*", "--scope", "messages"),
            "scopes[1]: 'messages' is neither an endpoint",
        ),
        (("--scope", "model:"), "scopes[0]: 'model:' needs a model name"),
        (
            ("--expires-at", "2001-01-01T00:00:00Z"),
            "expires_at: 2001-01-01T00:00:00+00:00 is in the past",
        ),
        (("--expires-at", "tomorrow"), "expires_at: 'tomorrow' is not a date and time"),
        (
            ("--ttl", "60", "--expires-days", "1"),
            "expires_at: give one of --expires-days, --ttl and --expires-at",
        ),
        (("--name", "x" * 201), "name: is 201 characters long"),
    ],
)
def test_bad_key_options_are_one_line_and_store_nothing(
    upgraded: Any, capsys: Any, argv: tuple[str, ...], message: str
) -> None:
    ok(capsys, "users", "create", "ann@example.com")
    ok(capsys, "workspaces", "create", "team-a", "--owner", "ann@example.com")
    code, out, err = run(
        capsys, "keys", "create", "--user", "ann@example.com", "--workspace", "team-a", *argv
    )
    assert (code, out) == (1, "")
    assert err.startswith(f"switchyard: error: {message}") and len(err.strip().splitlines()) == 1
    assert out_json(capsys, "keys", "list") == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("workspaces", "set-role", "team-a", "ann@example.com", "viewer"),
         "user: ann@example.com is the last admin of 'team-a'"),
        (("workspaces", "remove-member", "team-a", "ann@example.com"),
         "user: ann@example.com is the last admin of 'team-a'"),
        (("workspaces", "set-role", "team-a", "zed@example.com", "viewer"),
         "user: no user with email 'zed@example.com'"),
        (("workspaces", "set-role", "team-a", "ann@example.com", "root"), "role: 'root' is not a role"),
        (("workspaces", "remove-member", "team-a", "not-an-email"), "email: 'not-an-email'"),
        (("workspaces", "members", "nope"), "workspace: no workspace 'nope'"),
        (("workspaces", "create", "team-b", "--owner", "zed@example.com"),
         "user: no user with email 'zed@example.com'"),
    ],
)  # fmt: skip
def test_bad_member_commands_change_nothing(
    upgraded: Any, capsys: Any, argv: tuple[str, ...], message: str
) -> None:
    ok(capsys, "users", "create", "ann@example.com")
    ok(capsys, "workspaces", "create", "team-a", "--owner", "ann@example.com")
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert err.startswith(f"switchyard: error: {message}"), err
    assert [
        (m["user"], m["roles"]) for m in out_json(capsys, "workspaces", "members", "team-a")
    ] == [("ann@example.com", ["admin"])]
    assert [w["slug"] for w in out_json(capsys, "workspaces", "list")] == ["team-a"]


class _AnyTime:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(
            re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", other)
        )


ANY_TIME = _AnyTime()


def _in_database(work: Any) -> Any:
    """Run ``work(db)`` against the database the commands use (SWITCHYARD_HOME's)."""
    import asyncio

    from core.db import Database
    from core.settings import load_settings

    async def go() -> Any:
        db = Database(load_settings(None).database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_reset_mfa_turns_totp_off_and_deletes_recovery_codes(upgraded: Any, capsys: Any) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import func, insert, select, update

    from plugins.auth.models import recovery_codes, users

    user_id = out_json(capsys, "users", "create", "ann@example.com")["id"]
    now = datetime.now(UTC)

    async def enable(db: Any) -> None:  # what confirming TOTP on the security page leaves
        async with db.engine.begin() as conn:
            await conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(totp_secret="sealed", totp_enabled_at=now, totp_last_step=1)
            )
            for n in range(3):
                await conn.execute(
                    insert(recovery_codes).values(
                        user_id=user_id, code_hash=f"h{n}", created_at=now,
                        used_at=now if n == 0 else None,
                    )
                )  # fmt: skip

    async def state(db: Any) -> tuple[Any, int]:
        async with db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(users.c.totp_secret, users.c.totp_enabled_at).where(
                        users.c.id == user_id
                    )
                )
            ).one()
            count = (
                await conn.execute(select(func.count()).select_from(recovery_codes))
            ).scalar_one()
        return tuple(row), count

    _in_database(enable)
    assert ok(capsys, "users", "reset-mfa", "Ann@Example.com") == (
        "two-step sign-in is off for ann@example.com (2 unused recovery code(s) deleted); "
        "they can set it up again on /ui/me/security\n"
    )
    assert _in_database(state) == ((None, None), 0)
    assert out_json(capsys, "users", "reset-mfa", "ann@example.com") == {
        "email": "ann@example.com",
        "totp_was_on": False,
        "recovery_codes_deleted": 0,
    }
    assert "was not on for ann@example.com; nothing changed" in ok(
        capsys, "users", "reset-mfa", "ann@example.com"
    )


def test_sign_out_ends_every_session_of_the_user(upgraded: Any, capsys: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert, select

    from plugins.auth.models import sessions

    ann = out_json(capsys, "users", "create", "ann@example.com")["id"]
    bob = out_json(capsys, "users", "create", "bob@example.com")["id"]
    now = datetime.now(UTC)

    async def sign_in(db: Any) -> None:
        async with db.engine.begin() as conn:
            for n, user_id in enumerate((ann, ann, bob)):
                await conn.execute(
                    insert(sessions).values(
                        id=f"{n:064x}", user_id=user_id, created_at=now, last_seen_at=now,
                        expires_at=now + timedelta(hours=1), mfa_passed=True,
                        user_agent="", ip="",
                    )
                )  # fmt: skip

    async def live(db: Any) -> list[int]:
        async with db.engine.connect() as conn:
            query = select(sessions.c.user_id).where(sessions.c.revoked_at.is_(None))
            return sorted((await conn.execute(query)).scalars())

    _in_database(sign_in)
    assert ok(capsys, "users", "sign-out", "ann@example.com") == (
        "signed ann@example.com out of 2 session(s); running servers refuse them within "
        "[auth] session_cache_seconds (5 s by default)\n"
    )
    assert _in_database(live) == [bob]
    assert out_json(capsys, "users", "sign-out", "ann@example.com") == {
        "email": "ann@example.com",
        "sessions_ended": 0,
    }


@pytest.mark.parametrize("command", ["reset-mfa", "sign-out"])
def test_user_commands_name_an_unknown_email(upgraded: Any, capsys: Any, command: str) -> None:
    code, out, err = run(capsys, "users", command, "nobody@example.com")
    assert (code, out) == (1, "")
    assert err.startswith("switchyard: error: "), err
    assert "nobody@example.com" in err and len(err.strip().splitlines()) == 1
