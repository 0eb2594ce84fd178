"""The Casbin model and every default permission of the built-in roles (roadmap table, docs/security.md).

Each case runs on two enforcers: Casbin's own file adapter reading the CSV (the model as Casbin
means it) and the one the permissions service builds from the parsed lines (what the gateway
actually answers with), so a loader bug and a policy bug both show up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import casbin
import pytest
from casbin.util import key_match2

from core.permissions import _build_enforcer
from core.policy_rules import parse_policy_csv

POLICIES = Path(__file__).resolve().parents[2] / "policies"
MEMBERS = {"admin": "ada@example.com", "user": "uma@example.com", "viewer": "vic@example.com",
           "billing_admin": "bill@example.com", "publisher": "pub@example.com"}
ROLES = tuple(MEMBERS)
READERS = {"admin", "user", "viewer"}
ROUTER_USERS = {"admin", "user"}
BILLING = {"admin", "billing_admin"}
ADMIN = {"admin"}

# (object, action) -> the roles allowed it; every other role is denied.
CASES: dict[tuple[str, str], set[str]] = {
    # use_router
    ("/v1/messages", "use"): ROUTER_USERS,
    ("/v1/messages/count_tokens", "use"): ROUTER_USERS,
    ("/v1/chat/completions", "use"): ROUTER_USERS,
    ("/v1/models", "use"): ROUTER_USERS,
    ("/v1/messages", "write"): ADMIN,
    # read_config
    ("/api/v1/config", "read"): READERS,
    ("/api/v1/config/routing", "read"): READERS,
    ("/api/v1/providers", "read"): READERS,
    ("/api/v1/providers/deepseek", "read"): READERS,
    ("/ui/routing", "read"): READERS,
    ("/ui/routing/traffic", "read"): READERS,
    ("/ui/plugins", "read"): READERS,
    ("/api/v1/config", "write"): ADMIN,
    ("/api/v1/providers/deepseek", "write"): ADMIN,
    # members and policy: read for readers, writes admin-only
    ("/api/v1/members", "read"): READERS,
    ("/api/v1/members/bob@example.com", "read"): READERS,
    ("/ui/members", "read"): READERS,
    ("/api/v1/members", "write"): ADMIN,
    ("/api/v1/members/bob@example.com", "write"): ADMIN,
    ("/ui/members", "write"): ADMIN,
    ("/api/v1/policy", "read"): READERS,
    ("/api/v1/policy/rules", "read"): READERS,
    ("/api/v1/policy/history", "read"): READERS,
    ("/ui/policy", "read"): READERS,
    ("/ui/policy/history", "read"): READERS,
    ("/api/v1/policy/rules", "write"): ADMIN,
    ("/api/v1/policy/history/3/revert", "write"): ADMIN,
    ("/ui/policy/rules", "write"): ADMIN,
    # view_analytics
    ("/api/v1/analytics/usage", "read"): READERS,
    ("/api/v1/usage/daily", "read"): READERS,
    ("/api/v1/reports/monthly", "read"): READERS,
    ("/ui/analytics/overview", "read"): READERS,
    ("/api/v1/analytics/usage", "write"): ADMIN,
    # billing
    ("/api/v1/billing/invoices", "read"): BILLING,
    ("/ui/billing/overview", "read"): BILLING,
    ("/api/v1/budgets/monthly", "write"): BILLING,
    ("/api/v1/costs/approvals/42", "write"): BILLING,
    ("/api/v1/billing/invoices", "write"): ADMIN,
    # manage_keys, manage_workspaces: admin only
    ("/api/v1/keys", "read"): ADMIN,
    ("/api/v1/keys", "write"): ADMIN,
    ("/api/v1/keys/sy_ab12cd34", "write"): ADMIN,
    ("/ui/keys", "read"): ADMIN,
    ("/api/v1/workspaces", "write"): ADMIN,
    # use_router covers a user's own keys (handlers ask for "use")
    ("/api/v1/me/keys", "use"): ROUTER_USERS,
    ("/api/v1/me/keys/sy_ab12cd34", "use"): ROUTER_USERS,
    ("/ui/me/keys", "use"): ROUTER_USERS,
    ("/api/v1/me/keys", "read"): ADMIN,
    # publish_plugins: admin, and the publisher role (nothing else for it)
    ("/marketplace/publish", "write"): {"admin", "publisher"},
    ("/marketplace/publish", "read"): ADMIN,
    # a path no permission covers
    ("/api/v1/something-new", "read"): ADMIN,
    ("/ui/something-new", "read"): ADMIN,
}


def casbin_file_enforcer() -> casbin.Enforcer:
    e = casbin.Enforcer(str(POLICIES / "model.conf"), str(POLICIES / "default_policy.csv"))
    e.add_named_matching_func("g2", key_match2)
    e.build_role_links()
    return e


def service_enforcer() -> casbin.Enforcer:
    return _build_enforcer(parse_policy_csv((POLICIES / "default_policy.csv").read_text()))


@pytest.fixture(params=[casbin_file_enforcer, service_enforcer], ids=["casbin-file", "service"])
def enforcer(request: pytest.FixtureRequest) -> casbin.Enforcer:
    build: Callable[[], casbin.Enforcer] = request.param
    e = build()
    for role, member in MEMBERS.items():
        e.add_role_for_user_in_domain(member, role, "team-a")
    return e


ALL = [(role, obj, act) for (obj, act) in CASES for role in ROLES]


@pytest.mark.parametrize("role,obj,act", ALL)
def test_each_role_in_its_own_workspace(enforcer: casbin.Enforcer, role: str, obj: str, act: str) -> None:
    expected = role in CASES[(obj, act)]
    assert enforcer.enforce(MEMBERS[role], "team-a", obj, act) is expected, (
        f"{role} {'should' if expected else 'should not'} {act} {obj}"
    )


@pytest.mark.parametrize("role,obj,act", ALL)
def test_no_role_reaches_another_workspace(enforcer: casbin.Enforcer, role: str, obj: str, act: str) -> None:
    assert not enforcer.enforce(MEMBERS[role], "team-b", obj, act)


def test_someone_without_a_role_gets_nothing(enforcer: casbin.Enforcer) -> None:
    for obj, act in CASES:
        assert not enforcer.enforce("stranger@example.com", "team-a", obj, act)


def test_one_person_holds_different_roles_per_workspace(enforcer: casbin.Enforcer) -> None:
    enforcer.add_role_for_user_in_domain(MEMBERS["user"], "viewer", "team-b")
    assert enforcer.enforce(MEMBERS["user"], "team-b", "/api/v1/analytics/usage", "read")
    assert not enforcer.enforce(MEMBERS["user"], "team-b", "/v1/messages", "use")
    assert enforcer.enforce(MEMBERS["user"], "team-a", "/v1/messages", "use")


def test_a_workspace_specific_rule_applies_in_that_workspace_only(enforcer: casbin.Enforcer) -> None:
    enforcer.add_policy("user", "team-b", "manage_keys", "write")
    enforcer.add_role_for_user_in_domain(MEMBERS["user"], "user", "team-b")
    assert enforcer.enforce(MEMBERS["user"], "team-b", "/api/v1/keys/sy_1", "write")
    assert not enforcer.enforce(MEMBERS["user"], "team-a", "/api/v1/keys/sy_1", "write")


def test_a_path_pattern_in_a_p_line_needs_no_g2(enforcer: casbin.Enforcer) -> None:
    enforcer.add_policy("viewer", "*", "/api/v1/exports/:id/pdf", "read")
    assert enforcer.enforce(MEMBERS["viewer"], "team-a", "/api/v1/exports/7/pdf", "read")
    assert not enforcer.enforce(MEMBERS["viewer"], "team-a", "/api/v1/exports/7/pdf/x", "read")


def test_explain_names_the_rule_that_matched(enforcer: casbin.Enforcer) -> None:
    allowed, rule = enforcer.enforce_ex(MEMBERS["user"], "team-a", "/v1/messages", "use")
    assert allowed and rule == ["user", "*", "use_router", "use"]


def test_the_default_policy_file_is_valid() -> None:
    rules = parse_policy_csv((POLICIES / "default_policy.csv").read_text())
    assert {r.values[0] for r in rules if r.ptype == "p"} == set(ROLES)
    assert not [r for r in rules if r.ptype == "g"], "the default policy assigns no one"
    assert len(rules) == len(set(rules)), "duplicate lines"
