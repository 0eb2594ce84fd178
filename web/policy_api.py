"""``/api/v1/policy``: the live policy of the current workspace, as JSON.

Every call works in the workspace the guard resolved, and the guard already decided that the
caller may read (GET, and the check) or write (the rest) here. One more rule keeps workspace
admins inside their workspace: a line for another workspace is refused, and a line for every
workspace (``p`` with ``*``, ``g2``) only goes through for someone who may change the policy
in every workspace there is, so editing a shared line never grants more than they hold.
The editor page (web.policy_pages) applies the same rules through the same functions.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, Parameter

from core.permissions import Change, Decision, Permissions, PolicyError, Rule
from core.policy_rules import check_value
from core.security import identity_of, workspace_of

__all__ = [
    "HANDLERS",
    "ChangeOut",
    "CheckIn",
    "DecisionOut",
    "Problem",
    "RuleIn",
    "RuleOut",
    "RulesOut",
    "ScopeError",
    "change_scope_problem",
    "context",
    "refuse_out_of_scope",
    "revert_in_scope",
]

POLICY_WRITE = "/api/v1/policy/rules"
_BODY_PATH = re.compile(r" - at `\$\.([A-Za-z_]+)[^`]*`")
_BODY_FIELD = re.compile(r"field `([A-Za-z_]+)`")
Text = Annotated[str, msgspec.Meta(max_length=255)]


class _In(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Request bodies refuse unknown fields, so a typo is an error rather than ignored."""


class RuleIn(_In):
    """A policy line: ``p`` (role, workspace, object, action), ``g`` (subject, role,
    workspace) or ``g2`` (pattern, permission)."""

    ptype: Text
    values: Annotated[list[Text], msgspec.Meta(max_length=8)]


class CheckIn(_In):
    """May ``subject`` do ``action`` on ``object`` (a path or permission) in this workspace?"""

    subject: Text
    object: Text
    action: Text


class RuleOut(msgspec.Struct, kw_only=True):
    ptype: str
    values: list[str]

    @classmethod
    def of(cls, rule: Rule) -> RuleOut:
        return cls(ptype=rule.ptype, values=list(rule.values))


class RulesOut(msgspec.Struct, kw_only=True):
    """The lines that apply in ``workspace``: its p lines and ``*`` ones, its g lines, all g2."""

    workspace: str
    version: int
    rules: list[RuleOut]


class ChangeOut(msgspec.Struct, kw_only=True):
    """A recorded change: the lines it removed (before) and added (after)."""

    id: int
    at: datetime
    actor: str
    workspace: str
    action: str
    before: list[RuleOut]
    after: list[RuleOut]

    @classmethod
    def of(cls, change: Change) -> ChangeOut:
        return cls(
            id=change.id,
            at=change.at,
            actor=change.actor,
            workspace=change.workspace,
            action=change.action,
            before=[RuleOut.of(r) for r in change.before],
            after=[RuleOut.of(r) for r in change.after],
        )


class DecisionOut(msgspec.Struct, kw_only=True):
    """The answer, the p line that allowed it, the g2 line that mapped the object, the roles."""

    allowed: bool
    subject: str
    workspace: str
    object: str
    action: str
    roles: list[str]
    rule: RuleOut | None
    via: RuleOut | None
    reason: str

    @classmethod
    def of(cls, decision: Decision) -> DecisionOut:
        return cls(
            allowed=decision.allowed,
            subject=decision.subject,
            workspace=decision.workspace,
            object=decision.object,
            action=decision.action,
            roles=list(decision.roles),
            rule=RuleOut.of(decision.rule) if decision.rule else None,
            via=RuleOut.of(decision.via) if decision.via else None,
            reason=decision.reason,
        )


class Problem(msgspec.Struct, kw_only=True):
    """An error: ``field`` names the value that was refused."""

    status_code: int
    detail: str
    field: str | None = None


# -- shared with the editor page -----------------------------------------------------------


def context(request: Request[Any, Any, Any]) -> tuple[Permissions, str, str]:
    """(permissions, caller's subject, workspace) for a request the guard let through."""
    permissions: Permissions | None = request.app.state.registry.permissions
    identity, workspace = identity_of(request), workspace_of(request)
    if permissions is None or identity is None or workspace is None:  # the guard ensures them
        raise HTTPException(status_code=503, detail="permissions are not available")
    return permissions, identity.subject, workspace


def change_scope_problem(permissions: Permissions, subject: str, workspace: str, line_workspace: str) -> str | None:
    """Why ``subject``, working in ``workspace``, may not change a line of ``line_workspace``."""
    if line_workspace == workspace:
        return None
    if line_workspace != "*":
        return (
            f"this line is for workspace {line_workspace!r} but you are working in {workspace!r}; "
            "switch workspace to change it"
        )
    elsewhere = [
        w for w in sorted({*permissions.workspaces(), workspace})
        if not permissions.enforce(subject, w, POLICY_WRITE, "write")
    ]
    if elsewhere:
        return (
            "this line applies in every workspace, and you may not change the policy in "
            f"{', '.join(elsewhere[:5])}{' and others' if len(elsewhere) > 5 else ''}"
        )
    return None


class ScopeError(PolicyError):
    """A valid line the caller may not change from this workspace (403, not 400)."""

    def __init__(self, message: str) -> None:
        super().__init__("workspace", message)


