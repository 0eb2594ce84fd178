"""The test-only identity plugin, in-process: ``identity_plugin(...)`` for ``make_app``.

The same module ships as the sample distribution ``switchyard-test-identity`` (for tests that
run a real ``switchyard serve``); here it is loaded from its file so there is one copy.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_SOURCE = (
    Path(__file__).resolve().parent
    / "sample_dist" / "switchyard-test-identity" / "switchyard_test_identity" / "__init__.py"
)
_spec = importlib.util.spec_from_file_location("switchyard_test_identity", _SOURCE)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

USER_HEADER: str = _module.USER_HEADER
KEY_WORKSPACE_HEADER: str = _module.KEY_WORKSPACE_HEADER
ANONYMOUS: str = _module.ANONYMOUS
ADMIN: str = _module.ADMIN
WORKSPACE: str = _module.WORKSPACE
NAME = "test_identity"


def identity_plugin(
    default: str | None = ADMIN,
    grants: Iterable[tuple[str, str, str]] = ((ADMIN, "admin", WORKSPACE),),
) -> tuple[str, Any]:
    """A ``(name, includeme)`` plugin: requests are ``default`` unless ``x-test-user`` says."""
    return (NAME, _module.make_includeme(default, grants))


def as_user(subject: str, **headers: str) -> dict[str, str]:
    """Headers that make a request come from ``subject`` ("anonymous": nobody)."""
    return {USER_HEADER: subject, **headers}
