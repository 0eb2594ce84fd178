"""``switchyard plugin search|install NAME[==V]|upgrade|rollback|uninstall`` against an instance
serving its own index, as an admin types them: real packages, real bundles, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.marketplace.index_support import (
    OTHER,
    build_app,
    package,
    served,
    settings_for,
)
from tests.marketplace.sigstore_testing import default_root
from tests.marketplace.test_client import publish
from tests.sandbox.cli_support import fails, listed, ok


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[str]:
    with served(build_app(settings_for(tmp_path / "server-home"))) as url:
        publish(url, package(tmp_path / "v1", "0.1.0"))
        yield url


@pytest.fixture
def admin_cli(instance: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The admin's machine: its own database and home, the instance as its index."""
    config = tmp_path / "admin.toml"
    config.write_text(
        f'[marketplace]\nindexes = ["{instance}/marketplace/index.json"]\n'
        f'[marketplace.trust]\ntrusted_root = "{default_root().trusted_root_path}"\n'
    )
    monkeypatch.setenv("SWITCHYARD_CONFIG", str(config))
    return config


def test_search_install_upgrade_rollback_uninstall(
    admin_cli: Path, instance: str, tmp_path: Path, capsys: Any
) -> None:
    ok(capsys, "db", "upgrade")
    [hit] = json.loads(ok(capsys, "plugin", "search", "masks", "--json"))
    assert hit["name"] == "pii-redactor"

    out = ok(capsys, "plugin", "install", "pii-redactor", "--yes")
    assert "ok   signature: signed by" in out and "installed pii-redactor 0.1.0 (signed)" in out
    [row] = listed(capsys)
    assert (row["version"], row["signed"], row["enabled"]) == ("0.1.0", True, True)

    publish(instance, package(tmp_path / "v2", "0.2.0"))
    assert "upgraded to pii-redactor 0.2.0" in ok(capsys, "plugin", "upgrade", "pii-redactor", "--yes")
    assert "pii-redactor is up to date" in ok(capsys, "plugin", "upgrade", "pii-redactor", "--yes")
    ok(capsys, "plugin", "rollback", "pii-redactor")
    assert listed(capsys)[0]["version"] == "0.1.0"

    ok(capsys, "plugin", "uninstall", "pii-redactor", "--yes", "--purge")
    assert listed(capsys) == []


def test_refusals_say_what_failed(admin_cli: Path, capsys: Any) -> None:
    ok(capsys, "db", "upgrade")
    missing = fails(capsys, "plugin", "install", "pii-redactor==9.9.9", "--yes")
    assert missing.startswith("pii-redactor 9.9.9 is not in http://"), missing
    refused = fails(
        capsys, "plugin", "install", "pii-redactor", "--yes", "--identity", OTHER,
        "--issuer", "https://token.actions.githubusercontent.com",
    )
    assert refused.startswith("install refused at check signature: identity"), refused
    assert listed(capsys) == []
