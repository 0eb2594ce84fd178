"""Sign plugin packages keylessly with Sigstore and verify them against an identity policy.

A package ``NAME-VERSION.syp`` is signed by ``NAME-VERSION.syp.sigstore.json``, a standard
Sigstore bundle: whoever holds it can check, offline, that the file is byte for byte what a
given identity (certificate SAN) from a given OIDC issuer signed, with the certificate from a
trusted Fulcio and the signature recorded in a trusted Rekor log. Verification is the sigstore
library's own ``Verifier``; this module only chooses the trust root, names the check that
failed and says why in one line.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marketplace.trust import TrustError, TrustSettings, load_signing_config, load_trusted_root

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.models import Bundle

__all__ = [
    "CHECKS",
    "BundleSigner",
    "SignatureInfo",
    "SigningError",
    "TrustSettings",
    "VerificationError",
    "bundle_path_for",
    "bundle_signer",
    "sign_file",
    "verify_bytes",
    "verify_file",
]

CHECKS = ("bundle", "digest", "chain", "identity", "issuer", "signature", "trust")
_ISSUER_OID = "1.3.6.1.4.1.57264.1.1"
_ISSUER_V2_OID = "1.3.6.1.4.1.57264.1.8"
TOKEN_SOURCES = (
    "--identity-token (or SIGSTORE_IDENTITY_TOKEN)",
    "ambient CI credentials (GitHub Actions with id-token: write, GitLab, Buildkite, GCP)",
    "the browser sign-in (an interactive terminal)",
)


class VerificationError(Exception):
    """A signature was refused. ``check`` names what failed; ``str()`` says why in plain words.

    ``check`` is one of ``CHECKS``: ``bundle`` (unreadable, or its log proof does not hold),
    ``digest`` (made for other bytes), ``chain`` (certificate not from a trusted CA, or not
    valid when used), ``identity``/``issuer`` (someone else signed), ``signature`` (the
    signature does not match), ``trust`` (the trust root itself is unusable).
    """

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check

    def as_dict(self) -> dict[str, Any]:
        return {"verified": False, "check": self.check, "error": str(self)}


class SigningError(Exception):
    """Signing did not produce a bundle; the message names the step and what to do."""


@dataclass(frozen=True)
class SignatureInfo:
    """What a verified bundle proves: who signed, through which issuer, logged where and when."""

    identity: str
    issuer: str
    log_index: int | None
    signed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["signed_at"] = self.signed_at.isoformat() if self.signed_at else None
        return {"verified": True, **data}


@dataclass(frozen=True)
class BundleSigner:
    """What a bundle's certificate claims, before any verification: never trust it alone."""

    identities: tuple[str, ...]
    issuer: str | None


def bundle_path_for(path: str | os.PathLike[str]) -> Path:
    """``FILE`` -> ``FILE.sigstore.json``, the bundle beside it."""
    path = Path(path)
    return path.with_name(path.name + ".sigstore.json")


# -- verification ----------------------------------------------------------------------------


def verify_file(
    path: str | os.PathLike[str],
    bundle_path_or_bytes: str | os.PathLike[str] | bytes | None = None,
    *,
    identity: str,
    issuer: str,
    trust: TrustSettings | None = None,
) -> SignatureInfo:
    """Verify a file against its bundle (default ``FILE.sigstore.json``) and the policy."""
    file = Path(path)
    if isinstance(bundle_path_or_bytes, bytes):
        bundle_json = bundle_path_or_bytes
    else:
        bundle_file = Path(bundle_path_or_bytes) if bundle_path_or_bytes else bundle_path_for(file)
        try:
            bundle_json = bundle_file.read_bytes()
        except OSError as exc:
            raise VerificationError(
                "bundle", f"no signature: cannot read {bundle_file} ({exc.strerror or exc})"
            ) from None
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise VerificationError("digest", f"cannot read {file} ({exc.strerror or exc})") from None
    return verify_bytes(data, bundle_json, identity=identity, issuer=issuer, trust=trust)


