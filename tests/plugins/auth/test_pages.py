"""The keys, my-keys, members and workspaces pages and the workspace switcher, over HTTP
through the guard: plain form posts (no JavaScript) and htmx fragments, what each role sees,
and what every action changes."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.plugins.auth.helpers import AUTH
from tests.plugins.auth.people import SIGNED_IN, As, on_app_loop, populate, service_of

WEB = ("web", "web:includeme")
ADMIN, USER, VIEWER, BILLING = (
    "admin@example.com",
    "user@example.com",
    "viewer@example.com",
    "billing@example.com",
)
HTMX = {"hx-request": "true"}


@pytest.fixture
def client(client_for: Any) -> TestClient[Any]:
    client = client_for([WEB, AUTH, SIGNED_IN])
    on_app_loop(client, lambda: populate(service_of(client)))
    return client


def cache_of(client: TestClient[Any]) -> Any:
    return client.app.state.registry.get_interface("auth.api_keys")


def roles(client: TestClient[Any], email: str, workspace: str = "team-a") -> list[str]:
    return client.app.state.registry.permissions.roles_for(email, workspace)


def keys_of(client: TestClient[Any], **filters: Any) -> list[Any]:
    return on_app_loop(client, lambda: service_of(client).list_keys(**filters))


class _Page(HTMLParser):
    """What the tests look at in a page: forms and their fields, inputs by id, inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.inputs: dict[str, dict[str, str | None]] = {}
        self.inline: list[str] = []
        self._in_script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name, _ in attrs:
            if name.startswith("on") or name == "style":
                self.inline.append(f"<{tag} {name}=...>")
        if tag == "script":
            self._in_script_without_src = "src" not in a
        if tag == "form":
            self.forms.append({"attrs": a, "fields": {}})
        if tag in ("input", "select", "textarea", "button"):
            if self.forms and a.get("name"):
                self.forms[-1]["fields"][a["name"]] = a.get("value")
            if a.get("id"):
                self.inputs[a["id"]] = a

    def handle_data(self, data: str) -> None:
        if self._in_script_without_src and data.strip():
            self.inline.append("<script> without src")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script_without_src = False


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def ops(html: str) -> set[str]:
    """The write operations a page offers (the ``op`` of its forms)."""
    return {f["fields"].get("op") for f in parse(html).forms if f["fields"].get("op")}


def is_fragment(html: str) -> bool:
    return "<html" not in html and 'hx-swap-oob="innerHTML"' in html


# -- keys (admin) ---------------------------------------------------------------------------


def test_admin_creates_a_key_without_javascript_and_sees_it_once(client: TestClient[Any]) -> None:
    admin = As(client, ADMIN)
    page = admin.get("/ui/keys")
    assert page.status_code == 200 and ops(page.text) == {"create"}  # no keys yet
    made = admin.post(
        "/ui/keys",
        data={"op": "create", "user": USER, "name": "ci", "scopes": "/v1/messages\nmodel:claude-*",
              "expires_days": "30"},
    )  # fmt: skip
    assert made.status_code == 200 and "<html" in made.text
    field = parse(made.text).inputs["new-key"]
    secret = field["value"] or ""
    assert secret.startswith("sy_") and "readonly" in field
    assert "shown only this once" in made.text
    principal = cache_of(client).verify(secret)
    assert principal.user == USER and principal.scopes == ("/v1/messages", "model:claude-*")
    [key] = keys_of(client, workspace="team-a")
    assert key.expires_at is not None and key.name == "ci"
    again = admin.get("/ui/keys")
    assert secret not in again.text and key.prefix in again.text
    assert ops(again.text) == {"create", "rotate", "revoke"}


def test_htmx_revoke_and_rotate_swap_the_panel(client: TestClient[Any]) -> None:
    admin = As(client, ADMIN)
    secret, key = on_app_loop(client, lambda: service_of(client).create_key(USER, "team-a", "old"))
    rotated = admin.post(
        "/ui/keys", data={"op": "rotate", "prefix": key.prefix, "grace_seconds": "3600"},
        headers=HTMX,
    )  # fmt: skip
    assert rotated.status_code == 200 and is_fragment(rotated.text)
    assert rotated.text.lstrip().startswith('<div id="keys-panel"')
    new_secret = parse(rotated.text).inputs["new-key"]["value"] or ""
    assert cache_of(client).verify(new_secret) is not None
    assert cache_of(client).verify(secret) is not None  # grace period
    assert "rotated, works until" in rotated.text
    assert f"Key {key.prefix} is replaced by" in rotated.text  # the flash, out of band

    new_prefix = new_secret[:11]
    revoked = admin.post("/ui/keys", data={"op": "revoke", "prefix": new_prefix}, headers=HTMX)
    assert revoked.status_code == 200 and is_fragment(revoked.text)
    assert cache_of(client).verify(new_secret) is None
    row = re.search(rf'<tr id="key-{new_prefix}">.*?</tr>', revoked.text, re.DOTALL)
    assert row and "badge-error" in row.group(0) and "revoke" not in ops(row.group(0))
    assert "new-key" not in parse(revoked.text).inputs  # no secret after a revocation


