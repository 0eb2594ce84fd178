"""The management API under ``/api/v1``: me, workspaces, members and keys.

Every route works in the workspace the kernel's guard resolved (``workspace`` query
parameter, ``x-switchyard-workspace`` header, the session's choice, the key's own, or the
first one the caller belongs to) after the guard's policy decision; see docs/security.md for
which permission covers which path. Errors answer ``{"status_code", "detail", "field"}``
with ``detail`` starting with the field: 400 malformed body, 404 not found (or not in this
workspace), 409 already exists or forbidden by the current state, 422 a bad value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugins.auth.api import keys, members, workspaces

if TYPE_CHECKING:
    from core.configurator import Configurator

__all__ = ["POLICY_ROUTES", "SIGNED_IN_ROUTES", "includeme"]

# Any signed-in identity (docs/security.md, "Self-service").
SIGNED_IN_ROUTES = (workspaces.me, workspaces.list_workspaces)
# A policy decision on the path first (the guard).
POLICY_ROUTES = (
    workspaces.create_workspace,
    members.list_members,
    members.add_member,
    members.change_role,
    members.remove_member,
    members.invite,
    keys.list_keys,
    keys.create_key,
    keys.rotate_key,
    keys.revoke_key,
    keys.list_my_keys,
    keys.create_my_key,
    keys.rotate_my_key,
    keys.revoke_my_key,
)


def includeme(config: Configurator) -> None:
    for handler in SIGNED_IN_ROUTES:
        config.add_route(handler, access="signed_in")
    for handler in POLICY_ROUTES:
        config.add_route(handler)
