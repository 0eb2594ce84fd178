"""An offline Sigstore for tests: a test Fulcio CA, CT log and Rekor log, on disk and over HTTP.

Sigstore's public-good instance is unreachable here, so tests sign against this one instead.
The bundles are real: an ephemeral P-256 key, a leaf certificate from the test CA with an
embedded SCT from the test CT log, a hashedrekord entry with an RFC 6962 inclusion proof, a
signed checkpoint and a SET from the test Rekor key. The real ``sigstore.verify.Verifier``
accepts them against ``trusted_root.json`` (a ``TrustedRoot``) or ``trust_config.json`` (a
``ClientTrustConfig``) written here; nothing in the product knows about this module.

``LocalSigstore.serve()`` runs the two endpoints sigstore's ``Signer`` calls (Fulcio's
``/api/v2/signingCert`` and Rekor's ``/api/v1/log/entries``) on 127.0.0.1, so the product's
real signing path can run offline with an identity token from ``identity_token()``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import struct
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CI_ENV_VARS",
    "EMAIL_ISSUER",
    "GITHUB_ISSUER",
    "GITHUB_WORKFLOW",
    "LocalServices",
    "LocalSigstore",
    "default_root",
    "identity_token",
    "sign_for_tests",
]

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITHUB_WORKFLOW = "https://github.com/acme/pii-redactor/.github/workflows/release.yml@refs/heads/main"
EMAIL_ISSUER = "https://accounts.example.test"  # any issuer: the identity is then the "sub"/"email"
# Where sigstore's ambient detection looks for CI credentials: clear them for deterministic tests.
CI_ENV_VARS = ("GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "CIRCLECI", "GOOGLE_SERVICE_ACCOUNT_NAME")
_OIDC_ISSUER = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_OIDC_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_SCT_LIST = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
_TOKEN_SECRET = b"switchyard-test-idp-hmac-key-0123"  # the stand-in Fulcio trusts tokens signed with this


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    """RFC 6962 key ID: sha256 of the SubjectPublicKeyInfo (how sigstore finds keys)."""
    return hashlib.sha256(_spki(key)).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _der_octet_string(data: bytes) -> bytes:
    n = len(data)
    if n < 0x80:
        return b"\x04" + bytes([n]) + data
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\x04" + bytes([0x80 | len(size)]) + size + data


def _der_utf8(text: str) -> bytes:
    raw = text.encode()
    return b"\x0c" + _der_octet_string(raw)[1:]


# -- the transparency log: an RFC 6962 Merkle tree -------------------------------------------


def _leaf_hash(body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + body).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node_hash(_root(leaves[:k]), _root(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 PATH(m, D[n]): the audit path, leaf to root."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*_path(m, leaves[:k]), _root(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _root(leaves[:k])]


# -- the instance ----------------------------------------------------------------------------


@dataclass
class LocalSigstore:
    """A test CA (Fulcio), a CT log key and a Rekor log, with their trust root on disk."""

    directory: Path
    name: str
    ca_key: ec.EllipticCurvePrivateKey
    ca_cert: x509.Certificate
    ct_key: ec.EllipticCurvePrivateKey
    rekor_key: ec.EllipticCurvePrivateKey
    fulcio_url: str = "https://fulcio.switchyard.test"
    rekor_url: str = "https://rekor.switchyard.test"
    ct_url: str = "https://ctfe.switchyard.test"
    _leaves: list[bytes] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, directory: str | os.PathLike[str], *, name: str = "switchyard-test") -> LocalSigstore:
        """New keys and CA; writes ``trusted_root.json`` and ``trust_config.json`` in directory."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{name} fulcio"),
            ]
        )
        now = dt.datetime.now(dt.UTC)
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        root = cls(
            directory=folder,
            name=name,
            ca_key=ca_key,
            ca_cert=ca_cert,
            ct_key=ec.generate_private_key(ec.SECP256R1()),
            rekor_key=ec.generate_private_key(ec.SECP256R1()),
        )
        root.trusted_root_path.write_text(json.dumps(root.trusted_root(), indent=2))
        # No local services yet: signing with this file fails fast (connection refused).
        root.trust_config_path.write_text(
            json.dumps(root.client_trust_config("http://127.0.0.1:9", "http://127.0.0.1:9"), indent=2)
        )
        return root

    # -- trust documents -------------------------------------------------------------------

    @property
    def trusted_root_path(self) -> Path:
        return self.directory / "trusted_root.json"

    @property
    def trust_config_path(self) -> Path:
        return self.directory / "trust_config.json"

    def _public_key(self, key: ec.EllipticCurvePrivateKey, url: str) -> dict[str, Any]:
        pub = key.public_key()
        return {
            "baseUrl": url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": _b64(_spki(pub)),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": _iso(self.ca_cert.not_valid_before_utc)},
            },
            "logId": {"keyId": _b64(_key_id(pub))},
        }

    def trusted_root(self) -> dict[str, Any]:
        """The ``TrustedRoot`` document (``TrustedRoot.from_file`` loads it)."""
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [self._public_key(self.rekor_key, self.rekor_url)],
            "certificateAuthorities": [
                {
                    "subject": {"organization": self.name, "commonName": f"{self.name} fulcio"},
                    "uri": self.fulcio_url,
                    "certChain": {
                        "certificates": [
                            {"rawBytes": _b64(self.ca_cert.public_bytes(serialization.Encoding.DER))}
                        ]
                    },
                    "validFor": {"start": _iso(self.ca_cert.not_valid_before_utc)},
                }
            ],
            "ctlogs": [self._public_key(self.ct_key, self.ct_url)],
            "timestampAuthorities": [],
        }

    def client_trust_config(self, fulcio_url: str, rekor_url: str) -> dict[str, Any]:
        """A ``ClientTrustConfig``: this trust root plus a signing config naming the services."""
        start = {"start": _iso(self.ca_cert.not_valid_before_utc)}

        def service(url: str) -> dict[str, Any]:
            return {"url": url, "majorApiVersion": 1, "validFor": start, "operator": self.name}

        return {
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": self.trusted_root(),
            "signingConfig": {
                "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                "caUrls": [service(fulcio_url)],
                "oidcUrls": [service(f"{fulcio_url}/oidc")],
                "rekorTlogUrls": [service(rekor_url)],
                "tsaUrls": [],
                "rekorTlogConfig": {"selector": "ANY"},
                "tsaConfig": {"selector": "ANY"},
            },
        }

    # -- Fulcio: certificates with an embedded SCT ------------------------------------------

    def issue(
        self,
        public_key: ec.EllipticCurvePublicKey,
        identity: str,
        issuer: str,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> x509.Certificate:
        """A Fulcio-style leaf: empty subject, codeSigning, critical SAN, issuer extensions, SCT."""
        now = dt.datetime.now(dt.UTC)
        start = not_before or now - dt.timedelta(minutes=1)
        end = not_after or now + dt.timedelta(minutes=10)
        san: x509.GeneralName = (
            x509.UniformResourceIdentifier(identity) if "://" in identity else x509.RFC822Name(identity)
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca_cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(x509.UnrecognizedExtension(_OIDC_ISSUER, issuer.encode()), critical=False)
            .add_extension(x509.UnrecognizedExtension(_OIDC_ISSUER_V2, _der_utf8(issuer)), critical=False)
        )
        # The SCT signs the precertificate: this certificate without its SCT extension. Build
        # once with an empty SCT list to get those bytes, then again with the signed SCT.
        placeholder = builder.add_extension(
            x509.UnrecognizedExtension(_SCT_LIST, _der_octet_string(b"\x00\x00")), critical=False
        ).sign(self.ca_key, hashes.SHA256())
        sct = self._sct(placeholder.tbs_precertificate_bytes, int(start.timestamp() * 1000) + 1000)
        return builder.add_extension(
            x509.UnrecognizedExtension(_SCT_LIST, _der_octet_string(sct)), critical=False
        ).sign(self.ca_key, hashes.SHA256())

    def _sct(self, tbs_precert: bytes, timestamp_ms: int) -> bytes:
        """An RFC 6962 SCT list holding one precertificate SCT from the test CT log."""
        issuer_key_id = _key_id(self.ca_key.public_key())
        signed = (
            struct.pack("!BBQH", 0, 0, timestamp_ms, 1)  # v1, certificate_timestamp, precert_entry
            + issuer_key_id
            + len(tbs_precert).to_bytes(3, "big")
            + tbs_precert
            + struct.pack("!H", 0)  # no extensions
        )
        signature = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        one = (
            b"\x00"
            + _key_id(self.ct_key.public_key())
            + struct.pack("!QH", timestamp_ms, 0)
            + bytes([4, 3])  # sha256, ecdsa
            + struct.pack("!H", len(signature))
            + signature
        )
        listed = struct.pack("!H", len(one)) + one
        return struct.pack("!H", len(listed)) + listed

    # -- Rekor: hashedrekord entries with proof, checkpoint and SET -------------------------

    def log_entry(self, proposed: dict[str, Any], *, integrated_time: int | None = None) -> dict[str, Any]:
        """Append a proposed entry; answer exactly as Rekor v1's ``POST /api/v1/log/entries``."""
        body = rfc8785.dumps(proposed)
        when = integrated_time if integrated_time is not None else int(dt.datetime.now(dt.UTC).timestamp())
        log_id = _key_id(self.rekor_key.public_key())
        with self._lock:
            self._leaves.append(_leaf_hash(body))
            index, leaves = len(self._leaves) - 1, list(self._leaves)
        root, path = _root(leaves), _path(index, leaves)
        promise = rfc8785.dumps(
            {"body": _b64(body), "integratedTime": when, "logID": log_id.hex(), "logIndex": index}
        )
        return {
            _leaf_hash(body).hex(): {
                "body": _b64(body),
                "integratedTime": when,
                "logID": log_id.hex(),
                "logIndex": index,
                "verification": {
                    "inclusionProof": {
                        "checkpoint": self._checkpoint(len(leaves), root),
                        "hashes": [h.hex() for h in path],
                        "logIndex": index,
                        "rootHash": root.hex(),
                        "treeSize": len(leaves),
                    },
                    "signedEntryTimestamp": _b64(self.rekor_key.sign(promise, ec.ECDSA(hashes.SHA256()))),
                },
            }
        }

    def _checkpoint(self, size: int, root: bytes) -> str:
        """A signed note whose signer name is the log's host, as Rekor writes it."""
        host = urlsplit(self.rekor_url).netloc
        note = f"{host} - 4242\n{size}\n{_b64(root)}\n"
        signature = self.rekor_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        hint = _key_id(self.rekor_key.public_key())[:4]
        return f"{note}\n\u2014 {host} {_b64(hint + signature)}\n"

    # -- signing without services ------------------------------------------------------------

    def sign_bytes(
        self,
        data: bytes,
        identity: str,
        issuer: str,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> str:
        """A Sigstore bundle (JSON) for data, as Fulcio + Rekor would have made it."""
        from sigstore._internal.rekor.client import RekorClient
        from sigstore.hashes import Hashed
        from sigstore.models import Bundle, TransparencyLogEntry
        from sigstore_models.common.v1 import HashAlgorithm, HashOutput, MessageSignature

        key = ec.generate_private_key(ec.SECP256R1())
        cert = self.issue(key.public_key(), identity, issuer, not_before=not_before, not_after=not_after)
        digest = hashlib.sha256(data).digest()
        signature = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest)
        proposed = RekorClient._build_hashed_rekord_request(None, hashed, signature, cert)  # type: ignore[arg-type]
        entry = TransparencyLogEntry._from_v1_response(self.log_entry(dict(proposed)))
        content = MessageSignature(
            message_digest=HashOutput(algorithm=HashAlgorithm.SHA2_256, digest=_b64(digest)),
            signature=_b64(signature),
        )
        return Bundle._from_parts(cert, content, entry).to_json()

    def sign(self, path: str | os.PathLike[str], identity: str, issuer: str, **validity: Any) -> Path:
        """Write ``PATH.sigstore.json`` next to path; returns its path."""
        target = Path(path)
        out = target.with_name(target.name + ".sigstore.json")
        out.write_text(self.sign_bytes(target.read_bytes(), identity, issuer, **validity))
        return out

    # -- the services over HTTP --------------------------------------------------------------

    @contextmanager
    def serve(self, *, github_identity: str = GITHUB_WORKFLOW) -> Iterator[LocalServices]:
        """Fulcio and Rekor on 127.0.0.1 and a ``ClientTrustConfig`` naming them.

        ``LocalServices.github_env`` makes sigstore's ambient detection find a GitHub Actions
        token for ``github_identity`` here (request token ``actions-request-token``).
        """
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.requests = []  # type: ignore[attr-defined]
        server.github_identity = github_identity  # type: ignore[attr-defined]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        path = self.directory / f"trust_config_{server.server_address[1]}.json"
        path.write_text(json.dumps(self.client_trust_config(url, url), indent=2))
        try:
            yield LocalServices(url=url, trust_config_path=path, requests=server.requests)  # type: ignore[attr-defined]
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


@dataclass
class LocalServices:
    """Running stand-ins: ``url`` serves both Fulcio and Rekor; ``requests`` lists paths hit."""

    url: str
    trust_config_path: Path
    requests: list[str]

    @property
    def github_env(self) -> dict[str, str]:
        return {
            "GITHUB_ACTIONS": "true",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "actions-request-token",
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.url}/github-actions-token",
        }