def test_bad_key_input_is_shown_at_the_field_and_stores_nothing(client: TestClient[Any]) -> None:
    admin = As(client, ADMIN)
    plain = admin.post("/ui/keys", data={"op": "create", "user": USER, "scopes": "/v1/*\nmessages"})
    assert plain.status_code == 422
    field = parse(plain.text).inputs["key-scopes"]
    assert field.get("aria-invalid") == "true"
    assert "scopes[1]: &#39;messages&#39; is neither an endpoint pattern" in plain.text
    assert "messages" in plain.text.split('id="key-scopes"')[1].split("</textarea>")[0]  # kept

    htmx = admin.post(
        "/ui/keys", data={"op": "create", "user": USER, "expires_days": "0"}, headers=HTMX
    )
    assert htmx.status_code == 200 and is_fragment(htmx.text)  # htmx swaps only 2xx
    assert "expires_days: &#39;0&#39;: give a whole number of days" in htmx.text
    outsider = admin.post("/ui/keys", data={"op": "create", "user": "boss@example.com"})
    assert outsider.status_code == 422 and "is not a member of" in outsider.text
    unknown = admin.post("/ui/keys", data={"op": "explode"})
    assert unknown.status_code == 422 and "op: &#39;explode&#39;" in unknown.text
    assert keys_of(client) == []


def test_keys_page_is_for_admins_only(client: TestClient[Any]) -> None:
    for person in (USER, VIEWER, BILLING):
        page = As(client, person).get("/ui/keys", headers={"accept": "text/html"})
        assert page.status_code == 403, person
        assert "<html" in page.text  # the shell's error page, not JSON
        assert (
            As(client, person).post("/ui/keys", data={"op": "create", "user": person}).status_code
            == 403
        )
    assert keys_of(client) == []


# -- my keys --------------------------------------------------------------------------------


def test_my_keys_create_rotate_revoke_only_my_own(client: TestClient[Any]) -> None:
    user = As(client, USER)
    admin_secret, admin_key = on_app_loop(
        client, lambda: service_of(client).create_key(ADMIN, "team-a")
    )
    page = user.get("/ui/me/keys")
    assert page.status_code == 200 and admin_key.prefix not in page.text
    made = user.post("/ui/me/keys", data={"op": "create", "name": "laptop"}, headers=HTMX)
    assert made.status_code == 200 and is_fragment(made.text)
    secret = parse(made.text).inputs["new-key"]["value"] or ""
    assert cache_of(client).verify(secret).user == USER
    assert "Owner" not in made.text and 'name="user"' not in made.text  # always for me

    for op in ("revoke", "rotate"):
        other = user.post("/ui/me/keys", data={"op": op, "prefix": admin_key.prefix})
        assert other.status_code == 422
        assert f"no key with prefix &#39;{admin_key.prefix}&#39; among your keys" in other.text
    assert cache_of(client).verify(admin_secret) is not None

    mine = secret[:11]
    rotated = user.post("/ui/me/keys", data={"op": "rotate", "prefix": mine, "grace_seconds": "0"})
    assert rotated.status_code == 200 and cache_of(client).verify(secret) is None
    new = parse(rotated.text).inputs["new-key"]["value"] or ""
    assert user.post("/ui/me/keys", data={"op": "revoke", "prefix": new[:11]}).status_code == 200
    assert cache_of(client).verify(new) is None


def test_my_keys_needs_the_router_permission(client: TestClient[Any]) -> None:
    assert As(client, ADMIN).get("/ui/me/keys").status_code == 200
    for person in (VIEWER, BILLING):
        assert As(client, person).get("/ui/me/keys").status_code == 403
        assert As(client, person).post("/ui/me/keys", data={"op": "create"}).status_code == 403
    assert keys_of(client) == []


