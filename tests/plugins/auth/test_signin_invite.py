"""Invitations: ``links.create_invite`` and /ui/invite; the role is given at acceptance."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from plugins.auth import links
from plugins.auth.errors import AuthError
from plugins.auth.models import one_time_links
from tests.plugins.auth import signin_support
from tests.plugins.auth.signin_support import (
    PASSWORD,
    add_user,
    app,
    assert_unique_ids,
    error_text,
    on_app_loop,
    post_form,
    service_of,
    sign_in,
    signed_in,
)

both_databases = signin_support.both_databases  # the fixture: SQLite, then PostgreSQL
NEW = {"display_name": "Bob", "password": PASSWORD, "password_confirm": PASSWORD}


def team(new_app: Any) -> Any:
    """An app (from ``both_databases`` or :func:`sqlite`) with workspace team-a whose admin
    is alice, signed out."""
    client = new_app()
    add_user(client, "alice@example.com", workspace="team-a", role="admin")
    return client


def sqlite(client_for: Any) -> Any:
    return lambda: app(client_for)


def invite(client: Any, email: str = "bob@example.com", role: str = "user", **kw: Any) -> str:
    db = service_of(client).db
    return on_app_loop(
        client, lambda: links.create_invite(db, email, "team-a", role, "alice@example.com", **kw)
    )


def roles(client: Any, email: str, workspace: str = "team-a") -> list[str]:
    return client.app.state.registry.permissions.roles_for(email, workspace)


def link_count(client: Any) -> int:
    async def count() -> int:
        async with service_of(client).db.engine.connect() as conn:
            query = select(func.count()).select_from(one_time_links)
            return (await conn.execute(query)).scalar_one()

    return on_app_loop(client, count)


@pytest.mark.parametrize(
    ("email", "workspace", "role", "field"),
    [
        ("bob", "team-a", "user", "email"),
        ("bob@example.com", "nowhere", "user", "workspace"),
        ("bob@example.com", "team-a", "superuser", "role"),
    ],
)
def test_bad_invitations_name_the_field_and_store_nothing(
    both_databases: Any, email: str, workspace: str, role: str, field: str
) -> None:
    client = team(both_databases)
    db = service_of(client).db
    with pytest.raises(AuthError) as refused:
        on_app_loop(
            client, lambda: links.create_invite(db, email, workspace, role, "alice@example.com")
        )
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")
    assert link_count(client) == 0


def test_a_new_person_sets_a_password_and_gets_the_role_on_accepting(
    both_databases: Any,
) -> None:
    client = team(both_databases)
    token = invite(client, role="viewer")
    assert roles(client, "bob@example.com") == []  # nothing granted before acceptance
    page = client.get(links.invite_path(token))
    assert page.status_code == 200
    assert "alice@example.com invited" in page.text and "bob@example.com" in page.text
    assert "<strong>viewer</strong>" in page.text
    assert_unique_ids(page.text)

    short = post_form(
        client, "/ui/invite", {"token": token, **NEW, "password": "x", "password_confirm": "x"}
    )
    assert short.status_code == 400
    assert error_text(short.text, "password") == "Password must be 8 to 1024 characters long."
    assert roles(client, "bob@example.com") == []

    done = post_form(client, "/ui/invite", {"token": token, **NEW})
    assert done.status_code == 303 and done.headers["location"] == "/ui/"
    assert "Welcome to team-a! Your role there: viewer." in client.get("/ui/").text
    assert roles(client, "bob@example.com") == ["viewer"]
    assert signed_in(client)
    assert client.get(links.invite_path(token)).status_code == 404  # used up
    client.cookies.clear()
    assert sign_in(client, "bob@example.com").status_code == 303


def test_someone_with_an_account_accepts_after_signing_in(client_for: Any) -> None:
    client = team(sqlite(client_for))
    add_user(client, "bob@example.com")
    token = invite(client)
    page = client.get(links.invite_path(token))
    assert "Sign in to accept" in page.text
    assert 'name="password"' not in page.text  # no password can be set for an existing account
    refused = post_form(client, "/ui/invite", {"token": token, **NEW})
    assert refused.status_code == 403
    assert roles(client, "bob@example.com") == []

    back = sign_in(client, "bob@example.com", next=links.invite_path(token))
    assert back.headers["location"] == links.invite_path(token)
    assert "Join team-a</button>" in client.get(back.headers["location"]).text
    done = post_form(client, "/ui/invite", {"token": token})
    assert done.status_code == 303
    assert roles(client, "bob@example.com") == ["user"]


def test_signed_in_as_someone_else_cannot_accept(client_for: Any) -> None:
    client = team(sqlite(client_for))
    add_user(client, "bob@example.com")
    token = invite(client)
    sign_in(client, "alice@example.com")
    page = client.get(links.invite_path(token))
    assert "You are signed in as alice@example.com" in page.text
    assert post_form(client, "/ui/invite", {"token": token}).status_code == 403
    assert roles(client, "bob@example.com") == []


def test_a_member_keeps_their_role(client_for: Any) -> None:
    client = team(sqlite(client_for))
    add_user(client, "bob@example.com", workspace="team-a", role="admin")
    token = invite(client, role="viewer")
    sign_in(client, "bob@example.com")
    post_form(client, "/ui/invite", {"token": token})
    assert "You were already a member of team-a" in client.get("/ui/").text
    assert roles(client, "bob@example.com") == ["admin"]


def test_a_newer_invitation_voids_the_older_and_invites_can_be_withdrawn(
    client_for: Any,
) -> None:
    client = team(sqlite(client_for))
    db = service_of(client).db
    old, new = invite(client), invite(client, role="viewer")
    assert client.get(links.invite_path(old)).status_code == 404
    pending = on_app_loop(client, lambda: links.list_invites(db, "team-a"))
    assert [(i.email, i.role, i.created_by) for i in pending] == [
        ("bob@example.com", "viewer", "alice@example.com")
    ]
    assert on_app_loop(client, lambda: links.revoke_invite(db, pending[0].id)) is True
    assert client.get(links.invite_path(new)).status_code == 404
    assert on_app_loop(client, lambda: links.list_invites(db, "team-a")) == []


def test_custom_roles_are_allowed_when_the_caller_says_so(client_for: Any) -> None:
    client = team(sqlite(client_for))
    with pytest.raises(AuthError, match="role"):
        invite(client, role="auditor")
    token = invite(client, role="auditor", known_roles=("admin", "user", "auditor"))
    assert "<strong>auditor</strong>" in client.get(links.invite_path(token)).text
