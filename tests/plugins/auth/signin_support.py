"""Helpers for the sign-in, session, TOTP, first-run and OIDC tests: a browser-like client.

The app is real (web shell + auth plugin, database migrated, the kernel's guard in front);
nobody is signed in unless the test signs in through the pages, exactly as a person would:
GET a page for the CSRF cookie, POST the form with the token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from litestar.testing import TestClient

from core.templating import CSRF_COOKIE, CSRF_FIELD
from plugins.auth.service import AuthService
from plugins.auth.signin import Accounts

T = TypeVar("T")

WEB = ("web", "web:includeme")
AUTH = ("auth", "plugins.auth:includeme")
PASSWORD = "correct horse battery staple"


def on_app_loop(client: TestClient[Any], work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work()`` on the app's own event loop, where its database engine lives."""
    return client.blocking_portal.call(work)


def service_of(client: TestClient[Any]) -> AuthService:
    return client.app.state.registry.state["auth.service"]


def accounts_of(client: TestClient[Any]) -> Accounts:
    return client.app.state.registry.state["auth.accounts"]


def app(client_for: Any, toml: str | None = None, **kwargs: Any) -> TestClient[Any]:
    """The web shell and the auth plugin; nobody signed in by default."""
    return client_for([WEB, AUTH], identity=None, toml=toml, **kwargs)


def add_user(
    client: TestClient[Any],
    email: str = "alice@example.com",
    password: str | None = PASSWORD,
    *,
    workspace: str | None = None,
    role: str = "user",
) -> int:
    """A user (and membership, if ``workspace``) made through the auth service; their id."""
    service = service_of(client)

    async def work() -> int:
        user = await service.create_user(email, display_name="Alice", password=password)
        if workspace is not None:
            if workspace not in {w.slug for w in await service.list_workspaces()}:
                await service.create_workspace(workspace)
            await service.add_member(email, workspace, role)
        return user.id

    return on_app_loop(client, work)


def csrf(client: TestClient[Any], page: str = "/ui/sign-in") -> str:
    """The CSRF token, as a browser gets it: from the cookie set on a GET."""
    if CSRF_COOKIE not in client.cookies:
        client.get(page)
    return client.cookies[CSRF_COOKIE]


def post_form(client: TestClient[Any], path: str, data: dict[str, str], **kwargs: Any) -> Any:
    """POST a form the way the page does (CSRF field included), without following redirects."""
    token = csrf(client)
    return client.post(path, data={CSRF_FIELD: token, **data}, follow_redirects=False, **kwargs)


def sign_in(
    client: TestClient[Any],
    email: str = "alice@example.com",
    password: str = PASSWORD,
    *,
    headers: dict[str, str] | None = None,
    **extra: str,
) -> Any:
    """POST the sign-in form; ``extra`` are more form fields (``next``)."""
    return post_form(
        client, "/ui/sign-in", {"email": email, "password": password, **extra}, headers=headers
    )


def signed_in(client: TestClient[Any]) -> bool:
    """Whether the account page opens (True) or sends us to sign in (False)."""
    response = client.get("/ui/me/security", follow_redirects=False)
    if response.status_code == 200:
        return True
    assert response.status_code in (303, 307, 302), response.text
    assert response.headers["location"].startswith("/ui/sign-in")
    return False


def error_text(html: str, field: str) -> str:
    """The error message the page ties to a field (``aria-describedby`` -> ``f-<field>-error``)."""
    found = re.search(rf'id="f-{field}-error">([^<]*)<', html)
    assert found, f"no error shown for {field!r}"
    assert re.search(rf'id="f-{field}"[^>]*aria-describedby="[^"]*f-{field}-error', html), (
        f"the error of {field!r} is not tied to its input"
    )
    return found.group(1)


def alert_text(html: str) -> str:
    found = re.search(r'role="alert"><strong>Error:</strong> ([^<]*)<', html)
    assert found, "no error message on the page"
    return found.group(1).strip()


def totp_secret_on_page(html: str) -> str:
    """The TOTP key the security page shows for typing by hand (spaces removed)."""
    found = re.search(r'<code class="auth-secret">([A-Z2-7 ]+)</code>', html)
    assert found, "the page shows no TOTP key"
    return found.group(1).replace(" ", "")


def recovery_codes_on_page(html: str) -> list[str]:
    return re.findall(r"<li><code>([a-z0-9-]{19})</code></li>", html)


def enable_totp(client: TestClient[Any]) -> tuple[str, list[str]]:
    """Turn TOTP on through the security page as the signed-in user: (secret, recovery codes)."""
    import pyotp

    assert post_form(client, "/ui/me/security/totp/setup", {}).status_code == 303
    secret = totp_secret_on_page(client.get("/ui/me/security").text)
    shown = post_form(client, "/ui/me/security/totp/confirm", {"code": pyotp.TOTP(secret).now()})
    assert shown.status_code == 200, shown.text
    return secret, recovery_codes_on_page(shown.text)


def assert_unique_ids(html: str) -> None:
    """Labels and aria-describedby point at ids: each must name one element."""
    ids = re.findall(r'\sid="([^"]+)"', html)
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    assert not repeated, f"ids used more than once: {repeated}"


@pytest.fixture(params=["sqlite", "postgresql"])
def both_databases(request: pytest.FixtureRequest, client_for: Any) -> Callable[..., Any]:
    """``new_app(toml=None)``: :func:`app` on SQLite, then on a fresh PostgreSQL database
    (skipped unless SWITCHYARD_TEST_POSTGRES_URL is set). Import it into a test module."""
    prefix = ""
    if request.param == "postgresql":
        prefix = f'[database]\nurl = "{request.getfixturevalue("pg_url")}"\n'

    def new_app(toml: str | None = None, **kwargs: Any) -> Any:
        return app(client_for, toml=prefix + (toml or ""), **kwargs)

    return new_app