# -- members --------------------------------------------------------------------------------


def test_readers_see_members_without_write_controls(client: TestClient[Any]) -> None:
    for person in (USER, VIEWER):
        page = As(client, person).get("/ui/members")
        assert page.status_code == 200
        assert ops(page.text) == set(), person
        assert "Invite someone" not in page.text
        for email in (ADMIN, USER, VIEWER, BILLING):
            assert email in page.text
        assert (
            As(client, person)
            .post("/ui/members", data={"op": "remove", "email": BILLING})
            .status_code
            == 403
        )
    assert As(client, BILLING).get("/ui/members").status_code == 403
    assert roles(client, BILLING) == ["billing_admin"]


def test_admin_invites_changes_roles_and_removes(client: TestClient[Any]) -> None:
    admin = As(client, ADMIN)
    page = admin.get("/ui/members")
    assert ops(page.text) == {"invite", "role", "remove"}

    invited = admin.post(
        "/ui/members",
        data={"op": "invite", "email": "New@Example.com", "role": "viewer"},
        headers=HTMX,
    )
    assert invited.status_code == 200 and is_fragment(invited.text)
    link = parse(invited.text).inputs["invite-link"]["value"] or ""
    assert (
        "/ui/invite?token=" in link and "new@example.com as <strong>viewer</strong>" in invited.text
    )
    assert "cancel-invite" in ops(invited.text)
    invite_id = next(
        f["fields"]["invite"]
        for f in parse(invited.text).forms
        if f["fields"].get("op") == "cancel-invite"
    )
    cancelled = admin.post(
        "/ui/members", data={"op": "cancel-invite", "invite": invite_id}, headers=HTMX
    )
    assert "cancel-invite" not in ops(cancelled.text)
    token = link.split("token=")[1]
    assert client.get("/ui/invite", params={"token": token}).status_code == 404  # voided

    changed = admin.post(
        "/ui/members", data={"op": "role", "email": VIEWER, "role": "user"}, headers=HTMX
    )
    assert changed.status_code == 200 and "viewer@example.com is now user." in changed.text
    assert roles(client, VIEWER) == ["user"]

    secret, _ = on_app_loop(client, lambda: service_of(client).create_key(VIEWER, "team-a"))
    removed = admin.post("/ui/members", data={"op": "remove", "email": VIEWER})
    assert (
        removed.status_code == 200
        and "viewer@example.com was removed and 1 key(s) revoked." in removed.text
    )
    assert roles(client, VIEWER) == [] and cache_of(client).verify(secret) is None
    assert VIEWER not in removed.text.split('id="members-title"')[1]


def test_member_form_errors_change_nothing(client: TestClient[Any]) -> None:
    admin = As(client, ADMIN)
    last_admin = admin.post("/ui/members", data={"op": "role", "email": ADMIN, "role": "viewer"})
    assert last_admin.status_code == 422 and "is the last admin of" in last_admin.text
    assert roles(client, ADMIN) == ["admin"]
    bad_role = admin.post(
        "/ui/members", data={"op": "role", "email": USER, "role": "owner"}, headers=HTMX
    )
    assert "role: &#39;owner&#39; is not a role" in bad_role.text and roles(client, USER) == [
        "user"
    ]
    bad_email = admin.post("/ui/members", data={"op": "invite", "email": "nobody", "role": "user"})
    assert bad_email.status_code == 422
    field = parse(bad_email.text).inputs["invite-email"]
    assert field.get("aria-invalid") == "true" and field.get("value") == "nobody"


# -- workspaces and the switcher ------------------------------------------------------------


def test_workspaces_page_lists_mine_and_admins_create(client: TestClient[Any]) -> None:
    page = As(client, USER).get("/ui/workspaces")
    assert page.status_code == 200
    assert "team-a" in page.text and "team-b" in page.text and "Create a workspace" not in page.text
    assert As(client, USER).post("/ui/workspaces", data={"slug": "mine"}).status_code == 403

    admin = As(client, ADMIN)
    made = admin.post("/ui/workspaces", data={"slug": "team-c", "name": "Team C"}, headers=HTMX)
    assert made.status_code == 200 and is_fragment(made.text)
    assert "Created team-c; you are its admin." in made.text
    assert roles(client, ADMIN, "team-c") == ["admin"]
    bad = admin.post("/ui/workspaces", data={"slug": "Team C"})
    assert (
        bad.status_code == 422 and parse(bad.text).inputs["ws-slug"].get("aria-invalid") == "true"
    )


