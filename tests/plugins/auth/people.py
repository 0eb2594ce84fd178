"""A running app with two workspaces and one person per role, for the API and page tests.

team-a: admin@, user@, viewer@, billing@ (one role each); team-b: boss@ (admin) and user@
(viewer there, so cross-workspace answers differ from home ones). Every request is made as
someone: :class:`As` sends that person's credentials; the CSRF cookie and header are
handled like the browser and the layout's htmx headers do.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from litestar.testing import TestClient

from plugins.auth.service import AuthService
from tests.identity_plugin import USER_HEADER, identity_plugin

T = TypeVar("T")

TEAM_A = {
    "admin@example.com": "admin",
    "user@example.com": "user",
    "viewer@example.com": "viewer",
    "billing@example.com": "billing_admin",
}
TEAM_B = {"boss@example.com": "admin", "user@example.com": "viewer"}
ROLES_IN_A = {role: email for email, role in TEAM_A.items()}


# The kernel's test identity plugin: ``x-test-user: EMAIL`` is that person's session; nobody
# by default and no grants of its own (roles come from the members written below).
SIGNED_IN = identity_plugin(None, grants=())


def on_app_loop(client: TestClient[Any], work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work()`` on the app's own event loop, where its database engine lives."""
    return client.blocking_portal.call(work)


def service_of(client: TestClient[Any]) -> AuthService:
    return client.app.state.registry.state["auth.service"]


async def populate(service: AuthService) -> None:
    for email in sorted({*TEAM_A, *TEAM_B}):
        await service.create_user(email, display_name=email.split("@")[0].title())
    await service.create_workspace("team-a", name="Team A")
    await service.create_workspace("team-b", name="Team B")
    for email, role in TEAM_A.items():
        await service.add_member(email, "team-a", role, actor="tests")
    for email, role in TEAM_B.items():
        await service.add_member(email, "team-b", role, actor="tests")


class As:
    """Requests made by one signed-in person (or an API key), CSRF header included."""

    def __init__(self, client: TestClient[Any], email: str | None = None, key: str | None = None):
        self.client = client
        self.headers: dict[str, str] = {}
        if email:
            self.headers[USER_HEADER] = email
        if key:
            self.headers["authorization"] = f"Bearer {key}"

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        token = self.client.cookies.get("sy_csrftoken")
        if token is None:
            self.client.get("/api/v1/me", headers=self.headers)
            token = self.client.cookies.get("sy_csrftoken") or ""
        return {**self.headers, "x-csrftoken": token, **(extra or {})}

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.client.post(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def put(self, url: str, **kw: Any) -> Any:
        return self.client.put(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.client.delete(url, headers=self._headers(kw.pop("headers", None)), **kw)
