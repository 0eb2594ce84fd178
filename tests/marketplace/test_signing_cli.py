"""``switchyard plugin sign`` and ``plugin verify`` run in-process through the real CLI.

Verification is real, against the offline test trust root; signing goes through sigstore's
own Signer to the local Fulcio/Rekor stand-ins.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from marketplace.cli_signing import register
from tests.marketplace.conftest import PUBLISHER
from tests.marketplace.sigstore_testing import (
    CI_ENV_VARS,
    EMAIL_ISSUER,
    GITHUB_ISSUER,
    LocalServices,
    LocalSigstore,
    identity_token,
)
from tests.sandbox.cli_support import fails, ok, run
from tests.sandbox.helpers import make_package


@pytest.fixture(autouse=True)
def _commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """The marketplace plugin registers these; do it here so the tests need only the sandbox."""
    from sandbox.cli import plugin

    register(plugin)
    for name in (*CI_ENV_VARS, "SIGSTORE_IDENTITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return make_package(tmp_path)


def verify_args(package: Path, root: LocalSigstore, identity: str = PUBLISHER, issuer: str = GITHUB_ISSUER) -> list[str]:
    return ["plugin", "verify", str(package), "--identity", identity, "--issuer", issuer,
            "--trust-root", str(root.trusted_root_path)]


def test_verify_prints_one_line(
    capsys: pytest.CaptureFixture[str], package: Path, sign_package: Callable[..., Path],
    sigstore_root: LocalSigstore,
) -> None:
    sign_package(package)
    assert ok(capsys, *verify_args(package, sigstore_root)) == f"verified: {PUBLISHER}, {GITHUB_ISSUER}\n"


def test_verify_json(
    capsys: pytest.CaptureFixture[str], package: Path, sign_package: Callable[..., Path],
    sigstore_root: LocalSigstore,
) -> None:
    sign_package(package)
    doc = json.loads(ok(capsys, *verify_args(package, sigstore_root), "--json"))
    assert doc["verified"] is True
    assert (doc["identity"], doc["issuer"]) == (PUBLISHER, GITHUB_ISSUER)
    assert isinstance(doc["log_index"], int)
    assert dt.datetime.fromisoformat(doc["signed_at"]) <= dt.datetime.now(dt.UTC)


def test_verify_refusals_exit_2_naming_the_check(
    capsys: pytest.CaptureFixture[str], package: Path, sign_package: Callable[..., Path],
    sigstore_root: LocalSigstore,
) -> None:
    sign_package(package)
    assert fails(capsys, *verify_args(package, sigstore_root, identity="someone@example.test")) == (
        f"identity: signed by {PUBLISHER}, not 'someone@example.test'"
    )
    assert fails(capsys, *verify_args(package, sigstore_root, issuer="https://accounts.google.com")).startswith(
        f"issuer: signed through issuer {GITHUB_ISSUER!r}"
    )
    package.write_bytes(package.read_bytes() + b"\0")
    assert fails(capsys, *verify_args(package, sigstore_root)).startswith(
        "digest: the file does not match its signature"
    )


def test_verify_json_refusal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, package: Path, sigstore_root: LocalSigstore
) -> None:
    LocalSigstore.create(tmp_path / "impostor").sign(package, PUBLISHER, GITHUB_ISSUER)
    code, out, err = run(capsys, *verify_args(package, sigstore_root), "--json")
    assert code == 2
    doc = json.loads(out)
    assert (doc["verified"], doc["check"]) == (False, "chain")
    assert "not issued by a certificate authority" in doc["error"]
    assert err.startswith("switchyard: error: chain: ")


def test_verify_uses_the_configured_trust_root(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, package: Path, sign_package: Callable[..., Path],
    sigstore_toml: str,
) -> None:
    sign_package(package)
    config = tmp_path / "switchyard.toml"
    config.write_text(sigstore_toml)
    out = ok(capsys, "--config", str(config), "plugin", "verify", str(package),
             "--identity", PUBLISHER, "--issuer", GITHUB_ISSUER)
    assert out == f"verified: {PUBLISHER}, {GITHUB_ISSUER}\n"
    config.write_text('[marketplace.trust]\ntrusted_root = "/nonexistent/root.json"\n')
    assert fails(capsys, "--config", str(config), "plugin", "verify", str(package),
                 "--identity", PUBLISHER, "--issuer", GITHUB_ISSUER).startswith(
        "trust: trust root /nonexistent/root.json: cannot read it"
    )


def test_sign_then_verify(
    capsys: pytest.CaptureFixture[str], package: Path, sigstore_services: LocalServices,
    sigstore_root: LocalSigstore,
) -> None:
    out = ok(capsys, "plugin", "sign", str(package), "--identity-token", identity_token("dev@example.test"),
             "--trust-config", str(sigstore_services.trust_config_path))
    bundle = package.with_name(package.name + ".sigstore.json")
    assert out.splitlines()[:3] == [
        f"signed {package}", f"bundle {bundle}", f"signer dev@example.test (issuer {EMAIL_ISSUER})",
    ]
    assert ok(capsys, *verify_args(package, sigstore_root, "dev@example.test", EMAIL_ISSUER)) == (
        f"verified: dev@example.test, {EMAIL_ISSUER}\n"
    )


def test_sign_json_with_the_token_from_the_environment(
    capsys: pytest.CaptureFixture[str], package: Path, sigstore_services: LocalServices,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIGSTORE_IDENTITY_TOKEN", identity_token("ci@example.test"))
    doc = json.loads(ok(capsys, "plugin", "sign", str(package), "--json",
                        "--trust-config", str(sigstore_services.trust_config_path)))
    assert doc["identity"] == "ci@example.test" and doc["issuer"] == EMAIL_ISSUER
    assert Path(doc["bundle"]).is_file() and len(doc["sha256"]) == 64


def test_sign_without_any_token_names_the_sources(
    capsys: pytest.CaptureFixture[str], package: Path, sigstore_services: LocalServices
) -> None:
    message = fails(capsys, "plugin", "sign", str(package), "--trust-config", str(sigstore_services.trust_config_path))
    assert message.startswith("no identity token: give one of --identity-token")
    assert sigstore_services.requests == []


def test_sign_with_services_down_is_one_line(
    capsys: pytest.CaptureFixture[str], package: Path, sigstore_root: LocalSigstore
) -> None:
    message = fails(capsys, "plugin", "sign", str(package), "--identity-token", identity_token("dev@example.test"),
                    "--trust-config", str(sigstore_root.trust_config_path))
    assert message == "cannot reach Fulcio at http://127.0.0.1:9: connection failed"


def test_author_flow_with_a_real_example_package(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sigstore_services: LocalServices,
    sigstore_root: LocalSigstore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pii-redactor built and packed, signed from "CI" (ambient GitHub Actions token), verified."""
    import shutil

    from sandbox.package import open_package, pack
    from tests.sandbox.wasm_build import example

    manifest, wasm = example("pii-redactor")
    folder = tmp_path / "pii-redactor"
    folder.mkdir()
    shutil.copy(manifest, folder / "plugin.toml")
    shutil.copy(wasm, folder / "plugin.wasm")
    package = pack(folder, tmp_path / "dist")
    for name, value in sigstore_services.github_env.items():
        monkeypatch.setenv(name, value)
    out = ok(capsys, "plugin", "sign", str(package), "--trust-config", str(sigstore_services.trust_config_path))
    assert f"signer {PUBLISHER} (issuer {GITHUB_ISSUER})" in out
    assert ok(capsys, *verify_args(package, sigstore_root)) == f"verified: {PUBLISHER}, {GITHUB_ISSUER}\n"
    assert open_package(package).manifest.name == "pii-redactor"  # signing left the package alone