def test_the_switcher_changes_the_workspace_for_every_page(client: TestClient[Any]) -> None:
    user = As(client, USER)
    page = user.get("/ui/members")
    switcher = [f for f in parse(page.text).forms if f["attrs"].get("action") == "/ui/workspace"]
    assert switcher and set(switcher[0]["fields"]) >= {"workspace", "next", "_csrf_token"}
    assert "boss@example.com" not in page.text  # team-a

    moved = user.post(
        "/ui/workspace", data={"workspace": "team-b", "next": "/ui/members"}, follow_redirects=False
    )
    assert moved.status_code == 303 and moved.headers["location"] == "/ui/members"
    there = user.get("/ui/members")
    assert "boss@example.com" in there.text and "You are working in team-b." in there.text
    assert parse(there.text).inputs["workspace-select"] is not None
    assert re.search(r'<option value="team-b" selected>', there.text)
    assert user.get("/api/v1/me").json()["workspace"] == "team-b"
    assert user.get("/ui/me/keys").status_code == 403  # a viewer in team-b

    refused = user.post(
        "/ui/workspace",
        data={"workspace": "team-z", "next": "//evil.example"},
        follow_redirects=False,
    )
    assert refused.status_code == 303 and refused.headers["location"] == "/ui/"
    assert user.get("/api/v1/me").json()["workspace"] == "team-b"
    assert "You hold no role in &#39;team-z&#39;" in user.get("/ui/").text

    htmx = user.post(
        "/ui/workspace", data={"workspace": "team-a", "next": "/ui/keys"}, headers=HTMX
    )
    assert htmx.status_code == 200 and htmx.headers["hx-redirect"] == "/ui/keys"
    assert user.get("/api/v1/me").json()["workspace"] == "team-a"


def test_signed_out_visitors_are_sent_to_sign_in(client: TestClient[Any]) -> None:
    for path in ("/ui/keys", "/ui/members", "/ui/me/keys", "/ui/workspaces"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith(
            "/ui/sign-in?next="
        )


def test_pages_have_no_inline_code_and_every_form_has_a_csrf_field(client: TestClient[Any]) -> None:
    admin = As(client, ADMIN)
    on_app_loop(client, lambda: service_of(client).create_key(USER, "team-a"))
    admin.post("/ui/members", data={"op": "invite", "email": "n@example.com", "role": "user"})
    for path in ("/ui/keys", "/ui/members", "/ui/me/keys", "/ui/workspaces"):
        html = admin.get(path).text
        page = parse(html)
        assert page.inline == [], path
        assert page.forms, path
        for form in page.forms:
            if (form["attrs"].get("method") or "get").lower() == "post":
                assert form["fields"].get("_csrf_token"), (path, form["attrs"])
        for element_id, attrs in page.inputs.items():  # every field has a label
            if attrs.get("type") not in ("hidden", "submit") and "name" in attrs:
                assert f'for="{element_id}"' in html, (path, element_id)


def test_a_workspace_only_the_policy_knows_is_a_warning_not_an_error(client_for: Any) -> None:
    """The test identity is admin of 'default' by a policy line alone (no workspace row)."""
    client = client_for([WEB, AUTH])  # the default test identity: admin of 'default'
    for path in ("/ui/keys", "/ui/members", "/ui/me/keys"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "Workspace &#39;default&#39; has roles in the policy but does not exist" in page.text
        assert ops(page.text) == set(), path


def nav_links(html: str) -> list[str]:
    nav = html[html.index('<nav aria-label="Main"'):]
    nav = nav[: nav.index("</nav>")]
    return re.findall(r'class="nav-link" href="([^"]+)"', nav)


def test_the_nav_shows_only_what_each_role_may_open(client: TestClient[Any]) -> None:
    admin = nav_links(As(client, ADMIN).get("/ui/").text)
    viewer = nav_links(As(client, VIEWER).get("/ui/").text)
    assert {"/ui/keys", "/ui/members", "/ui/policy"} <= set(admin)
    assert "/ui/members" in viewer and "/ui/policy" in viewer  # read-only pages
    assert "/ui/keys" not in viewer and "/ui/me/keys" not in viewer  # they would answer 403
    for href in viewer:
        assert As(client, VIEWER).get(href).status_code == 200, href