def verify_bytes(
    data: bytes,
    bundle_json: bytes | str,
    *,
    identity: str,
    issuer: str,
    trust: TrustSettings | None = None,
) -> SignatureInfo:
    """Verify data against a bundle: trusted chain, SCT, log proof, policy, signature."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity

    if not identity or not issuer:
        raise ValueError("verify needs both an identity and an OIDC issuer to hold the signer to")
    bundle = _load_bundle(bundle_json)
    try:
        verifier = Verifier(trusted_root=load_trusted_root(trust))
    except TrustError as exc:
        raise VerificationError("trust", str(exc)) from None
    except SigstoreError as exc:
        raise VerificationError("trust", f"{(trust or TrustSettings()).describe()}: {exc}") from None
    try:
        verifier.verify_artifact(data, bundle, Identity(identity=identity, issuer=issuer))
    except Exception as exc:  # noqa: BLE001 - a doctored bundle can fail in pydantic/cryptography too
        raise _explain(exc, bundle, data, identity, issuer, trust) from None
    entry = bundle.log_entry._inner
    return SignatureInfo(
        identity=identity,
        issuer=issuer,
        log_index=int(entry.log_index) if entry.log_index is not None else None,
        signed_at=_logged_at(bundle),
    )


def bundle_signer(bundle_json: bytes | str) -> BundleSigner:
    """The identities and issuer a bundle's certificate names, unverified (to show or to pick
    the policy a publisher is then verified against)."""
    cert = _load_bundle(bundle_json).signing_certificate
    return BundleSigner(_sans(cert), _cert_issuer(cert))


def _load_bundle(bundle_json: bytes | str) -> Bundle:
    from sigstore.models import Bundle

    try:
        return Bundle.from_json(bundle_json)
    except Exception as exc:  # noqa: BLE001 - InvalidBundle, pydantic, JSON: all "unreadable"
        raise VerificationError("bundle", f"not a valid Sigstore bundle: {_line(exc)}") from None


def _explain(
    exc: Exception, bundle: Bundle, data: bytes, identity: str, issuer: str, trust: TrustSettings | None
) -> VerificationError:
    """Map the Verifier's error to the check it belongs to, with the facts a person needs."""
    from sigstore.errors import CertValidationError

    text = _line(exc)
    cert = bundle.signing_certificate
    where = (trust or TrustSettings()).describe()
    if "not valid at validation time" in text or "expired at time of signing" in text:
        return VerificationError(
            "chain",
            f"the signing certificate was not valid when the signature was logged (valid "
            f"{_when(cert.not_valid_before_utc)} to {_when(cert.not_valid_after_utc)}, logged "
            f"{_when(_logged_at(bundle))})",
        )
    if isinstance(exc, CertValidationError) or "certificate chain" in text:
        return VerificationError(
            "chain", f"the signing certificate was not issued by a certificate authority in {where}"
        )
    if "SCT" in text:
        return VerificationError(
            "chain", f"the signing certificate's CT log timestamp (SCT) is not from a log in {where}"
        )
    if "OIDCIssuer" in text:
        return VerificationError(
            "issuer", f"signed through issuer {_cert_issuer(cert) or 'none'!r}, not {issuer!r}"
        )
    if "SANs do not match" in text:
        found = ", ".join(_sans(cert)) or "no identity"
        return VerificationError("identity", f"signed by {found}, not {identity!r}")
    if "digest mismatch" in text or "Signature is invalid for input" in text:
        signed = bundle._inner.message_signature
        claimed = signed.message_digest.digest.hex() if signed and signed.message_digest else None
        actual = hashlib.sha256(data).hexdigest()
        if claimed and claimed != actual:
            return VerificationError(
                "digest",
                f"the file does not match its signature: the bundle signs sha256 {claimed[:16]}..., "
                f"the file is sha256 {actual[:16]}... (changed, or the bundle is for another file)",
            )
        return VerificationError("signature", "the signature does not match the file's contents")
    if "log entry" in text or "inclusion" in text or "checkpoint" in text or "SET" in text:
        return VerificationError(
            "bundle", f"the bundle's transparency log proof does not hold against {where} ({_short(text)})"
        )
    return VerificationError("bundle", f"the bundle does not verify against {where}: {_short(text)}")


def _logged_at(bundle: Bundle) -> datetime | None:
    when = bundle.log_entry._inner.integrated_time
    return datetime.fromtimestamp(int(when), tz=UTC) if when else None


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "at an unknown time"


def _sans(cert: Certificate) -> tuple[str, ...]:
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    found = [*san.get_values_for_type(x509.RFC822Name), *san.get_values_for_type(x509.UniformResourceIdentifier)]
    return tuple(found)


def _cert_issuer(cert: Certificate) -> str | None:
    from cryptography import x509
    from cryptography.hazmat import asn1

    for oid in (_ISSUER_V2_OID, _ISSUER_OID):
        try:
            raw = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value.value  # type: ignore[attr-defined]
        except x509.ExtensionNotFound:
            continue
        try:
            return asn1.decode_der(str, raw) if oid == _ISSUER_V2_OID else raw.decode()
        except Exception:  # noqa: BLE001, S112 - a malformed extension: try the other one
            continue
    return None


