"""Signing and verification of real Sigstore bundles against an offline trust root.

Every verification here goes through sigstore's own ``Verifier``; the bundles come from the
test Fulcio/CT/Rekor in ``sigstore_testing`` (in-process, or over HTTP for the product's own
signing path). A refusal must name its check and say why in one line.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from marketplace.signing import (
    SigningError,
    VerificationError,
    bundle_signer,
    sign_file,
    verify_bytes,
    verify_file,
)
from marketplace.trust import TrustSettings, trust_from_settings
from tests.marketplace.conftest import PUBLISHER
from tests.marketplace.sigstore_testing import (
    CI_ENV_VARS,
    EMAIL_ISSUER,
    GITHUB_ISSUER,
    LocalServices,
    LocalSigstore,
    identity_token,
)
from tests.sandbox.helpers import make_package


@pytest.fixture(autouse=True)
def _no_ambient_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests decide themselves whether CI credentials are around (this may run in CI)."""
    for name in CI_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return make_package(tmp_path)


def refusal(check: str, call: Callable[[], object]) -> str:
    with pytest.raises(VerificationError) as caught:
        call()
    assert caught.value.check == check, (caught.value.check, str(caught.value))
    message = str(caught.value)
    assert "\n" not in message and message
    return message


# -- accepted --------------------------------------------------------------------------------


def test_signed_package_verifies_with_trusted_root_and_client_trust_config(
    package: Path, sign_package: Callable[..., Path], sigstore_root: LocalSigstore
) -> None:
    bundle = sign_package(package)
    assert bundle == package.with_name(package.name + ".sigstore.json")
    for trust in (
        TrustSettings(trusted_root=str(sigstore_root.trusted_root_path)),
        TrustSettings(trust_config=str(sigstore_root.trust_config_path)),
    ):
        info = verify_file(package, identity=PUBLISHER, issuer=GITHUB_ISSUER, trust=trust)
        assert (info.identity, info.issuer) == (PUBLISHER, GITHUB_ISSUER)
        assert isinstance(info.log_index, int)
        assert info.signed_at is not None
        assert abs(info.signed_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=2)


def test_verify_bytes_and_the_bundle_given_as_bytes(
    package: Path, sign_package: Callable[..., Path], sigstore_trust: TrustSettings
) -> None:
    bundle = sign_package(package).read_bytes()
    other_place = package.with_name("renamed.syp")
    package.rename(other_place)
    info = verify_file(other_place, bundle, identity=PUBLISHER, issuer=GITHUB_ISSUER, trust=sigstore_trust)
    assert info.identity == PUBLISHER
    again = verify_bytes(other_place.read_bytes(), bundle.decode(), identity=PUBLISHER,
                         issuer=GITHUB_ISSUER, trust=sigstore_trust)
    assert again == info


def test_bundle_signer_reads_the_claimed_signer(package: Path, sign_package: Callable[..., Path]) -> None:
    claimed = bundle_signer(sign_package(package, "dev@example.test", EMAIL_ISSUER).read_bytes())
    assert claimed.identities == ("dev@example.test",)
    assert claimed.issuer == EMAIL_ISSUER


# -- refused ---------------------------------------------------------------------------------


