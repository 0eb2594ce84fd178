"""Signing in with a password, through the real pages: redirects, errors, htmx, CSRF, cookies."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher
from litestar.testing import TestClient
from sqlalchemy import select, update

from core.templating import CSRF_FIELD
from plugins.auth.credentials import password_needs_rehash
from plugins.auth.models import users
from tests.plugins.auth.signin_support import (
    AUTH,
    PASSWORD,
    WEB,
    add_user,
    alert_text,
    app,
    csrf,
    error_text,
    on_app_loop,
    post_form,
    service_of,
    sign_in,
    signed_in,
)


def test_a_page_sends_you_to_sign_in_and_back(client_for: Any) -> None:
    client = app(client_for)
    add_user(client)
    asked = client.get("/ui/me/security", follow_redirects=False)
    assert asked.status_code == 303
    assert asked.headers["location"] == "/ui/sign-in?next=/ui/me/security"

    form = client.get(asked.headers["location"])
    assert form.status_code == 200
    assert 'name="next" value="/ui/me/security"' in form.text
    assert 'autocomplete="current-password"' in form.text

    done = sign_in(client, next="/ui/me/security")
    assert done.status_code == 303
    assert done.headers["location"] == "/ui/me/security"
    page = client.get("/ui/me/security")
    assert page.status_code == 200
    assert "Signed in as <strong>alice@example.com</strong>" in page.text


def test_email_is_not_case_sensitive(client_for: Any) -> None:
    client = app(client_for)
    add_user(client)
    assert sign_in(client, "  Alice@Example.COM ").status_code == 303
    assert signed_in(client)


@pytest.mark.parametrize(
    ("email", "password"),
    [("alice@example.com", "wrong password!"), ("nobody@example.com", PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
def test_failures_do_not_say_whether_the_email_exists(
    client_for: Any, email: str, password: str
) -> None:
    client = app(client_for)
    add_user(client)
    refused = sign_in(client, email, password)
    assert refused.status_code == 401
    assert alert_text(refused.text) == "Email or password is incorrect."
    assert f'value="{email}"' in refused.text  # the email stays filled in
    assert PASSWORD not in refused.text and "wrong password!" not in refused.text
    assert not signed_in(client)


def test_a_deactivated_user_cannot_sign_in(client_for: Any) -> None:
    client = app(client_for)
    user_id = add_user(client)

    async def deactivate() -> None:
        async with service_of(client).db.engine.begin() as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(is_active=False))

    on_app_loop(client, deactivate)
    refused = sign_in(client)
    assert refused.status_code == 401
    assert alert_text(refused.text) == "Email or password is incorrect."


def test_missing_fields_are_named(client_for: Any) -> None:
    client = app(client_for)
    refused = post_form(client, "/ui/sign-in", {"email": " ", "password": ""})
    assert refused.status_code == 400
    assert error_text(refused.text, "email") == "Enter your email address."
    assert error_text(refused.text, "password") == "Enter your password."


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/ui/",
        "//evil.example/ui/",
        "/\\evil.example/ui",
        "/ui\\..\\x",
        "javascript:alert(1)",
        "/api/v1/keys",
        "/uix",
        "/ui/../api/v1/keys",
        "/ui/%2e%2e/api/v1/keys",
        "/ui/sign-in?next=https://evil.example",
        "",
    ],
)
def test_next_never_leaves_the_ui(client_for: Any, target: str) -> None:
    client = app(client_for)
    add_user(client)
    done = sign_in(client, next=target)
    assert done.status_code == 303
    assert done.headers["location"] == "/ui/"


def test_next_keeps_a_ui_path_with_its_query(client_for: Any) -> None:
    client = app(client_for)
    add_user(client)
    done = sign_in(client, next="/ui/keys?workspace=team-a")
    assert done.headers["location"] == "/ui/keys?workspace=team-a"


def test_already_signed_in_skips_the_form(client_for: Any) -> None:
    client = app(client_for)
    add_user(client)
    sign_in(client)
    again = client.get("/ui/sign-in?next=/ui/plugins", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == "/ui/plugins"


def test_htmx_swaps_the_form_and_redirects_on_success(client_for: Any) -> None:
    client = app(client_for)
    add_user(client)
    headers = {"hx-request": "true"}
    refused = sign_in(client, password="nope nope nope", headers=headers)
    assert refused.status_code == 200  # htmx swaps only 2xx answers
    assert refused.text.lstrip().startswith('<form id="sign-in-form"')
    assert "<html" not in refused.text
    assert alert_text(refused.text) == "Email or password is incorrect."
    assert 'aria-describedby="sign-in-error"' in refused.text

    done = sign_in(client, headers=headers)
    assert done.status_code == 200
    assert done.headers["hx-redirect"] == "/ui/"
    assert signed_in(client)


def test_the_page_works_without_javascript(client_for: Any) -> None:
    page = app(client_for).get("/ui/sign-in")
    assert 'method="post" action="/ui/sign-in"' in page.text
    assert f'name="{CSRF_FIELD}"' in page.text
    assert '<label for="f-email">Email</label>' in page.text
    assert '<label for="f-password">Password</label>' in page.text
    assert "<script>" not in page.text and " on" + "click=" not in page.text


def test_sign_in_post_without_csrf_token_is_refused(client_for: Any) -> None:
    client = app(client_for)
    add_user(client)
    csrf(client)
    refused = client.post(
        "/ui/sign-in",
        data={"email": "alice@example.com", "password": PASSWORD},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    forged = client.post(
        "/ui/sign-in",
        data={"email": "alice@example.com", "password": PASSWORD, CSRF_FIELD: "forged"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert not signed_in(client)


def test_an_old_hash_is_upgraded_at_sign_in(client_for: Any) -> None:
    client = app(client_for)
    user_id = add_user(client)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert password_needs_rehash(weak)
    db = service_of(client).db

    async def set_weak() -> None:
        async with db.engine.begin() as conn:
            await conn.execute(
                update(users).where(users.c.id == user_id).values(password_hash=weak)
            )

    async def stored() -> str:
        async with db.engine.connect() as conn:
            return (
                await conn.execute(select(users.c.password_hash).where(users.c.id == user_id))
            ).scalar_one()

    on_app_loop(client, set_weak)
    assert sign_in(client).status_code == 303
    upgraded = on_app_loop(client, stored)
    assert upgraded != weak and not password_needs_rehash(upgraded)
    client.cookies.clear()
    assert sign_in(client).status_code == 303  # the new hash still verifies


# -- cookies --------------------------------------------------------------------------------


def _session_cookie(response: Any) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith("sy_session=")]
    assert found, "no session cookie was set"
    return found[-1].lower()


def test_session_cookie_is_httponly_and_samesite_on_loopback(client_for: Any) -> None:
    client = app(client_for)
    add_user(client)
    cookie = _session_cookie(sign_in(client))
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie.replace("samesite", "")  # plain http on 127.0.0.1 works


@pytest.mark.parametrize(
    "toml",
    ['[server]\nhost = "0.0.0.0"\n', "[web]\nsecure_cookies = true\n"],
    ids=["not-loopback", "forced"],
)
def test_session_cookie_is_secure_off_loopback_or_when_asked(make_app: Any, toml: str) -> None:
    # Secure cookies travel over https only, as a browser would insist.
    with TestClient(
        make_app([WEB, AUTH], toml=toml, identity=None), base_url="https://testserver.local"
    ) as client:
        add_user(client)
        cookie = _session_cookie(sign_in(client))
        assert "; secure" in cookie
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert signed_in(client)
