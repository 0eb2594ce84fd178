"""The policy editor, ``/ui/policy``: roles, their permissions and the paths those cover, who
holds each role here, a "may X do Y on Z?" checker and the history with one-click revert.

Forms post to ``/ui/policy/rules`` and ``/ui/policy/revert``. With htmx the answer is the
page's panel (flashes out of band); without it, a success redirects back to the page and a
refusal shows the page again (422) with the error beside the field it names. The checker is
a GET (``/ui/policy/check``): a fragment for htmx, the whole page otherwise. The guard already
decided (readers may look and check, writes are admin's); the page only hides controls the
caller cannot use, asking the same question the API does.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from litestar import Request, Response
from litestar.response import Redirect

from core.permissions import Change, Permissions, PolicyError, Rule
from core.policy_rules import ACTIONS, check_value, is_permission_name, validate_rule
from core.templating import Flash, Templates, flash
from web.policy_api import (
    POLICY_WRITE,
    change_scope_problem,
    context,
    refuse_out_of_scope,
    revert_in_scope,
)

__all__ = ["change_rule", "check_page", "policy_page", "revert_change"]

PAGE = "policy/index.html"
PANEL = "policy/_panel.html"
RESULT = "policy/_check_result.html"
TITLE = "Policy"
HISTORY_LIMIT = 50


class _View:
    """The caller, the workspace and the policy, plus what the page reports back."""

    def __init__(self, request: Request[Any, Any, Any]) -> None:
        self.request = request
        self.permissions, self.me, self.workspace = context(request)
        self.templates: Templates = request.app.state.registry.state["templates"]
        self.flashes: list[Flash] = []
        self.error: dict[str, str] = {}  # form, field, message
        self.values: dict[str, str] = {}

    @property
    def htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"

    def can_write(self) -> bool:
        return self.permissions.enforce(self.me, self.workspace, POLICY_WRITE, "write")

    def can_write_everywhere(self) -> bool:
        return change_scope_problem(self.permissions, self.me, self.workspace, "*") is None

    def context(self, **extra: Any) -> dict[str, Any]:
        permissions, workspace = self.permissions, self.workspace
        return {
            "workspace": workspace,
            "me": self.me,
            "version": permissions.version,
            "roles": _roles(permissions, workspace),
            "patterns": sorted((r for r in permissions.rules(workspace) if r.ptype == "g2"), key=lambda r: (r.values[1], r.values[0])),
            "permission_names": sorted({r.values[1] for r in permissions.rules() if r.ptype == "g2"}),
            "role_names": permissions.roles(),
            "actions": ACTIONS,
            "can_write": self.can_write(),
            "can_write_everywhere": self.can_write_everywhere(),
            "error": self.error,
            "values": self.values,
            **extra,
        }

    def page(self, status: int = 200, **extra: Any) -> Response[str]:
        full = {**self.templates.base_context(self.request), **self.context(**extra), "page_title": TITLE}
        full["flashes"] = [*full["flashes"], *self.flashes]
        html = self.templates.render_string(PAGE, full)
        return Response(html, status_code=status, media_type="text/html; charset=utf-8")

    def panel(self, **extra: Any) -> Response[str]:
        full = {**self.templates.base_context(self.request), **self.context(**extra)}
        full.update(flashes=self.flashes, flashes_oob=True)
        html = self.templates.render_string(PANEL, full)
        return Response(html, status_code=200, media_type="text/html; charset=utf-8")

    async def answer(self) -> Response[Any]:
        """After a form: the panel (htmx), the page again (refused) or back to the page."""
        history = await self.permissions.history(self.workspace, HISTORY_LIMIT)
        if self.htmx:
            return self.panel(history=history)
        if self.error:
            return self.page(422, history=history)
        for item in self.flashes:
            flash(self.request, item.message, item.category)
        return Redirect("/ui/policy", status_code=303)


def _roles(permissions: Permissions, workspace: str) -> list[dict[str, Any]]:
    """Each role with what it may do (and the paths each permission covers) and who holds it."""
    rules = permissions.rules(workspace)
    covers: dict[str, list[str]] = defaultdict(list)
    for rule in rules:
        if rule.ptype == "g2":
            covers[rule.values[1]].append(rule.values[0])
    grants: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rule in rules:
        if rule.ptype != "p":
            continue
        role, scope, obj, action = rule.values
        grants[role].append({
            "rule": rule,
            "object": obj,
            "action": action,
            "everywhere": scope == "*",
            "patterns": sorted(covers.get(obj, [])) if is_permission_name(obj) else [],
            "kind": "everything" if obj == "*" else ("permission" if is_permission_name(obj) else "path"),
        })
    return [
        {
            "name": role,
            "grants": grants[role],
            "members": [
                {"subject": who, "rule": Rule("g", (who, role, workspace))}
                for who in permissions.subjects_with_role(role, workspace)
            ],
        }
        for role in sorted(grants)
    ]


async def policy_page(request: Request[Any, Any, Any]) -> Response[str]:
    view = _View(request)
    return view.page(history=await view.permissions.history(view.workspace, HISTORY_LIMIT))


async def check_page(request: Request[Any, Any, Any]) -> Response[str]:
    """"May SUBJECT do ACTION on OBJECT here?" (GET: asking changes nothing)."""
    view = _View(request)
    query = request.query_params
    asked = {k: (query.get(k) or "").strip() for k in ("subject", "object", "action")}
    view.values = {f"check_{k}": v for k, v in asked.items()}
    decision = None
    try:
        subject = check_value("g", "subject", asked["subject"])
        if not asked["object"]:
            raise PolicyError("object", "must not be empty")
        action = check_value("p", "action", asked["action"])
        decision = view.permissions.explain(subject, view.workspace, asked["object"], action)
    except PolicyError as exc:
        view.error = {"form": "check", "field": exc.field, "message": str(exc)}
    if view.htmx:
        full = {**view.context(decision=decision)}
        html = view.templates.render_string(RESULT, full)
        return Response(html, status_code=200, media_type="text/html; charset=utf-8")
    history = await view.permissions.history(view.workspace, HISTORY_LIMIT)
    return view.page(422 if view.error else 200, decision=decision, history=history)


def _rule_from_form(form_name: str, form: dict[str, str], workspace: str) -> Rule:
    if form_name == "assign":
        return Rule("g", (form.get("subject", ""), form.get("role", ""), workspace))
    if form_name == "grant":
        scope = "*" if form.get("scope") == "everywhere" else workspace
        return Rule("p", (form.get("role", ""), scope, form.get("object", ""), form.get("action", "")))
    if form_name == "cover":
        return Rule("g2", (form.get("pattern", ""), form.get("permission", "")))
    if form_name == "remove":
        values = tuple(form.get(f"v{i}", "") for i in range(4) if f"v{i}" in form)
        return Rule(form.get("ptype", ""), values)
    raise PolicyError("form", f"{form_name!r} is not a form of this page (assign, grant, cover, remove)")


async def change_rule(request: Request[Any, Any, Any]) -> Response[Any]:
    """Add (assign, grant, cover) or remove one line."""
    view = _View(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    form_name = form.get("form", "")
    view.values = form
    try:
        rule = validate_rule(_rule_from_form(form_name, form, view.workspace))
        refuse_out_of_scope(view.permissions, view.me, view.workspace, rule.workspace)
        if form_name == "remove":
            change = await view.permissions.remove(rule, actor=view.me)
        else:
            change = await view.permissions.add(rule, actor=view.me)
        view.flashes.append(Flash(_done(change), "success"))
        view.values = {}
    except PolicyError as exc:
        view.error = {"form": form_name, "field": exc.field, "message": str(exc)}
        view.flashes.append(Flash(f"Not changed: {exc}", "error"))
    return await view.answer()


async def revert_change(request: Request[Any, Any, Any]) -> Response[Any]:
    view = _View(request)
    form = await request.form()
    raw = str(form.get("change_id", "")).strip()
    try:
        if not raw.isdigit():
            raise PolicyError("change_id", f"{raw!r} is not a change number")
        change = await revert_in_scope(view.permissions, view.me, view.workspace, int(raw))
        view.flashes.append(Flash(f"Reverted change {raw}: {_done(change)}", "success"))
    except PolicyError as exc:
        view.error = {"form": "revert", "field": exc.field, "message": str(exc)}
        view.flashes.append(Flash(f"Not reverted: {exc}", "error"))
    return await view.answer()


def _done(change: Change) -> str:
    removed = "; ".join(str(r) for r in change.before if r not in change.after)
    added = "; ".join(str(r) for r in change.after if r not in change.before)
    parts = [f"added {added}" if added else "", f"removed {removed}" if removed else ""]
    return f"Change {change.id}: " + ", ".join(p for p in parts if p) + "."