# -- signing ---------------------------------------------------------------------------------


def sign_file(
    path: str | os.PathLike[str],
    *,
    identity_token: str | None = None,
    trust: TrustSettings | None = None,
    staging: bool = False,
    interactive: bool | None = None,
) -> Path:
    """Sign a file keylessly; writes ``PATH.sigstore.json`` and returns its path.

    The OIDC token comes from, in order: ``identity_token``; ambient CI credentials
    (sigstore's ``detect_credential``); the browser flow when ``interactive`` (default: when
    stdin is a terminal). Fulcio and Rekor come from the trust config (public-good by default).
    """
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read {file} ({exc.strerror or exc})") from None
    try:
        config = load_signing_config(trust, staging=staging)
    except TrustError as exc:
        raise SigningError(str(exc)) from None
    token = _identity_token(identity_token, config, interactive)
    bundle_json = _sign(data, token, config)
    out = bundle_path_for(file)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(bundle_json, encoding="utf-8")
    os.replace(tmp, out)
    return out


def _identity_token(given: str | None, config: Any, interactive: bool | None) -> Any:
    """The first token found among the three sources, as an ``IdentityToken``."""
    from sigstore.oidc import IdentityError, IdentityToken, Issuer, detect_credential

    raw = given
    if not raw:
        try:
            raw = detect_credential()
        except IdentityError as exc:
            raise SigningError(f"ambient CI credentials were found but failed: {_line(exc)}") from None
    if not raw:
        if interactive is None:
            interactive = sys.stdin.isatty()
        if not interactive:
            raise SigningError("no identity token: give one of " + "; ".join(TOKEN_SOURCES))
        try:
            return Issuer(config.signing_config.get_oidc_url()).identity_token()
        except Exception as exc:  # noqa: BLE001 - network, OAuth: one line
            raise SigningError(f"browser sign-in failed: {_line(exc)}") from None
    try:
        return IdentityToken(raw)
    except IdentityError as exc:
        raise SigningError(f"identity token refused: {_line(exc)} (expired, or not for audience 'sigstore')") from None


def _sign(data: bytes, token: Any, config: Any) -> str:
    """Certificate from Fulcio, signature, entry in Rekor; each failure names its service."""
    import requests
    from sigstore._internal.fulcio.client import ExpiredCertificate, FulcioClientError
    from sigstore._internal.rekor.client import RekorClientError
    from sigstore.errors import Error as SigstoreError
    from sigstore.oidc import ExpiredIdentity
    from sigstore.sign import SigningContext

    try:
        signing = config.signing_config
        context = SigningContext.from_trust_config(config)
        fulcio, rekor = signing.get_fulcio().url, signing.get_tlogs()[0]
    except Exception as exc:  # noqa: BLE001 - a signing config without usable services
        raise SigningError(f"signing config unusable: {_line(exc)}") from None
    rekor_url = getattr(rekor, "url", "Rekor")
    step = f"Fulcio at {fulcio}"
    try:
        with context.signer(token) as signer:
            step = f"Rekor at {rekor_url}"
            return signer.sign_artifact(data).to_json()
    except requests.ConnectionError:
        raise SigningError(f"cannot reach {step}: connection failed") from None
    except requests.Timeout:
        raise SigningError(f"{step} did not answer in time") from None
    except FulcioClientError as exc:
        raise SigningError(f"Fulcio at {fulcio} refused the certificate request: {_http_reason(exc)}") from None
    except RekorClientError as exc:
        raise SigningError(f"Rekor at {rekor_url} refused the log entry: {_line(exc)}") from None
    except ExpiredIdentity:
        raise SigningError("identity token expired before Fulcio was asked; get a fresh one") from None
    except ExpiredCertificate:
        raise SigningError("the signing certificate expired before signing finished; try again") from None
    except SigstoreError as exc:
        raise SigningError(f"signing failed at {step}: {_line(exc)}") from None


def _http_reason(exc: BaseException) -> str:
    """The server's own message (sigstore's client drops it: a 4xx Response is falsy)."""
    response = getattr(exc.__cause__, "response", None)
    if response is not None:
        try:
            message = response.json().get("message")
        except (ValueError, AttributeError):
            message = None
        return f"HTTP {response.status_code}: {message or response.reason}"
    return _line(exc)


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    if not text and exc.__cause__ is not None:
        text = str(exc.__cause__).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
