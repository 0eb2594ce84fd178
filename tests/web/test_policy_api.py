"""``/api/v1/policy`` over HTTP: rules of the current workspace, validated writes that name the
refused field and store nothing, the checker, history and revert, and who may do which."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.identity_plugin import KEY_WORKSPACE_HEADER, USER_HEADER, identity_plugin

WEB = ("web", "web:includeme")
ADA, VIC, OLA = "ada@example.com", "vic@example.com", "ola@example.com"
GRANTS = [
    (ADA, "admin", "team-a"),
    (VIC, "viewer", "team-a"),
    (OLA, "admin", "team-a"),
    (OLA, "admin", "team-b"),
    ("bo@example.com", "user", "team-b"),
]


def key(subject: str, workspace: str = "team-a") -> dict[str, str]:
    """An API-key request of ``subject`` bound to ``workspace`` (no CSRF token needed)."""
    return {USER_HEADER: subject, KEY_WORKSPACE_HEADER: workspace, "x-api-key": "sy_test0000"}


@pytest.fixture
def client(client_for: Any) -> TestClient[Any]:
    return client_for([WEB, identity_plugin(None, GRANTS)])


def lines(client: TestClient[Any], who: str = ADA, workspace: str = "team-a") -> list[list[str]]:
    found = client.get("/api/v1/policy/rules", headers=key(who, workspace))
    assert found.status_code == 200, found.text
    return [[r["ptype"], *r["values"]] for r in found.json()["rules"]]


def test_rules_are_those_of_the_workspace(client: TestClient[Any]) -> None:
    body = client.get("/api/v1/policy/rules", headers=key(VIC)).json()
    assert body["workspace"] == "team-a" and body["version"] >= 1
    found = [[r["ptype"], *r["values"]] for r in body["rules"]]
    assert ["g", VIC, "viewer", "team-a"] in found
    assert ["g", "bo@example.com", "user", "team-b"] not in found
    assert ["p", "user", "*", "use_router", "use"] in found
    assert ["g2", "/api/v1/keys/*", "manage_keys"] in found


def test_an_admin_adds_and_removes_a_line_and_it_applies(client: TestClient[Any]) -> None:
    added = client.post("/api/v1/policy/rules", json={"ptype": "g", "values": ["New@Example.com", "viewer", "team-a"]},
                        headers=key(ADA))
    assert added.status_code == 201, added.text
    change = added.json()
    assert (change["actor"], change["action"], change["workspace"]) == (ADA, "add", "team-a")
    assert change["after"] == [{"ptype": "g", "values": ["new@example.com", "viewer", "team-a"]}]
    assert client.get("/api/v1/policy/rules", headers=key("new@example.com")).status_code == 200
    removed = client.post("/api/v1/policy/rules/delete",
                          json={"ptype": "g", "values": ["new@example.com", "viewer", "team-a"]}, headers=key(ADA))
    assert removed.status_code == 200 and removed.json()["action"] == "remove"
    assert client.get("/api/v1/policy/rules", headers=key("new@example.com")).status_code == 403


@pytest.mark.parametrize(
    "body,field,detail",
    [
        ({"ptype": "q", "values": ["a", "b"]}, "ptype", "ptype: unknown rule type 'q'"),
        ({"ptype": "g", "values": ["a@example.com", "viewer"]}, "values", "values: a g line has 3 values"),
        ({"ptype": "g", "values": ["a@example.com", "wizard", "team-a"]}, "role", "role: unknown role 'wizard'"),
        ({"ptype": "g", "values": ["", "viewer", "team-a"]}, "subject", "subject: must not be empty"),
        ({"ptype": "p", "values": ["viewer", "team-a", "/a b", "read"]}, "object", "object: '/a b' must not contain"),
        ({"ptype": "p", "values": ["viewer", "team-a", "read_config", "drop"]}, "action", "action: 'drop' is not"),
        ({"ptype": "p", "values": ["viewer", "team-a", "/x/{id}", "read"]}, "object", "not {name}"),
        ({"ptype": "g", "values": [VIC, "viewer", "team-a"]}, "rule", "is already in the policy"),
    ],
)
def test_bad_lines_are_400_naming_the_field_and_store_nothing(
    client: TestClient[Any], body: dict[str, Any], field: str, detail: str
) -> None:
    before = lines(client)
    refused = client.post("/api/v1/policy/rules", json=body, headers=key(ADA))
    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == field and detail in refused.json()["detail"]
    assert lines(client) == before


@pytest.mark.parametrize(
    "body,key_name",
    [({"values": ["a"]}, "ptype"), ({"ptype": "g", "values": "abc"}, "values"),
     ({"ptype": "g", "values": ["a"], "extra": 1}, "extra")],
)
def test_malformed_bodies_are_400_naming_the_key(client: TestClient[Any], body: dict[str, Any], key_name: str) -> None:
    before = lines(client)
    refused = client.post("/api/v1/policy/rules", json=body, headers=key(ADA))
    assert refused.status_code == 400
    assert refused.json()["field"] == key_name and refused.json()["detail"].startswith(f"{key_name}: ")
    assert lines(client) == before


def test_removing_a_line_that_is_not_there(client: TestClient[Any]) -> None:
    refused = client.post("/api/v1/policy/rules/delete",
                          json={"ptype": "g", "values": ["zed@example.com", "viewer", "team-a"]}, headers=key(ADA))
    assert refused.status_code == 400 and refused.json()["field"] == "rule"


def test_a_viewer_reads_and_checks_but_cannot_write(client: TestClient[Any]) -> None:
    assert client.get("/api/v1/policy/history", headers=key(VIC)).status_code == 200
    assert client.post("/api/v1/policy/check", json={"subject": VIC, "object": "/ui/keys", "action": "read"},
                       headers=key(VIC)).status_code == 200
    refused = client.post("/api/v1/policy/rules", json={"ptype": "g", "values": [VIC, "admin", "team-a"]},
                          headers=key(VIC))
    assert refused.status_code == 403
    assert VIC not in [r[1] for r in lines(client) if r[:1] == ["g"] and r[2] == "admin"]


def test_workspace_admins_stay_in_their_workspace(client: TestClient[Any]) -> None:
    other = client.post("/api/v1/policy/rules", json={"ptype": "g", "values": [ADA, "admin", "team-b"]},
                        headers=key(ADA))
    assert other.status_code == 403
    assert other.json()["field"] == "workspace" and "is for workspace 'team-b'" in other.json()["detail"]
    shared = {"ptype": "p", "values": ["viewer", "*", "manage_keys", "write"]}
    everywhere = client.post("/api/v1/policy/rules", json=shared, headers=key(ADA))
    assert everywhere.status_code == 403 and "you may not change the policy in team-b" in everywhere.json()["detail"]
    pattern = client.post("/api/v1/policy/rules", json={"ptype": "g2", "values": ["/api/v1/keys2", "read_config"]},
                          headers=key(ADA))
    assert pattern.status_code == 403
    assert ["p", "viewer", "*", "manage_keys", "write"] not in lines(client, OLA)
    # ola is admin in every workspace there is: shared lines are hers to change
    assert client.post("/api/v1/policy/rules", json=shared, headers=key(OLA)).status_code == 201
    here = client.post("/api/v1/policy/rules", json={"ptype": "p", "values": ["viewer", "team-a", "manage_keys", "read"]},
                       headers=key(ADA))
    assert here.status_code == 201


def test_check_explains_the_decision(client: TestClient[Any]) -> None:
    answer = client.post("/api/v1/policy/check", json={"subject": VIC, "object": "/api/v1/config", "action": "read"},
                         headers=key(ADA))
    body = answer.json()
    assert answer.status_code == 200 and body["allowed"] is True and body["workspace"] == "team-a"
    assert body["rule"] == {"ptype": "p", "values": ["viewer", "*", "read_config", "read"]}
    assert body["via"] == {"ptype": "g2", "values": ["/api/v1/config", "read_config"]}
    assert body["roles"] == ["viewer"]
    denied = client.post("/api/v1/policy/check", json={"subject": VIC, "object": "/api/v1/keys", "action": "write"},
                         headers=key(ADA)).json()
    assert denied["allowed"] is False and denied["rule"] is None and denied["reason"].startswith("denied")
    bad = client.post("/api/v1/policy/check", json={"subject": VIC, "object": "/x", "action": "erase"}, headers=key(ADA))
    assert bad.status_code == 400 and bad.json()["field"] == "action"
    empty = client.post("/api/v1/policy/check", json={"subject": VIC, "object": " ", "action": "read"}, headers=key(ADA))
    assert empty.status_code == 400 and empty.json()["field"] == "object"


def test_history_and_revert(client: TestClient[Any]) -> None:
    added = client.post("/api/v1/policy/rules", json={"ptype": "g", "values": ["kai@example.com", "user", "team-a"]},
                        headers=key(ADA)).json()
    history = client.get("/api/v1/policy/history?limit=2", headers=key(VIC)).json()
    assert history[0]["id"] == added["id"] and len(history) == 2
    assert all(c["workspace"] in ("team-a", "*") for c in client.get("/api/v1/policy/history", headers=key(ADA)).json())
    reverted = client.post(f"/api/v1/policy/history/{added['id']}/revert", headers=key(ADA))
    assert reverted.status_code == 200, reverted.text
    assert reverted.json()["action"] == "revert" and reverted.json()["before"] == added["after"]
    assert ["g", "kai@example.com", "user", "team-a"] not in lines(client)
    again = client.post(f"/api/v1/policy/history/{added['id']}/revert", headers=key(ADA))
    assert again.status_code == 400 and again.json()["field"] == "change_id"
    assert client.post("/api/v1/policy/history/99999/revert", headers=key(ADA)).json()["field"] == "change_id"
    too_few = client.get("/api/v1/policy/history?limit=0", headers=key(ADA))
    assert too_few.status_code == 400 and too_few.json()["field"] == "limit"


def test_changes_of_another_workspace_are_not_reverted_from_here(client: TestClient[Any]) -> None:
    theirs = client.post("/api/v1/policy/rules", json={"ptype": "g", "values": ["lu@example.com", "user", "team-b"]},
                         headers=key(OLA, "team-b")).json()
    refused = client.post(f"/api/v1/policy/history/{theirs['id']}/revert", headers=key(ADA))
    assert refused.status_code == 403 and refused.json()["field"] == "workspace"
    assert ["g", "lu@example.com", "user", "team-b"] in lines(client, OLA, "team-b")


def test_browsers_need_the_csrf_token(client: TestClient[Any]) -> None:
    refused = client.post("/api/v1/policy/rules", json={"ptype": "g", "values": ["x@example.com", "user", "team-a"]},
                          headers={USER_HEADER: ADA})
    assert refused.status_code == 403 and "CSRF" in refused.text


def test_the_openapi_schema_describes_the_policy_api(client: TestClient[Any]) -> None:
    schema = client.get("/schema/openapi.json").json()
    for path in ("/api/v1/policy/rules", "/api/v1/policy/rules/delete", "/api/v1/policy/check",
                 "/api/v1/policy/history", "/api/v1/policy/history/{change_id}/revert"):
        assert path in schema["paths"], path
    components = schema["components"]["schemas"]
    for name in ("RuleIn", "RuleOut", "RulesOut", "ChangeOut", "CheckIn", "DecisionOut", "Problem"):
        assert any(key.endswith(name) for key in components), name
    assert "400" in schema["paths"]["/api/v1/policy/rules"]["post"]["responses"]
