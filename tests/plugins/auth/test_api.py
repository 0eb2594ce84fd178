"""The management API through the real guard and policy: what each role may do in its own
workspace and in another one, and what each operation does to the stored state."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.plugins.auth.helpers import AUTH
from tests.plugins.auth.people import (
    SIGNED_IN,
    As,
    on_app_loop,
    populate,
    service_of,
)

ADMIN, USER, VIEWER, BILLING = (
    "admin@example.com",
    "user@example.com",
    "viewer@example.com",
    "billing@example.com",
)
BOSS = "boss@example.com"  # admin of team-b only
WEB = ("web", "web:includeme")


@pytest.fixture
def client(client_for: Any) -> TestClient[Any]:
    client = client_for([WEB, AUTH, SIGNED_IN])
    on_app_loop(client, lambda: populate(service_of(client)))
    return client


def make_key(client: TestClient[Any], email: str, workspace: str, **kw: Any) -> tuple[str, str]:
    """A key made with the service directly: (secret, prefix)."""

    async def go() -> tuple[str, str]:
        secret, key = await service_of(client).create_key(email, workspace, **kw)
        return secret, key.prefix

    return on_app_loop(client, go)


def key_status(client: TestClient[Any], prefix: str) -> str:
    async def go() -> str:
        from datetime import UTC, datetime

        return (await service_of(client).get_key(prefix)).status(datetime.now(UTC))

    return on_app_loop(client, go)


# -- who may do what ------------------------------------------------------------------------

READS = ("/api/v1/members", "/api/v1/keys", "/api/v1/me/keys", "/api/v1/me", "/api/v1/workspaces")
# role -> statuses of READS in the caller's own workspace (team-a)
HOME_READS = {
    ADMIN: (200, 200, 200, 200, 200),
    USER: (200, 403, 200, 200, 200),
    VIEWER: (200, 403, 403, 200, 200),
    BILLING: (403, 403, 403, 200, 200),
}
# ... and when asking for team-b: only user@ (a viewer there) and boss@ (its admin) hold a role
AWAY_READS = {
    ADMIN: (403, 403, 403, 200, 200),
    USER: (200, 403, 403, 200, 200),
    VIEWER: (403, 403, 403, 200, 200),
    BILLING: (403, 403, 403, 200, 200),
}


def test_reads_by_role_at_home_and_away(client: TestClient[Any]) -> None:
    wrong = []
    for person in HOME_READS:
        for workspace, table in (("team-a", HOME_READS), ("team-b", AWAY_READS)):
            for path, expected in zip(READS, table[person], strict=True):
                got = As(client, person).get(path, params={"workspace": workspace})
                if got.status_code != expected:
                    wrong.append(
                        f"{person} GET {path} in {workspace}: {got.status_code} != {expected}"
                    )
    # boss@ is admin of team-b and nothing in team-a
    for path, expected in zip(READS, (403, 403, 403, 200, 200), strict=True):
        got = As(client, BOSS).get(path, params={"workspace": "team-a"})
        if got.status_code != expected:
            wrong.append(f"{BOSS} GET {path} in team-a: {got.status_code} != {expected}")
    assert not wrong, "\n".join(wrong)


def writes(prefix: str) -> list[tuple[str, str, Any]]:
    """Every write of the API, aimed at real targets (so only the guard can stop them)."""
    return [
        ("POST", "/api/v1/members", {"email": "viewer@example.com", "role": "user"}),
        ("PUT", f"/api/v1/members/{VIEWER}", {"role": "user"}),
        ("DELETE", f"/api/v1/members/{VIEWER}", None),
        ("POST", "/api/v1/members/invites", {"email": "new@example.com", "role": "user"}),
        ("POST", "/api/v1/keys", {"user": USER, "name": "x"}),
        ("POST", f"/api/v1/keys/{prefix}/rotate", {"grace_seconds": 0}),
        ("DELETE", f"/api/v1/keys/{prefix}", None),
        ("POST", "/api/v1/workspaces", {"slug": "team-z"}),
        ("POST", "/api/v1/me/keys", {"name": "mine"}),
    ]


def send(who: As, method: str, path: str, body: Any, workspace: str) -> Any:
    params = {"workspace": workspace}
    if method == "POST":
        return who.post(path, json=body, params=params)
    if method == "PUT":
        return who.put(path, json=body, params=params)
    return who.delete(path, params=params)


def test_writes_refused_by_role_change_nothing(client: TestClient[Any]) -> None:
    """Everything but admin's writes is refused with 403 before the handler runs; ``/me/keys``
    is open to users (use_router). Afterwards the workspace is exactly as it was."""
    _, prefix = make_key(client, USER, "team-a", name="target")
    before = As(client, ADMIN).get("/api/v1/members", params={"workspace": "team-a"}).json()
    wrong = []
    cases = [(p, "team-a") for p in (USER, VIEWER, BILLING)] + [(ADMIN, "team-b"), (BOSS, "team-a")]
    for person, workspace in cases:
        for method, path, body in writes(prefix):
            expected = 201 if person == USER and path == "/api/v1/me/keys" else 403
            got = send(As(client, person), method, path, body, workspace)
            if got.status_code != expected:
                wrong.append(
                    f"{person} {method} {path} in {workspace}: {got.status_code} {got.text}"
                )
    assert not wrong, "\n".join(wrong)
    assert As(client, ADMIN).get("/api/v1/members", params={"workspace": "team-a"}).json() == before
    assert key_status(client, prefix) == "active"
    slugs = [w["slug"] for w in As(client, BOSS).get("/api/v1/workspaces").json()]
    assert slugs == ["team-b"]  # no team-z was created by anyone


def test_refusals_name_who_what_and_where(client: TestClient[Any]) -> None:
    refused = As(client, VIEWER).post("/api/v1/keys", json={"user": USER})
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "viewer@example.com may not write /api/v1/keys in workspace 'team-a'"
    )
    nobody = client.get("/api/v1/members")
    assert nobody.status_code == 401
    assert nobody.json() == {"status_code": 401, "detail": "sign in or send an API key"}


# -- me and workspaces ------------------------------------------------------------------------


def test_me_and_my_workspaces(client: TestClient[Any]) -> None:
    me = As(client, USER).get("/api/v1/me").json()
    assert me == {
        "email": USER,
        "display_name": "User",
        "kind": "session",
        "workspace": "team-a",
        "roles": ["user"],
        "key_id": None,
    }
    away = As(client, USER).get("/api/v1/me", params={"workspace": "team-b"}).json()
    assert (away["workspace"], away["roles"]) == ("team-b", ["viewer"])
    assert As(client, USER).get("/api/v1/workspaces").json() == [
        {"slug": "team-a", "name": "Team A", "roles": ["user"], "current": True},
        {"slug": "team-b", "name": "Team B", "roles": ["viewer"], "current": False},
    ]


def test_the_creator_of_a_workspace_is_its_admin(client: TestClient[Any]) -> None:
    admin = As(client, ADMIN)
    made = admin.post("/api/v1/workspaces", json={"slug": "team-c", "name": "Team C"})
    assert made.status_code == 201, made.text
    assert made.json() == {"slug": "team-c", "name": "Team C", "roles": ["admin"], "current": False}
    members = admin.get("/api/v1/members", params={"workspace": "team-c"}).json()
    assert [(m["email"], m["roles"]) for m in members] == [(ADMIN, ["admin"])]
    assert admin.post("/api/v1/workspaces", json={"slug": "team-c"}).status_code == 409
    bad = admin.post("/api/v1/workspaces", json={"slug": "Team C"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "slug" and bad.json()["detail"].startswith("slug: 'Team C'")


# -- members --------------------------------------------------------------------------------


def test_members_add_change_remove(client: TestClient[Any]) -> None:
    admin = As(client, ADMIN)
    on_app_loop(client, lambda: service_of(client).create_user("spare@example.com"))
    added = admin.post("/api/v1/members", json={"email": "Spare@Example.com", "role": "viewer"})
    assert added.status_code == 201, added.text
    assert (added.json()["email"], added.json()["roles"]) == ("spare@example.com", ["viewer"])
    permissions = client.app.state.registry.permissions
    assert permissions.roles_for("spare@example.com", "team-a") == ["viewer"]

    changed = admin.put("/api/v1/members/spare@example.com", json={"role": "user"})
    assert changed.status_code == 200 and changed.json()["roles"] == ["user"]
    assert permissions.roles_for("spare@example.com", "team-a") == ["user"]
    # the role now lets them in: use_router for /me/keys
    assert As(client, "spare@example.com").get("/api/v1/me/keys").status_code == 200

    secret, prefix = make_key(client, "spare@example.com", "team-a")
    cache = client.app.state.registry.get_interface("auth.api_keys")
    assert cache.verify(secret) is not None
    removed = admin.delete("/api/v1/members/spare@example.com")
    assert removed.status_code == 200
    assert removed.json() == {
        "email": "spare@example.com",
        "workspace": "team-a",
        "revoked_keys": [prefix],
    }
    assert permissions.roles_for("spare@example.com", "team-a") == []
    assert cache.verify(secret) is None and key_status(client, prefix) == "revoked"
    assert As(client, "spare@example.com").get("/api/v1/me/keys").status_code == 403
    emails = [m["email"] for m in admin.get("/api/v1/members").json()]
    assert "spare@example.com" not in emails


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    [
        ("POST", "/api/v1/members", {"email": "nobody@example.com", "role": "user"}, 404,
         "user: no user with email 'nobody@example.com'"),
        ("POST", "/api/v1/members", {"email": "bob", "role": "user"}, 422,
         "email: 'bob' is not an email address"),
        ("POST", "/api/v1/members", {"email": USER, "role": "viewer"}, 409,
         "user: user@example.com is already a member of 'team-a' (user)"),
        ("POST", "/api/v1/members", {"email": USER, "role": "boss"}, 422,
         "role: 'boss' is not a role; choose one of admin, user, viewer, billing_admin"),
        ("POST", "/api/v1/members", {"email": USER}, 400,
         "role: Object missing required field `role`"),
        ("POST", "/api/v1/members", {"email": USER, "role": "user", "x": 1}, 400,
         "x: Object contains unknown field `x`"),
        ("PUT", f"/api/v1/members/{USER}", {"role": "root"}, 422, "role: 'root' is not a role"),
        ("PUT", f"/api/v1/members/{BOSS}", {"role": "user"}, 404,
         "user: boss@example.com is not a member of 'team-a'"),
        ("PUT", f"/api/v1/members/{ADMIN}", {"role": "user"}, 409,
         "user: admin@example.com is the last admin of 'team-a'"),
        ("DELETE", f"/api/v1/members/{ADMIN}", None, 409,
         "user: admin@example.com is the last admin of 'team-a'"),
        ("DELETE", "/api/v1/members/not-an-email", None, 422, "email: 'not-an-email'"),
        ("POST", "/api/v1/members/invites", {"email": "x@", "role": "user"}, 422, "email: 'x@'"),
        ("POST", "/api/v1/members/invites", {"email": "n@example.com", "role": "owner"}, 422,
         "role: 'owner' is not a role"),
        ("POST", "/api/v1/members/invites", {"email": VIEWER, "role": "user"}, 409,
         "email: viewer@example.com is already a member of 'team-a'"),
    ],
)  # fmt: skip
def test_bad_member_input_names_the_field_and_changes_nothing(
    client: TestClient[Any], method: str, path: str, body: Any, status: int, detail: str
) -> None:
    admin = As(client, ADMIN)
    before = admin.get("/api/v1/members").json()
    answer = send(admin, method, path, body, "team-a")
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"].startswith(detail)
    assert answer.json()["field"] == detail.split(":")[0]
    assert admin.get("/api/v1/members").json() == before


def test_an_invitation_is_a_link_and_grants_nothing_yet(client: TestClient[Any]) -> None:
    admin = As(client, ADMIN)
    made = admin.post("/api/v1/members/invites", json={"email": "New@Example.com", "role": "user"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["email"], body["workspace"], body["role"], body["new_user"]) == (
        "new@example.com", "team-a", "user", True,
    )  # fmt: skip
    assert body["link"].startswith("http://testserver.local/ui/invite?token=")
    # the link works: the invitation page (the auth plugin's) knows it
    token = body["link"].split("token=")[1]
    assert client.get("/ui/invite", params={"token": token}).status_code == 200
    assert "new@example.com" not in [m["email"] for m in admin.get("/api/v1/members").json()]
    existing = admin.post("/api/v1/members/invites", json={"email": BOSS, "role": "viewer"})
    assert existing.status_code == 201 and existing.json()["new_user"] is False


# -- keys -----------------------------------------------------------------------------------


def test_admin_manages_every_members_keys(client: TestClient[Any]) -> None:
    admin = As(client, ADMIN)
    made = admin.post(
        "/api/v1/keys",
        json={"user": USER, "name": "ci", "scopes": ["/v1/messages", "model:claude-*"],
              "ttl_seconds": 86400},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["key"].startswith(key["prefix"] + "_") and "not shown again" in key["warning"]
    assert (key["user"], key["workspace"], key["status"], key["scopes"]) == (
        USER, "team-a", "active", ["/v1/messages", "model:claude-*"],
    )  # fmt: skip
    assert key["expires_at"] is not None
    cache = client.app.state.registry.get_interface("auth.api_keys")
    assert cache.verify(key["key"]).scopes == ("/v1/messages", "model:claude-*")

    listed = admin.get("/api/v1/keys").json()
    assert [k["prefix"] for k in listed] == [key["prefix"]]
    assert "key" not in listed[0] and key["key"] not in admin.get("/api/v1/keys").text
    assert admin.get("/api/v1/keys", params={"user": VIEWER}).json() == []

    rotated = admin.post(f"/api/v1/keys/{key['prefix']}/rotate", json={"grace_seconds": 60})
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["rotated_from"] == key["prefix"] and new["scopes"] == key["scopes"]
    statuses = {k["prefix"]: k["status"] for k in admin.get("/api/v1/keys").json()}
    assert statuses == {key["prefix"]: "grace", new["prefix"]: "active"}
    # rotating without a body uses the default grace period
    again = admin.post(f"/api/v1/keys/{new['prefix']}/rotate")
    assert again.status_code == 201, again.text

    revoked = admin.delete(f"/api/v1/keys/{again.json()['prefix']}")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert cache.verify(again.json()["key"]) is None
    twice = admin.post(f"/api/v1/keys/{key['prefix']}/rotate")
    assert twice.status_code == 409 and twice.json()["detail"].startswith("prefix: key ")


def test_keys_of_another_workspace_are_not_found(client: TestClient[Any]) -> None:
    secret, prefix = make_key(client, BOSS, "team-b")
    admin = As(client, ADMIN)
    for method, path in (
        ("DELETE", f"/api/v1/keys/{prefix}"),
        ("POST", f"/api/v1/keys/{prefix}/rotate"),
    ):
        answer = send(admin, method, path, None, "team-a")
        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"] == f"prefix: no key with prefix {prefix!r} in this workspace"
    assert prefix not in admin.get("/api/v1/keys").text
    assert key_status(client, prefix) == "active"
    cache = client.app.state.registry.get_interface("auth.api_keys")
    assert cache.verify(secret) is not None


def test_my_keys_are_mine_only(client: TestClient[Any]) -> None:
    user = As(client, USER)
    _, admins = make_key(client, ADMIN, "team-a", name="admin's")
    made = user.post("/api/v1/me/keys", json={"name": "laptop", "scopes": ["/v1/*"]})
    assert made.status_code == 201, made.text
    mine = made.json()
    assert (mine["user"], mine["workspace"], mine["name"]) == (USER, "team-a", "laptop")
    assert [k["prefix"] for k in user.get("/api/v1/me/keys").json()] == [mine["prefix"]]

    # someone else's key, whatever the prefix looks like: not found, and left alone
    for method, path in (
        ("DELETE", f"/api/v1/me/keys/{admins}"),
        ("POST", f"/api/v1/me/keys/{admins}/rotate"),
    ):
        answer = send(user, method, path, None, "team-a")
        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"] == f"prefix: no key with prefix {admins!r} among your keys"
    assert key_status(client, admins) == "active"
    # even an admin's /me is only their own
    assert (
        send(
            As(client, ADMIN), "DELETE", f"/api/v1/me/keys/{mine['prefix']}", None, "team-a"
        ).status_code
        == 404
    )

    rotated = user.post(f"/api/v1/me/keys/{mine['prefix']}/rotate", json={"grace_seconds": 0})
    assert rotated.status_code == 201 and rotated.json()["rotated_from"] == mine["prefix"]
    assert key_status(client, mine["prefix"]) in ("rotated", "grace")
    revoked = user.delete(f"/api/v1/me/keys/{rotated.json()['prefix']}")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"


@pytest.mark.parametrize(
    ("body", "status", "field", "detail"),
    [
        ({"scopes": ["/v1/*", "bad"]}, 422, "scopes[1]", "scopes[1]: 'bad' is neither"),
        ({"scopes": ["model:"]}, 422, "scopes[0]", "scopes[0]: 'model:' needs a model name"),
        ({"scopes": "/v1/*"}, 400, "scopes", "scopes: Expected `array`, got `str`"),
        ({"scopes": [3]}, 400, "scopes[0]", "scopes[0]: Expected `str`, got `int`"),
        ({"ttl_seconds": 0}, 400, "ttl_seconds", "ttl_seconds: Expected `int` >= 1"),
        ({"ttl_seconds": "soon"}, 400, "ttl_seconds", "ttl_seconds: Expected `int | null`"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, 422, "expires_at",
         "expires_at: 2001-01-01T00:00:00+00:00 is in the past"),
        ({"expires_at": "2099-01-01T00:00:00"}, 422, "expires_at",
         "expires_at: must be a date and time with a time zone"),
        ({"expires_at": "next week"}, 400, "expires_at", "expires_at: Invalid RFC3339"),
        ({"expires_at": "2099-01-01T00:00:00Z", "ttl_seconds": 60}, 422, "expires_at",
         "expires_at: give an expiry time or a duration, not both"),
        ({"name": "x" * 201}, 422, "name", "name: is 201 characters long"),
        ({"owner": USER}, 400, "owner", "owner: Object contains unknown field"),
    ],
)  # fmt: skip
def test_bad_key_input_names_the_field_and_stores_nothing(
    client: TestClient[Any], body: dict[str, Any], status: int, field: str, detail: str
) -> None:
    user = As(client, USER)
    answer = user.post("/api/v1/me/keys", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["field"] == field
    assert answer.json()["detail"].startswith(detail), answer.json()["detail"]
    assert user.get("/api/v1/me/keys").json() == []


def test_admin_key_for_a_non_member_or_bad_grace(client: TestClient[Any]) -> None:
    admin = As(client, ADMIN)
    outsider = admin.post("/api/v1/keys", json={"user": BOSS})
    assert outsider.status_code == 422
    assert outsider.json()["detail"].startswith(
        "user: boss@example.com is not a member of 'team-a'"
    )
    _, prefix = make_key(client, USER, "team-a")
    bad = admin.post(f"/api/v1/keys/{prefix}/rotate", json={"grace_seconds": -1})
    assert bad.status_code == 400 and bad.json()["field"] == "grace_seconds"
    assert key_status(client, prefix) == "active"
    assert admin.get("/api/v1/keys").json()[0]["prefix"] == prefix
    missing = admin.delete("/api/v1/keys/sy_nothere")
    assert missing.status_code == 404


def test_an_api_key_works_in_its_own_workspace_only(client: TestClient[Any]) -> None:
    """A key is bound to its workspace: asking for another one is refused by the guard."""
    as_key = {"x-test-key-workspace": "team-a"}
    mine = As(client, USER).get("/api/v1/me/keys", headers=as_key)
    assert mine.status_code == 200
    me = As(client, USER).get("/api/v1/me", headers=as_key).json()
    assert (me["kind"], me["workspace"], me["key_id"]) == ("api_key", "team-a", "sy_test0000")
    away = As(client, USER).get("/api/v1/members", params={"workspace": "team-b"}, headers=as_key)
    assert away.status_code == 403


def test_the_schema_describes_the_api(client: TestClient[Any]) -> None:
    schema = client.get("/schema/openapi.json").json()
    paths = schema["paths"]
    assert set(paths) >= {
        "/api/v1/me", "/api/v1/workspaces", "/api/v1/members", "/api/v1/members/{email}",
        "/api/v1/members/invites", "/api/v1/keys", "/api/v1/keys/{prefix}",
        "/api/v1/keys/{prefix}/rotate", "/api/v1/me/keys", "/api/v1/me/keys/{prefix}",
        "/api/v1/me/keys/{prefix}/rotate",
    }  # fmt: skip
    assert set(paths["/api/v1/keys"]) == {"get", "post"}
    components = schema["components"]["schemas"]
    new_key = next(v for k, v in components.items() if k.endswith("NewKey"))
    assert {"key", "prefix", "scopes", "expires_at", "warning"} <= set(new_key["properties"])
    key_in = next(
        v for k, v in components.items() if k.endswith("KeyIn") and "user" in v["properties"]
    )
    assert {"name", "scopes", "expires_at", "ttl_seconds", "user"} == set(key_in["properties"])


def test_a_real_api_key_manages_its_owners_keys_without_a_csrf_token(
    client: TestClient[Any],
) -> None:
    """Scripts authenticate with a key (no cookies, so no CSRF token); the key's own
    workspace is where it acts."""
    secret, prefix = make_key(client, USER, "team-a", name="script")
    bearer = {"authorization": f"Bearer {secret}"}
    made = client.post("/api/v1/me/keys", json={"name": "from a script"}, headers=bearer)
    assert made.status_code == 201, made.text
    assert (made.json()["user"], made.json()["workspace"]) == (USER, "team-a")
    listed = client.get("/api/v1/me/keys", headers=bearer).json()
    assert {k["prefix"] for k in listed} == {prefix, made.json()["prefix"]}
    away = client.get("/api/v1/members", params={"workspace": "team-b"}, headers=bearer)
    assert away.status_code == 403


def test_a_scoped_key_reaches_only_what_its_scopes_name(client: TestClient[Any]) -> None:
    """A key limited to the AI endpoints cannot mint itself an unlimited key."""
    secret, _ = make_key(client, USER, "team-a", scopes=["/v1/*"])
    bearer = {"authorization": f"Bearer {secret}"}
    refused = client.post("/api/v1/me/keys", json={"name": "escape"}, headers=bearer)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this API key's scopes do not allow /api/v1/me/keys"
    assert client.get("/api/v1/me", headers=bearer).status_code == 403
    # The kernel's guard applies it to every route, not only the auth plugin's.
    elsewhere = client.get("/api/v1/policy/rules", headers=bearer)
    assert elsewhere.status_code == 403
    assert elsewhere.json()["detail"] == "this API key's scopes do not allow /api/v1/policy/rules"
    assert len(As(client, USER).get("/api/v1/me/keys").json()) == 1
    allowed, _ = make_key(client, USER, "team-a", scopes=["/api/v1/me/keys"])
    assert (
        client.get("/api/v1/me/keys", headers={"authorization": f"Bearer {allowed}"}).status_code
        == 200
    )


def test_a_role_the_policy_refuses_leaves_no_member_behind(
    client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The membership row and the policy line are written in two steps; when the policy
    write fails the row is taken back, so nobody is a member without a role."""
    from core.permissions import PolicyError

    permissions = client.app.state.registry.permissions

    async def refuse(*_: Any, **__: Any) -> Any:
        raise PolicyError("role", "refused for the test")

    on_app_loop(client, lambda: service_of(client).create_user("spare@example.com"))
    monkeypatch.setattr(permissions, "set_roles", refuse)
    answer = As(client, ADMIN).post(
        "/api/v1/members", json={"email": "spare@example.com", "role": "user"}
    )
    assert answer.status_code == 422
    assert answer.json() == {
        "status_code": 422,
        "detail": "role: refused for the test",
        "field": "role",
    }
    monkeypatch.undo()
    emails = [m["email"] for m in As(client, ADMIN).get("/api/v1/members").json()]
    assert "spare@example.com" not in emails
    again = As(client, ADMIN).post(
        "/api/v1/members", json={"email": "spare@example.com", "role": "user"}
    )
    assert again.status_code == 201, again.text
