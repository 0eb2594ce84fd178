"""The policy editor over HTTP: what admins and readers see, htmx fragments and plain-form
fallbacks for every form, inline errors that name the field, the checker and revert."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.identity_plugin import USER_HEADER, identity_plugin

WEB = ("web", "web:includeme")
ADA, VIC, OLA = "ada@example.com", "vic@example.com", "ola@example.com"
GRANTS = [(ADA, "admin", "team-a"), (VIC, "viewer", "team-a"), (OLA, "admin", "solo"), (OLA, "admin", "team-a")]
HTMX = {"hx-request": "true"}


@pytest.fixture
def client(client_for: Any) -> TestClient[Any]:
    return client_for([WEB, identity_plugin(None, GRANTS)])


def as_(who: str, **extra: str) -> dict[str, str]:
    return {USER_HEADER: who, **extra}


def token(client: TestClient[Any], who: str = ADA) -> str:
    page = client.get("/ui/policy", headers=as_(who)).text
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    assert found, "the page's forms carry the CSRF token"
    return found.group(1)


def post(client: TestClient[Any], path: str, data: dict[str, str], *, who: str = ADA, htmx: bool = True) -> Any:
    headers = as_(who, **(HTMX if htmx else {}))
    return client.post(path, data={**data, "_csrf_token": token(client, who)}, headers=headers, follow_redirects=False)


def policy_lines(client: TestClient[Any], who: str = ADA) -> list[list[str]]:
    body = client.get("/api/v1/policy/rules", headers=as_(who)).json()
    return [[r["ptype"], *r["values"]] for r in body["rules"]]


def test_an_admin_sees_roles_permissions_patterns_members_and_history(client: TestClient[Any]) -> None:
    page = client.get("/ui/policy", headers=as_(ADA))
    html = page.text
    assert page.status_code == 200 and "<title>Policy · Switchyard</title>" in html
    assert re.search(r'href="/ui/policy"\s+aria-current="page"', html)
    assert '<th scope="row">viewer</th>' in html and '<th scope="row">billing_admin</th>' in html
    viewer_row = html[html.index('id="role-viewer"'):html.index("</tr>", html.index('id="role-viewer"'))]
    assert "<code>read_config</code>" in viewer_row and "<code>/api/v1/config</code>" in viewer_row
    assert VIC in viewer_row and "Remove<span class=\"visually-hidden\"> viewer from vic@example.com" in viewer_row
    assert 'id="assign-subject"' in html and 'id="grant-object"' in html
    assert "set up the default policy" in html and "policies/default_policy.csv" in html
    assert 'id="check-result" role="status" aria-live="polite"' in html
    assert html.count('name="_csrf_token"') >= 3


def test_a_reader_sees_the_policy_but_no_controls(client: TestClient[Any]) -> None:
    html = client.get("/ui/policy", headers=as_(VIC)).text
    assert '<th scope="row">admin</th>' in html and 'id="check-subject"' in html
    assert 'id="assign-subject"' not in html and ">Remove<" not in html and "Revert" not in html
    assert client.get("/ui/policy", headers=as_("stranger@example.com")).status_code == 403


def test_giving_a_role_with_htmx_swaps_the_panel(client: TestClient[Any]) -> None:
    answer = post(client, "/ui/policy/rules", {"form": "assign", "subject": "New@Example.com", "role": "user"})
    assert answer.status_code == 200
    html = answer.text
    assert html.startswith('<div id="policy-panel"') and "<html" not in html
    user_row = html[html.index('id="role-user"'):html.index("</tr>", html.index('id="role-user"'))]
    assert "new@example.com" in user_row
    assert 'hx-swap-oob="innerHTML"' in html and "added g, new@example.com, user, team-a" in html
    assert ["g", "new@example.com", "user", "team-a"] in policy_lines(client)
    assert client.get("/api/v1/policy/rules", headers=as_("new@example.com")).status_code == 200


def test_a_refused_value_is_shown_beside_its_field_and_nothing_is_stored(client: TestClient[Any]) -> None:
    before = policy_lines(client)
    answer = post(client, "/ui/policy/rules", {"form": "assign", "subject": "bo b@example.com", "role": "user"})
    html = answer.text
    assert answer.status_code == 200  # htmx swaps only 2xx answers
    assert 'id="assign-subject"' in html and 'aria-invalid="true" aria-describedby="assign-subject-error"' in html
    assert re.search(r'<span id="assign-subject-error" class="field-error">subject: .*must not contain spaces', html)
    assert 'value="bo b@example.com"' in html  # what was typed stays
    assert "Not changed: subject:" in html
    assert policy_lines(client) == before


@pytest.mark.parametrize(
    "data,field,message",
    [
        ({"form": "grant", "role": "viewer", "object": "/api/v1/keys*", "action": "read"}, "object",
         "* must be a whole segment"),
        ({"form": "grant", "role": "Viewer", "object": "read_config", "action": "read"}, "role", "not a role name"),
        ({"form": "grant", "role": "viewer", "object": "read_config", "action": "drop"}, "action", "not an action"),
        ({"form": "cover", "pattern": "api/v1/x", "permission": "read_config"}, "pattern", "must start with /"),
        ({"form": "cover", "pattern": "/api/v1/x", "permission": "Read"}, "permission", "not a permission name"),
    ],
)
def test_each_form_names_the_refused_field(client: TestClient[Any], data: dict[str, str], field: str, message: str) -> None:
    before = policy_lines(client, OLA)
    html = post(client, "/ui/policy/rules", data, who=OLA).text
    form = data["form"]
    assert f'aria-describedby="{form}-{field}-error"' in html
    assert re.search(rf'<span id="{form}-{field}-error" class="field-error">{field}: [^<]*{re.escape(message)}', html)
    assert policy_lines(client, OLA) == before


def test_without_javascript_a_change_redirects_and_an_error_shows_the_page(client: TestClient[Any]) -> None:
    done = post(client, "/ui/policy/rules", {"form": "assign", "subject": "kim@example.com", "role": "viewer"}, htmx=False)
    assert done.status_code == 303 and done.headers["location"] == "/ui/policy"
    page = client.get("/ui/policy", headers=as_(ADA)).text
    assert "added g, kim@example.com, viewer, team-a" in page  # the flash, shown once
    assert "added g, kim@example.com, viewer, team-a" not in client.get("/ui/policy", headers=as_(ADA)).text
    refused = post(client, "/ui/policy/rules", {"form": "assign", "subject": "kim@example.com", "role": "viewer"},
                   htmx=False)
    assert refused.status_code == 422 and "<html" in refused.text
    assert 'id="assign-error" class="field-error" role="alert">rule: [g, kim@example.com, viewer, team-a] is already' in refused.text


def test_admins_of_one_workspace_do_not_change_shared_lines(client: TestClient[Any]) -> None:
    html = client.get("/ui/policy", headers=as_(ADA)).text
    assert 'id="grant-scope-everywhere"' not in html and 'id="cover-pattern"' not in html  # "solo" exists too
    before = policy_lines(client)
    answer = post(client, "/ui/policy/rules",
                  {"form": "grant", "role": "viewer", "object": "manage_keys", "action": "write", "scope": "everywhere"})
    assert "you may not change the policy in solo" in answer.text and 'id="grant-error"' in answer.text
    removed = post(client, "/ui/policy/rules", {"form": "remove", "ptype": "g2", "v0": "/v1/*", "v1": "use_router"})
    assert "Not changed: workspace:" in removed.text
    assert policy_lines(client) == before
    here = post(client, "/ui/policy/rules",
                {"form": "grant", "role": "auditor", "object": "/api/v1/exports/*", "action": "read", "scope": "here"})
    assert "added p, auditor, team-a, /api/v1/exports/*, read" in here.text
    assert '<th scope="row">auditor</th>' in here.text and "only in team-a" in here.text


def test_someone_admin_everywhere_edits_patterns(client: TestClient[Any]) -> None:
    html = client.get("/ui/policy", headers=as_(OLA)).text
    assert 'id="cover-pattern"' in html and 'id="grant-scope-everywhere"' in html
    answer = post(client, "/ui/policy/rules", {"form": "cover", "pattern": "/api/v1/exports/*", "permission": "view_analytics"},
                  who=OLA)
    assert "<code>/api/v1/exports/*</code>" in answer.text
    assert ["g2", "/api/v1/exports/*", "view_analytics"] in policy_lines(client, OLA)


def test_removing_an_assignment_and_reverting_it(client: TestClient[Any]) -> None:
    removed = post(client, "/ui/policy/rules", {"form": "remove", "ptype": "g", "v0": VIC, "v1": "viewer", "v2": "team-a"})
    assert "removed g, vic@example.com, viewer, team-a" in removed.text
    assert ["g", VIC, "viewer", "team-a"] not in policy_lines(client)
    change_id = re.search(r'id="change-(\d+)"', removed.text).group(1)  # type: ignore[union-attr]
    reverted = post(client, "/ui/policy/revert", {"change_id": change_id})
    assert reverted.status_code == 200 and f"Reverted change {change_id}" in reverted.text
    assert ["g", VIC, "viewer", "team-a"] in policy_lines(client)
    again = post(client, "/ui/policy/revert", {"change_id": change_id})
    assert "Not reverted: change_id: cannot revert change" in again.text
    bad = post(client, "/ui/policy/revert", {"change_id": "x"}, htmx=False)
    assert bad.status_code == 422 and "change_id: &#39;x&#39; is not a change number" in bad.text


def test_the_checker_answers_in_a_fragment_or_a_page(client: TestClient[Any]) -> None:
    query = f"/ui/policy/check?subject={VIC}&object=/api/v1/config&action=read"
    fragment = client.get(query, headers=as_(VIC, **HTMX))
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert '<span class="badge badge-ok">Allowed</span>' in fragment.text
    assert "<code>p, viewer, *, read_config, read</code>" in fragment.text
    assert "<code>g2, /api/v1/config, read_config</code>" in fragment.text
    denied = client.get(f"/ui/policy/check?subject={VIC}&object=/api/v1/keys&action=write", headers=as_(VIC, **HTMX))
    assert '<span class="badge badge-error">Denied</span>' in denied.text
    bad = client.get(f"/ui/policy/check?subject={VIC}&object=&action=read", headers=as_(VIC, **HTMX))
    assert "object: must not be empty" in bad.text
    page = client.get(f"/ui/policy/check?subject={VIC}&object=/x&action=erase", headers=as_(VIC))
    assert page.status_code == 422 and "<html" in page.text
    assert 'id="check-action" name="action" aria-invalid="true" aria-describedby="check-action-error"' in page.text
    full = client.get(query, headers=as_(VIC))
    assert full.status_code == 200 and "Allowed" in full.text and 'value="/api/v1/config"' in full.text


def test_forms_without_the_csrf_token_are_refused(client: TestClient[Any]) -> None:
    before = policy_lines(client)
    client.get("/ui/policy", headers=as_(ADA))
    refused = client.post("/ui/policy/rules", data={"form": "assign", "subject": "x@example.com", "role": "user"},
                          headers=as_(ADA, **HTMX))
    assert refused.status_code == 403
    assert policy_lines(client) == before


def test_readers_cannot_post_changes(client: TestClient[Any]) -> None:
    before = policy_lines(client)
    answer = post(client, "/ui/policy/rules", {"form": "assign", "subject": VIC, "role": "admin"}, who=VIC)
    assert answer.status_code == 403
    assert policy_lines(client) == before


def test_the_plugins_page_lists_the_public_and_self_service_routes(client: TestClient[Any]) -> None:
    html = client.get("/ui/plugins", headers=as_(ADA)).text
    public = html[html.index('id="public-title"'):html.index('id="self-service-title"')]
    for path in ("/healthz", "/ui/theme", "/static/web/", "/schema/"):
        assert f"<code>{path}</code>" in public
    assert "/ui/policy" not in public
    assert "<code>GET /ui/</code>" in html
