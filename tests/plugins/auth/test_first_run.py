"""The first admin: the banner's one-time link and /ui/first-run (no default password)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from plugins.auth.models import memberships, one_time_links, users
from tests.plugins.auth import signin_support
from tests.plugins.auth.signin_support import (
    PASSWORD,
    app,
    assert_unique_ids,
    error_text,
    on_app_loop,
    post_form,
    service_of,
    sign_in,
    signed_in,
)

LINE = re.compile(
    r"First admin: open http://127\.0\.0\.1:3456/ui/first-run\?token=([A-Za-z0-9_-]{43}) "
    r"\(one use, expires in 24 h\)"
)
both_databases = signin_support.both_databases  # the fixture: SQLite, then PostgreSQL
ADMIN = {
    "email": "Root@Example.com",
    "display_name": "Root",
    "password": PASSWORD,
    "password_confirm": PASSWORD,
}


def banner(client: Any) -> list[str]:
    registry = client.app.state.registry
    found = on_app_loop(client, lambda: registry.hooks.acall("banner", registry=registry))
    return [line for lines in found for line in lines]


def first_run_token(client: Any) -> str:
    lines = [line for line in banner(client) if line.startswith("First admin")]
    assert len(lines) == 1
    found = LINE.fullmatch(lines[0])
    assert found, lines[0]
    return found.group(1)


def user_count(client: Any) -> int:
    async def count() -> int:
        async with service_of(client).db.engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(users))).scalar_one()

    return on_app_loop(client, count)


def test_each_start_prints_a_fresh_link_and_voids_the_old_one(client_for: Any) -> None:
    client = app(client_for)
    assert user_count(client) == 0  # nobody, so no default account or password either
    old = first_run_token(client)
    new = first_run_token(client)
    assert old != new
    gone = client.get(f"/ui/first-run?token={old}")
    assert gone.status_code == 404
    assert "This first-admin link does not work" in gone.text
    form = client.get(f"/ui/first-run?token={new}")
    assert form.status_code == 200
    assert 'name="token" value="' + new + '"' in form.text
    assert_unique_ids(form.text)


def test_the_link_creates_the_admin_of_default_and_signs_them_in(both_databases: Any) -> None:
    client = both_databases()
    token = first_run_token(client)
    done = post_form(client, "/ui/first-run", {"token": token, **ADMIN})
    assert done.status_code == 303 and done.headers["location"] == "/ui/"
    home = client.get("/ui/")
    assert home.status_code == 200
    assert "Welcome! You are the admin of default." in home.text
    assert signed_in(client)

    registry = client.app.state.registry
    assert registry.permissions.roles_for("root@example.com", "default") == ["admin"]
    [workspace] = on_app_loop(client, service_of(client).list_workspaces)
    assert workspace.slug == "default"
    member = client.get("/api/v1/members")
    assert member.status_code == 200, "the new admin may manage the default workspace"

    assert client.get(f"/ui/first-run?token={token}").status_code == 404
    again = post_form(client, "/ui/first-run", {"token": token, **ADMIN, "email": "x@example.com"})
    assert again.status_code == 404
    assert user_count(client) == 1
    assert banner(client) == []  # a user exists: no link any more

    client.cookies.clear()
    assert sign_in(client, "root@example.com").status_code == 303


def test_workspaces_made_before_the_first_user_get_them_as_admin(client_for: Any) -> None:
    client = app(client_for)
    for slug in ("team-a", "team-b"):
        on_app_loop(client, lambda slug=slug: service_of(client).create_workspace(slug))
    post_form(client, "/ui/first-run", {"token": first_run_token(client), **ADMIN})
    registry = client.app.state.registry
    for slug in ("team-a", "team-b"):
        assert registry.permissions.roles_for("root@example.com", slug) == ["admin"]
    assert [w.slug for w in on_app_loop(client, service_of(client).list_workspaces)] == [
        "team-a", "team-b",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"email": "root"}, "email", "Enter an email address such as name@example.com."),
        (
            {"password": "short", "password_confirm": "short"},
            "password",
            "Password must be 8 to 1024 characters long.",
        ),
        (
            {"password_confirm": PASSWORD + "!"},
            "password_confirm",
            "The two passwords are not the same.",
        ),
        (
            {"display_name": "x" * 201},
            "display_name",
            "Name is 201 characters long; at most 200 allowed.",
        ),
    ],
    ids=["email", "short-password", "mismatch", "long-name"],
)
def test_bad_input_names_the_field_and_writes_nothing(
    both_databases: Any, change: dict[str, str], field: str, message: str
) -> None:
    client = both_databases()
    token = first_run_token(client)
    refused = post_form(client, "/ui/first-run", {"token": token, **ADMIN, **change})
    assert refused.status_code == 400
    assert error_text(refused.text, field) == message
    if field != "email":
        assert 'value="root@example.com"' in refused.text  # what was right stays filled in
    assert user_count(client) == 0
    assert not signed_in(client)
    assert client.get(f"/ui/first-run?token={token}").status_code == 200  # still usable


def test_an_expired_or_forged_link_does_nothing(client_for: Any) -> None:
    client = app(client_for)
    token = first_run_token(client)

    async def expire() -> None:
        async with service_of(client).db.engine.begin() as conn:
            await conn.execute(
                update(one_time_links).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )

    on_app_loop(client, expire)
    for candidate in (token, "forged-token", ""):
        assert client.get(f"/ui/first-run?token={candidate}").status_code == 404
        refused = post_form(client, "/ui/first-run", {"token": candidate, **ADMIN})
        assert refused.status_code == 404
    assert user_count(client) == 0


def test_only_the_first_admin_gets_a_membership(client_for: Any) -> None:
    client = app(client_for)
    post_form(client, "/ui/first-run", {"token": first_run_token(client), **ADMIN})

    async def rows() -> list[Any]:
        async with service_of(client).db.engine.connect() as conn:
            return list((await conn.execute(select(memberships))).all())

    [row] = on_app_loop(client, rows)
    assert row.role == "admin"


def test_if_the_role_cannot_be_given_the_page_says_how_to_finish(client_for: Any) -> None:
    client = app(client_for)

    class ReadOnlyPolicy:
        def __getattr__(self, name: str) -> Any:
            return getattr(client.app.state.registry.permissions, name)

        async def set_roles(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("the policy store is read-only")

    service_of(client)._permissions = ReadOnlyPolicy()
    done = post_form(client, "/ui/first-run", {"token": first_run_token(client), **ADMIN})
    assert done.status_code == 303
    page = client.get("/ui/").text
    assert "Your account was created, but making you admin failed" in page
    assert "the policy store is read-only" in page
    assert "switchyard policy add g root@example.com admin default" in page
    assert user_count(client) == 1 and signed_in(client)