def refuse_out_of_scope(permissions: Permissions, subject: str, workspace: str, line_workspace: str) -> None:
    problem = change_scope_problem(permissions, subject, workspace, line_workspace)
    if problem is not None:
        raise ScopeError(problem)


def _problem(status: int, detail: str, field: str | None) -> Response[Problem]:
    return Response(Problem(status_code=status, detail=detail, field=field), status_code=status)


def _policy_error(_: Request[Any, Any, Any], exc: PolicyError) -> Response[Problem]:
    return _problem(400, str(exc), exc.field)


def _scope_error(_: Request[Any, Any, Any], exc: ScopeError) -> Response[Problem]:
    return _problem(403, str(exc), exc.field)


def _invalid_body(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    """msgspec's refusal of a body or parameter, as a Problem naming the key."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    first = extra[0] if extra and isinstance(extra[0], dict) else {}
    key, message = first.get("key"), str(first.get("message") or exc.detail)
    if first.get("source") == "body":  # msgspec says where inside the body: name that
        found = _BODY_PATH.search(message) or _BODY_FIELD.search(message)
        key = found.group(1) if found else key
        message = _BODY_PATH.sub("", message)
    return _problem(400, f"{key}: {message}" if key else message, key)


_ERRORS: dict[Any, Any] = {
    PolicyError: _policy_error,
    ScopeError: _scope_error,
    ValidationException: _invalid_body,
}
_BAD = {400: ResponseSpec(Problem, description="A value was refused; `field` names it.")}
_WRITE = {**_BAD, 403: ResponseSpec(Problem, description="Not yours to change.")}
_TAGS = ["policy"]


# -- handlers ------------------------------------------------------------------------------


@get("/api/v1/policy/rules", tags=_TAGS, summary="The lines that apply in this workspace")
async def list_rules(request: Request[Any, Any, Any]) -> RulesOut:
    permissions, _, workspace = context(request)
    rules = permissions.rules(workspace)
    return RulesOut(workspace=workspace, version=permissions.version, rules=[RuleOut.of(r) for r in rules])


@post(
    "/api/v1/policy/rules",
    tags=_TAGS,
    summary="Add a line",
    status_code=201,
    exception_handlers=_ERRORS,
    responses=_WRITE,
)
async def add_rule(request: Request[Any, Any, Any], data: JSONBody[RuleIn]) -> ChangeOut:
    permissions, subject, workspace = context(request)
    rule = permissions_rule(data)
    refuse_out_of_scope(permissions, subject, workspace, rule.workspace)
    return ChangeOut.of(await permissions.add(rule, actor=subject))


@post(
    "/api/v1/policy/rules/delete",
    tags=_TAGS,
    summary="Remove a line",
    status_code=200,
    exception_handlers=_ERRORS,
    responses=_WRITE,
)
async def remove_rule(request: Request[Any, Any, Any], data: JSONBody[RuleIn]) -> ChangeOut:
    permissions, subject, workspace = context(request)
    rule = permissions_rule(data)
    refuse_out_of_scope(permissions, subject, workspace, rule.workspace)
    return ChangeOut.of(await permissions.remove(rule, actor=subject))


@post(
    "/api/v1/policy/check",
    tags=_TAGS,
    summary="May someone do something here? Says which rule decided",
    status_code=200,
    exception_handlers=_ERRORS,
    responses=_BAD,
    opt={"action": "read"},  # asking changes nothing: readers may ask
)
async def check(request: Request[Any, Any, Any], data: JSONBody[CheckIn]) -> DecisionOut:
    permissions, _, workspace = context(request)
    subject = check_value("g", "subject", data.subject)
    obj = data.object.strip()
    if not obj:
        raise PolicyError("object", "must not be empty")
    action = check_value("p", "action", data.action)
    return DecisionOut.of(permissions.explain(subject, workspace, obj, action))


@get(
    "/api/v1/policy/history",
    tags=_TAGS,
    summary="Changes to this workspace and to every workspace, newest first",
    exception_handlers=_ERRORS,
    responses=_BAD,
)
async def history(
    request: Request[Any, Any, Any],
    limit: Annotated[int, Parameter(ge=1, le=1000, description="How many changes.")] = 100,
) -> list[ChangeOut]:
    permissions, _, workspace = context(request)
    return [ChangeOut.of(c) for c in await permissions.history(workspace, limit)]


@post(
    "/api/v1/policy/history/{change_id:int}/revert",
    tags=_TAGS,
    summary="Undo a change (recorded as a new change)",
    status_code=200,
    exception_handlers=_ERRORS,
    responses=_WRITE,
)
async def revert(request: Request[Any, Any, Any], change_id: FromPath[int]) -> ChangeOut:
    permissions, subject, workspace = context(request)
    change = await revert_in_scope(permissions, subject, workspace, change_id)
    return ChangeOut.of(change)


def permissions_rule(data: RuleIn) -> Rule:
    """The body as a validated rule (PolicyError names the field)."""
    from core.policy_rules import validate_rule

    return validate_rule(Rule(data.ptype, tuple(data.values)))


async def revert_in_scope(permissions: Permissions, subject: str, workspace: str, change_id: int) -> Change:
    """Revert a change of this workspace (or of every workspace, for those who may)."""
    found = await permissions.change(change_id)
    if found is None:
        raise PolicyError("change_id", f"there is no change {change_id}")
    refuse_out_of_scope(permissions, subject, workspace, found.workspace)
    return await permissions.revert(change_id, actor=subject)


HANDLERS = (list_rules, add_rule, remove_rule, check, history, revert)
