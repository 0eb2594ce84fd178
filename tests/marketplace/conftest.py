"""Signing fixtures for every marketplace test: an offline Sigstore and a signer for it.

- ``sigstore_root``: the per-process ``LocalSigstore`` (test Fulcio CA, CT log, Rekor log).
  ``sigstore_root.trusted_root_path`` / ``.trust_config_path`` are the files to configure.
- ``sigstore_trust``: ``TrustSettings`` pointing at that trust root, for ``verify_*`` calls.
- ``sigstore_toml``: the same as a ``[marketplace.trust]`` TOML snippet for a switchyard.toml.
- ``sign_package(path, identity=PUBLISHER, issuer=GITHUB_ISSUER) -> bundle path``: a real
  bundle written beside path, accepted by the real sigstore ``Verifier``.
- ``sigstore_services``: Fulcio and Rekor stand-ins over HTTP (``.trust_config_path`` names
  them), for tests of the product's own signing path; pair with ``identity_token()``.

Outside pytest (a server subprocess, a script) use ``sigstore_testing.sign_for_tests`` and
``default_root()`` directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from marketplace.trust import TrustSettings
from tests.marketplace.sigstore_testing import (
    GITHUB_ISSUER,
    GITHUB_WORKFLOW,
    LocalServices,
    LocalSigstore,
    default_root,
)

PUBLISHER = GITHUB_WORKFLOW  # a GitHub Actions release workflow, as Fulcio names it


@pytest.fixture
def sigstore_root() -> LocalSigstore:
    return default_root()


@pytest.fixture
def sigstore_trust(sigstore_root: LocalSigstore) -> TrustSettings:
    return TrustSettings(trusted_root=str(sigstore_root.trusted_root_path))


@pytest.fixture
def sigstore_toml(sigstore_root: LocalSigstore) -> str:
    return f'[marketplace.trust]\ntrusted_root = "{sigstore_root.trusted_root_path}"\n'


@pytest.fixture
def sign_package(sigstore_root: LocalSigstore) -> Callable[..., Path]:
    def sign(path: str | Path, identity: str = PUBLISHER, issuer: str = GITHUB_ISSUER) -> Path:
        return sigstore_root.sign(path, identity, issuer)

    return sign


@pytest.fixture
def sigstore_services(sigstore_root: LocalSigstore) -> Iterator[LocalServices]:
    with sigstore_root.serve() as services:
        yield services
