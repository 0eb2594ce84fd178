"""Test-only identity: a request is whoever its ``x-test-user`` header names.

Tests that are not about signing in use it instead of the auth plugin's sessions. It orders
itself before the auth plugin's ``identify`` hook. With ``x-test-key-workspace`` the request
is an API key bound to that workspace. Never install this outside tests: anyone could send the
header.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.permissions import PolicyError, Rule
from core.security import Identity

USER_HEADER = "x-test-user"
KEY_WORKSPACE_HEADER = "x-test-key-workspace"
ANONYMOUS = "anonymous"
ADMIN = "admin@example.com"
WORKSPACE = "default"


def make_includeme(
    default: str | None = None,
    grants: Iterable[tuple[str, str, str]] = ((ADMIN, "admin", WORKSPACE),),
) -> Any:
    """A plugin: ``default`` is who a request without the header is (None: nobody);
    ``grants`` are (subject, role, workspace) assignments made at start-up."""
    grants = [tuple(g) for g in grants]

    def identify(request: Any, **_: Any) -> Identity | None:
        subject = request.headers.get(USER_HEADER, default)
        if not subject or subject == ANONYMOUS:
            return None
        subject = subject.lower()
        workspace = request.headers.get(KEY_WORKSPACE_HEADER)
        if workspace:
            return Identity(subject, "api_key", workspace=workspace, key_id="sy_test0000")
        return Identity(subject, "session", display_name=subject.split("@")[0].title())

    async def grant(registry: Any, **_: Any) -> None:
        permissions = registry.permissions
        if permissions is None or not permissions.loaded:
            return
        for subject, role, workspace in grants:
            if role not in permissions.roles_for(subject, workspace):
                try:
                    await permissions.add(Rule("g", (subject, role, workspace)), actor="test")
                except PolicyError:  # another worker granted it first
                    pass

    def includeme(config: Any) -> None:
        config.add_hook("identify", identify, name="test_identity.identify", before="auth")
        config.add_hook("startup", grant, name="test_identity.grant")

    return includeme


def includeme(config: Any) -> None:
    """Entry point; ``[test_identity]`` may set ``default`` and ``grants`` ("subject role workspace")."""
    section = config.plugin_settings
    grants = section.get("grants", [f"{ADMIN} admin {WORKSPACE}"])
    make_includeme(section.get("default"), [tuple(g.split()) for g in grants])(config)