def test_one_changed_byte_is_refused_as_digest(
    package: Path, sign_package: Callable[..., Path], sigstore_trust: TrustSettings
) -> None:
    sign_package(package)
    data = bytearray(package.read_bytes())
    data[len(data) // 2] ^= 0x01
    package.write_bytes(bytes(data))
    message = refusal("digest", lambda: verify_file(package, identity=PUBLISHER, issuer=GITHUB_ISSUER,
                                                    trust=sigstore_trust))
    assert "does not match its signature" in message


def test_a_bundle_made_for_another_file_is_refused(
    tmp_path: Path, package: Path, sign_package: Callable[..., Path], sigstore_trust: TrustSettings
) -> None:
    other = make_package(tmp_path / "other", version="0.2.0")
    bundle = sign_package(other)
    message = refusal("digest", lambda: verify_file(package, bundle, identity=PUBLISHER,
                                                    issuer=GITHUB_ISSUER, trust=sigstore_trust))
    assert "another file" in message


def test_wrong_identity_is_refused_naming_the_real_signer(
    package: Path, sign_package: Callable[..., Path], sigstore_trust: TrustSettings
) -> None:
    sign_package(package, "mallory@example.test", GITHUB_ISSUER)
    message = refusal("identity", lambda: verify_file(package, identity=PUBLISHER, issuer=GITHUB_ISSUER,
                                                      trust=sigstore_trust))
    assert message == f"signed by mallory@example.test, not {PUBLISHER!r}"


def test_wrong_issuer_is_refused(
    package: Path, sign_package: Callable[..., Path], sigstore_trust: TrustSettings
) -> None:
    sign_package(package, PUBLISHER, "https://evil-idp.example.test")
    message = refusal("issuer", lambda: verify_file(package, identity=PUBLISHER, issuer=GITHUB_ISSUER,
                                                    trust=sigstore_trust))
    assert message == f"signed through issuer 'https://evil-idp.example.test', not {GITHUB_ISSUER!r}"


def test_a_certificate_from_a_ca_outside_the_trust_root_is_refused(
    tmp_path: Path, package: Path, sigstore_trust: TrustSettings
) -> None:
    impostor = LocalSigstore.create(tmp_path / "impostor")  # same identity, its own Fulcio
    impostor.sign(package, PUBLISHER, GITHUB_ISSUER)
    message = refusal("chain", lambda: verify_file(package, identity=PUBLISHER, issuer=GITHUB_ISSUER,
                                                   trust=sigstore_trust))
    assert "not issued by a certificate authority in trust root" in message


def test_a_certificate_expired_when_logged_is_refused(
    package: Path, sigstore_root: LocalSigstore, sigstore_trust: TrustSettings
) -> None:
    now = dt.datetime.now(dt.UTC)
    bundle = sigstore_root.sign_bytes(package.read_bytes(), PUBLISHER, GITHUB_ISSUER,
                                      not_before=now - dt.timedelta(hours=2),
                                      not_after=now - dt.timedelta(hours=1))
    message = refusal("chain", lambda: verify_bytes(package.read_bytes(), bundle, identity=PUBLISHER,
                                                    issuer=GITHUB_ISSUER, trust=sigstore_trust))
    assert "was not valid when the signature was logged" in message


def _edit_bundle(bundle: Path, edit: Callable[[dict], None]) -> None:
    doc = json.loads(bundle.read_text())
    edit(doc)
    bundle.write_text(json.dumps(doc))


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_a_forged_signature_is_refused(
    package: Path, sign_package: Callable[..., Path], sigstore_trust: TrustSettings
) -> None:
    bundle = sign_package(package)

    def forge(doc: dict) -> None:
        doc["messageSignature"]["signature"] = _flip(doc["messageSignature"]["signature"])

    _edit_bundle(bundle, forge)
    message = refusal("signature", lambda: verify_file(package, identity=PUBLISHER, issuer=GITHUB_ISSUER,
                                                       trust=sigstore_trust))
    assert message == "the signature does not match the file's contents"


def test_a_broken_log_proof_is_refused_as_bundle(
    package: Path, sign_package: Callable[..., Path], sigstore_trust: TrustSettings
) -> None:
    bundle = sign_package(package)

    def break_promise(doc: dict) -> None:
        entry = doc["verificationMaterial"]["tlogEntries"][0]
        promise = entry["inclusionPromise"]
        promise["signedEntryTimestamp"] = _flip(promise["signedEntryTimestamp"])

    _edit_bundle(bundle, break_promise)
    message = refusal("bundle", lambda: verify_file(package, identity=PUBLISHER, issuer=GITHUB_ISSUER,
                                                    trust=sigstore_trust))
    assert "transparency log proof does not hold" in message


def test_a_doctored_log_entry_body_is_refused_as_bundle(
    package: Path, sign_package: Callable[..., Path], sigstore_trust: TrustSettings
) -> None:
    bundle = sign_package(package)

    def doctor(doc: dict) -> None:
        entry = doc["verificationMaterial"]["tlogEntries"][0]
        entry["canonicalizedBody"] = base64.b64encode(b'{"kind": "hashedrekord"}').decode()

    _edit_bundle(bundle, doctor)
    refusal("bundle", lambda: verify_file(package, identity=PUBLISHER, issuer=GITHUB_ISSUER,
                                          trust=sigstore_trust))


def test_missing_and_unreadable_bundles_are_refused(package: Path, sigstore_trust: TrustSettings) -> None:
    message = refusal("bundle", lambda: verify_file(package, identity=PUBLISHER, issuer=GITHUB_ISSUER,
                                                    trust=sigstore_trust))
    assert message.startswith("no signature: cannot read ") and ".syp.sigstore.json" in message
    message = refusal("bundle", lambda: verify_file(package, b'{"mediaType": "nope"}', identity=PUBLISHER,
                                                    issuer=GITHUB_ISSUER, trust=sigstore_trust))
    assert message.startswith("not a valid Sigstore bundle")


# -- trust roots -----------------------------------------------------------------------------


def test_an_unusable_trust_root_is_refused_as_trust(
    tmp_path: Path, package: Path, sign_package: Callable[..., Path]
) -> None:
    sign_package(package)
    missing = tmp_path / "nowhere.json"
    message = refusal("trust", lambda: verify_file(package, identity=PUBLISHER, issuer=GITHUB_ISSUER,
                                                   trust=TrustSettings(trusted_root=str(missing))))
    assert message.startswith(f"trust root {missing}: cannot read it")
    wrong = tmp_path / "bundle-not-root.json"
    wrong.write_text(json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}))
    message = refusal("trust", lambda: verify_file(package, identity=PUBLISHER, issuer=GITHUB_ISSUER,
                                                   trust=TrustSettings(trusted_root=str(wrong))))
    assert "is neither a TrustedRoot" in message


