"""The Casbin model and every default permission of the built-in roles (roadmap table)."""

from __future__ import annotations

from pathlib import Path

import casbin
import pytest
from casbin.util import key_match2

POLICIES = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture
def enforcer() -> casbin.Enforcer:
    e = casbin.Enforcer(str(POLICIES / "model.conf"), str(POLICIES / "default_policy.csv"))
    e.add_named_matching_func("g2", key_match2)
    for user, role in (("ada", "admin"), ("uma", "user"), ("vic", "viewer"), ("bill", "billing_admin")):
        e.add_role_for_user_in_domain(user, role, "team-a")
    return e


ALLOWED = {
    "admin": [("/api/v1/keys", "write"), ("/api/v1/policies/rules", "write"), ("/v1/messages", "use"),
              ("/api/v1/billing/invoices", "read"), ("/api/v1/budgets/monthly", "write")],
    "user": [("/v1/messages", "use"), ("/v1/chat/completions", "use"), ("/api/v1/config", "read"),
             ("/api/v1/analytics/usage", "read"), ("/ui/routing", "read")],
    "viewer": [("/api/v1/analytics/usage", "read"), ("/api/v1/config", "read")],
    "billing_admin": [("/api/v1/billing/invoices", "read"), ("/api/v1/budgets/monthly", "write"),
                      ("/api/v1/costs/approvals/42", "write")],
}
DENIED = {
    "user": [("/api/v1/keys", "write"), ("/api/v1/config", "write"), ("/api/v1/billing/invoices", "read"),
             ("/api/v1/budgets/monthly", "write")],
    "viewer": [("/v1/messages", "use"), ("/api/v1/config", "write"), ("/api/v1/budgets/monthly", "write")],
    "billing_admin": [("/v1/messages", "use"), ("/api/v1/keys", "write"), ("/api/v1/config", "write")],
}
MEMBERS = {"admin": "ada", "user": "uma", "viewer": "vic", "billing_admin": "bill"}


@pytest.mark.parametrize("role,obj,act", [(r, o, a) for r, cases in ALLOWED.items() for o, a in cases])
def test_role_is_allowed_in_its_workspace(enforcer: casbin.Enforcer, role: str, obj: str, act: str) -> None:
    assert enforcer.enforce(MEMBERS[role], "team-a", obj, act)


@pytest.mark.parametrize("role,obj,act", [(r, o, a) for r, cases in DENIED.items() for o, a in cases])
def test_role_is_denied_what_it_lacks(enforcer: casbin.Enforcer, role: str, obj: str, act: str) -> None:
    assert not enforcer.enforce(MEMBERS[role], "team-a", obj, act)


@pytest.mark.parametrize("role,obj,act", [(r, o, a) for r, cases in ALLOWED.items() for o, a in cases])
def test_roles_do_not_reach_another_workspace(enforcer: casbin.Enforcer, role: str, obj: str, act: str) -> None:
    assert not enforcer.enforce(MEMBERS[role], "team-b", obj, act)


def test_one_person_holds_different_roles_per_workspace(enforcer: casbin.Enforcer) -> None:
    enforcer.add_role_for_user_in_domain("uma", "viewer", "team-b")
    assert enforcer.enforce("uma", "team-b", "/api/v1/analytics/usage", "read")
    assert not enforcer.enforce("uma", "team-b", "/v1/messages", "use")
    assert enforcer.enforce("uma", "team-a", "/v1/messages", "use")


def test_explain_names_the_rule_that_matched(enforcer: casbin.Enforcer) -> None:
    allowed, rule = enforcer.enforce_ex("uma", "team-a", "/v1/messages", "use")
    assert allowed and rule == ["user", "*", "use_router", "use"]