def identity_token(identity: str, issuer: str = EMAIL_ISSUER, *, ttl: int = 600) -> str:
    """An OIDC token the stand-in Fulcio accepts (HS256 with the test IdP's secret)."""
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims: dict[str, Any] = {"iss": issuer, "sub": identity, "aud": "sigstore", "iat": now, "exp": now + ttl}
    if "@" in identity:
        claims.update(email=identity, email_verified=True)
    return jwt.encode(claims, _TOKEN_SECRET, algorithm="HS256")


def _handler(root: LocalSigstore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, doc: Any) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            """GitHub Actions' ID-token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL) for ambient tests."""
            self.server.requests.append(self.path)  # type: ignore[attr-defined]
            if not self.path.startswith("/github-actions-token"):
                self._answer(404, {"message": f"no such endpoint {self.path}"})
            elif self.headers.get("Authorization") != "bearer actions-request-token":
                self._answer(403, {"message": "bad request token"})
            else:
                self._answer(200, {"value": identity_token(self.server.github_identity, GITHUB_ISSUER)})  # type: ignore[attr-defined]

        def do_POST(self) -> None:
            self.server.requests.append(self.path)  # type: ignore[attr-defined]
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                if self.path == "/api/v2/signingCert":
                    self._answer(200, self._fulcio(json.loads(raw)))
                elif self.path == "/api/v1/log/entries":
                    self._answer(201, self._rekor(json.loads(raw)))
                else:
                    self._answer(404, {"code": 404, "message": f"no such endpoint {self.path}"})
            except _Refused as exc:
                self._answer(exc.status, {"code": exc.status, "message": str(exc)})

        def _fulcio(self, doc: dict[str, Any]) -> dict[str, Any]:
            """Check the token and the proof of possession, as Fulcio does; issue a leaf."""
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            try:
                claims = jwt.decode(token, _TOKEN_SECRET, algorithms=["HS256"], audience="sigstore")
            except jwt.PyJWTError as exc:
                raise _Refused(401, f"invalid identity token: {exc}") from None
            csr = x509.load_pem_x509_csr(base64.b64decode(doc["certificateSigningRequest"]))
            if not csr.is_signature_valid:
                raise _Refused(400, "the CSR's signature does not verify")
            identity = claims["email"] if claims.get("email_verified") else claims["sub"]
            cert = root.issue(csr.public_key(), identity, claims["iss"])  # type: ignore[arg-type]
            pems = [c.public_bytes(serialization.Encoding.PEM).decode() for c in (cert, root.ca_cert)]
            return {"signedCertificateEmbeddedSct": {"chain": {"certificates": pems}}}

        def _rekor(self, proposed: dict[str, Any]) -> dict[str, Any]:
            """Check the hashedrekord's signature against its certificate, as Rekor does."""
            spec = proposed["spec"]
            cert = x509.load_pem_x509_certificate(base64.b64decode(spec["signature"]["publicKey"]["content"]))
            digest = bytes.fromhex(spec["data"]["hash"]["value"])
            try:
                cert.public_key().verify(  # type: ignore[call-arg, union-attr]
                    base64.b64decode(spec["signature"]["content"]),
                    digest,
                    ec.ECDSA(Prehashed(hashes.SHA256())),  # type: ignore[arg-type]
                )
            except InvalidSignature:
                raise _Refused(400, "signature does not verify against the certificate") from None
            return root.log_entry(proposed)

    return Handler


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


_DEFAULT: LocalSigstore | None = None
_DEFAULT_LOCK = threading.Lock()


def default_root() -> LocalSigstore:
    """One test instance per process, in a temporary folder (keys are made in milliseconds)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = LocalSigstore.create(tempfile.mkdtemp(prefix="switchyard-sigstore-"))
        return _DEFAULT


def sign_for_tests(path: str | os.PathLike[str], identity: str, issuer: str = GITHUB_ISSUER) -> Path:
    """Sign path with the default test instance; returns ``PATH.sigstore.json``.

    Verify it with ``TrustSettings(trusted_root=str(default_root().trusted_root_path))``.
    """
    return default_root().sign(path, identity, issuer)