def test_public_good_root_does_not_trust_the_test_ca(
    tmp_path: Path, package: Path, sign_package: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default: Sigstore's public-good root (its cached TUF copy, offline here)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    sign_package(package)
    message = refusal("chain", lambda: verify_file(package, identity=PUBLISHER, issuer=GITHUB_ISSUER,
                                                   trust=TrustSettings(offline=True)))
    assert "in Sigstore's public-good instance" in message


def test_trust_settings_come_from_the_marketplace_trust_section(
    settings_for: Callable[..., object], sigstore_root: LocalSigstore
) -> None:
    settings = settings_for(f'[marketplace.trust]\ntrusted_root = "{sigstore_root.trusted_root_path}"\n')
    assert trust_from_settings(settings) == TrustSettings(trusted_root=str(sigstore_root.trusted_root_path))  # type: ignore[arg-type]
    assert trust_from_settings(settings_for("")) == TrustSettings()  # type: ignore[arg-type]
    with pytest.raises(Exception, match=r"marketplace\.trust.*trusted_rot|trusted_rot.*marketplace"):
        trust_from_settings(settings_for('[marketplace.trust]\ntrusted_rot = "x"\n'))  # type: ignore[arg-type]


# -- signing: the product's real path, against local Fulcio and Rekor ------------------------


def test_sign_file_with_a_given_token_through_fulcio_and_rekor(
    package: Path, sigstore_services: LocalServices, sigstore_trust: TrustSettings
) -> None:
    token = identity_token("dev@example.test", EMAIL_ISSUER)
    bundle = sign_file(package, identity_token=token,
                       trust=TrustSettings(trust_config=str(sigstore_services.trust_config_path)))
    assert bundle.name == package.name + ".sigstore.json"
    assert sigstore_services.requests == ["/api/v2/signingCert", "/api/v1/log/entries"]
    info = verify_file(package, identity="dev@example.test", issuer=EMAIL_ISSUER, trust=sigstore_trust)
    assert info.identity == "dev@example.test"


def test_sign_file_finds_ambient_github_actions_credentials(
    package: Path, sigstore_services: LocalServices, sigstore_trust: TrustSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in sigstore_services.github_env.items():
        monkeypatch.setenv(name, value)
    sign_file(package, trust=TrustSettings(trust_config=str(sigstore_services.trust_config_path)),
              interactive=False)
    assert sigstore_services.requests[0].startswith("/github-actions-token?audience=sigstore")
    verify_file(package, identity=PUBLISHER, issuer=GITHUB_ISSUER, trust=sigstore_trust)


def test_token_sources_in_order(
    package: Path, sigstore_services: LocalServices, sigstore_trust: TrustSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--identity-token beats ambient credentials, which beat the browser."""
    import sigstore.oidc

    trust = TrustSettings(trust_config=str(sigstore_services.trust_config_path))
    browser: list[str] = []

    class Browser:
        def __init__(self, url: str) -> None:
            browser.append(url)

        def identity_token(self) -> sigstore.oidc.IdentityToken:
            return sigstore.oidc.IdentityToken(identity_token("browser@example.test", EMAIL_ISSUER))

    monkeypatch.setattr(sigstore.oidc, "Issuer", Browser)
    sign_file(package, trust=trust, interactive=True)
    assert browser == [f"{sigstore_services.url}/oidc"]
    verify_file(package, identity="browser@example.test", issuer=EMAIL_ISSUER, trust=sigstore_trust)

    for name, value in sigstore_services.github_env.items():
        monkeypatch.setenv(name, value)
    sign_file(package, trust=trust, interactive=True)
    assert len(browser) == 1
    verify_file(package, identity=PUBLISHER, issuer=GITHUB_ISSUER, trust=sigstore_trust)

    sign_file(package, identity_token=identity_token("given@example.test", EMAIL_ISSUER), trust=trust)
    verify_file(package, identity="given@example.test", issuer=EMAIL_ISSUER, trust=sigstore_trust)


def test_no_token_anywhere_names_the_three_sources(package: Path, sigstore_root: LocalSigstore) -> None:
    with pytest.raises(SigningError) as caught:
        sign_file(package, trust=TrustSettings(trust_config=str(sigstore_root.trust_config_path)),
                  interactive=False)
    message = str(caught.value)
    assert message.startswith("no identity token: give one of --identity-token")
    assert "ambient CI credentials" in message and "browser sign-in" in message
    assert not package.with_name(package.name + ".sigstore.json").exists()


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (identity_token("dev@example.test", ttl=-60), "identity token refused: "),
        ("not-a-jwt", "identity token refused: "),
    ],
)
def test_bad_tokens_are_refused_before_any_request(
    package: Path, sigstore_services: LocalServices, token: str, expected: str
) -> None:
    with pytest.raises(SigningError, match=expected):
        sign_file(package, identity_token=token,
                  trust=TrustSettings(trust_config=str(sigstore_services.trust_config_path)))
    assert sigstore_services.requests == []


def test_fulcio_refusing_the_token_is_one_clear_line(
    package: Path, sigstore_services: LocalServices
) -> None:
    import jwt

    now = int(dt.datetime.now(dt.UTC).timestamp())
    forged = jwt.encode({"iss": EMAIL_ISSUER, "sub": "dev@example.test", "aud": "sigstore", "iat": now,
                         "exp": now + 300}, b"not-the-idp-key-0123456789abcdef", algorithm="HS256")
    with pytest.raises(SigningError) as caught:
        sign_file(package, identity_token=forged,
                  trust=TrustSettings(trust_config=str(sigstore_services.trust_config_path)))
    assert str(caught.value).startswith(f"Fulcio at {sigstore_services.url} refused the certificate request: ")
    assert "invalid identity token" in str(caught.value)


def test_unreachable_services_and_verify_only_roots(
    package: Path, sigstore_root: LocalSigstore
) -> None:
    token = identity_token("dev@example.test")
    with pytest.raises(SigningError, match=r"^cannot reach Fulcio at http://127\.0\.0\.1:9: connection failed$"):
        sign_file(package, identity_token=token,
                  trust=TrustSettings(trust_config=str(sigstore_root.trust_config_path)))
    with pytest.raises(SigningError, match="it can verify but not sign"):
        sign_file(package, identity_token=token,
                  trust=TrustSettings(trusted_root=str(sigstore_root.trusted_root_path)))
