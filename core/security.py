"""Who is asking, and may they: ``Identity``, workspace resolution and the app-wide guard.

The kernel knows nothing about users: the ``identify`` hook (the auth plugin) says who sent a
request, the permissions service (core.permissions) decides. The guard follows
docs/security.md in order: public list, identify, self-service paths, policy decision.

Why a Litestar guard on a router rather than a middleware: guards run after routing, so the
route's ``opt["action"]`` and path template are known, and inside Litestar's exception
handling, so a refusal renders like any other error (HTML on pages, JSON elsewhere). Handlers
whose every path is public are registered outside that router and pay nothing, which keeps
the AI endpoints (``/v1/*``) off the guard entirely. Static files are their own routers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from litestar import Router
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ServiceUnavailableException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.csrf import CSRFMiddleware as _LitestarCSRFMiddleware
from litestar.types import Receive, Scope, Send

from core.permissions import Permissions
from core.policy_rules import PolicyError, check_value

if TYPE_CHECKING:
    from core.configurator import Configurator
    from core.registry import Registry

__all__ = [
    "SIGN_IN_PATH",
    "WORKSPACE_HEADER",
    "AccessRules",
    "CSRFMiddleware",
    "Identity",
    "SignInRequired",
    "guard",
    "guarded_handlers",
    "identify",
    "identity_of",
    "includeme",
    "workspace_of",
]

SIGN_IN_PATH = "/ui/sign-in"
WORKSPACE_HEADER = "x-switchyard-workspace"
NOT_SIGNED_IN = "sign in or send an API key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_IDENTITY = "identity"
_WORKSPACE = "workspace"
_IDENTIFIED = "identity_checked"
_PARAM_TYPE = re.compile(r"\{([^}:]+):[^}]*\}")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who sent a request, as the ``identify`` hook found out."""

    subject: str  # the Casbin subject: the user's email, lower-case
    kind: str  # "session" or "api_key"
    user_id: int | None = None
    display_name: str = ""
    workspace: str | None = None  # an API key is bound to its workspace; sessions: None
    key_id: str | None = None  # API key prefix
    scopes: tuple[str, ...] = ()


class SignInRequired(NotAuthorizedException):
    """Nobody is signed in on a page: the app turns this into a redirect to the sign-in page."""

    def __init__(self, location: str) -> None:
        super().__init__(detail=NOT_SIGNED_IN)
        self.location = location


def _state(connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
    return connection.scope.setdefault("state", {})  # type: ignore[typeddict-item]


def identity_of(request: ASGIConnection[Any, Any, Any, Any]) -> Identity | None:
    """The identity the guard found for this request (None on public routes or anonymous)."""
    return _state(request).get(_IDENTITY)


def workspace_of(request: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The workspace the guard decided this request acts in."""
    return _state(request).get(_WORKSPACE)


async def identify(request: ASGIConnection[Any, Any, Any, Any]) -> Identity | None:
    """Ask the ``identify`` hook once per request; public pages may call it themselves."""
    state = _state(request)
    if not state.get(_IDENTIFIED):
        registry: Registry = request.app.state.registry
        found = await registry.hooks.acall("identify", request=request)
        state[_IDENTITY] = found[0] if found else None
        state[_IDENTIFIED] = True
    return state.get(_IDENTITY)


def normalize_path(path: str) -> str:
    """Compare route templates as Litestar does: no ``:type`` in parameters, no trailing /."""
    path = _PARAM_TYPE.sub(r"{\1}", path)
    return path.rstrip("/") or "/"


@dataclass(frozen=True, slots=True)
class AccessRules:
    """The public list and the self-service list of one app, ready for fast look-ups.

    A public entry is matched exactly, against the request path or its route template. An
    entry added with ``add_public_path`` that ends with ``/`` and is not itself a route
    covers everything below it (``/static/web/``); a route at ``/`` stays exact.
    """

    exact: frozenset[str]
    prefixes: tuple[str, ...]
    signed_in: frozenset[tuple[str, str]]

    @classmethod
    def from_registry(cls, registry: Registry) -> AccessRules:
        routes = {p for r in registry.routes for p in r.paths} | {v.path for v in registry.views}
        prefixes = tuple(sorted(p for p in registry.public_paths if p.endswith("/") and p not in routes))
        return cls(
            exact=frozenset(normalize_path(p) for p in registry.public_paths),
            prefixes=prefixes,
            signed_in=frozenset((m.upper(), normalize_path(p)) for m, p in registry.signed_in_paths),
        )

    def is_public(self, path: str, template: str | None = None) -> bool:
        if normalize_path(path) in self.exact or path.startswith(self.prefixes):
            return True
        return template is not None and normalize_path(template) in self.exact

    def is_signed_in(self, method: str, template: str) -> bool:
        template = normalize_path(template)
        return (method, template) in self.signed_in or ("*", template) in self.signed_in

    def all_public(self, paths: Iterable[str]) -> bool:
        paths = list(paths)
        return bool(paths) and all(self.is_public(p, p) for p in paths)


def _request_path(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> str:
    """The path as asked; routing leaves only the rest of it in scope for a mounted app."""
    path: str = connection.scope["path"]
    raw = connection.scope.get("raw_path")
    if getattr(handler, "is_mount", False) and isinstance(raw, bytes):
        path = unquote(raw.decode("latin-1").split("?", 1)[0])
    return path


def _sign_in_error(connection: ASGIConnection[Any, Any, Any, Any], method: str) -> HTTPException:
    path = connection.scope["path"]
    if not path.startswith("/ui") or method not in ("GET", "HEAD"):
        return NotAuthorizedException(detail=NOT_SIGNED_IN)
    raw = connection.scope.get("raw_path")  # as asked: routing dropped a trailing slash
    if isinstance(raw, bytes):
        path = unquote(raw.decode("latin-1").split("?", 1)[0])  # some clients send the query too
    query = connection.scope.get("query_string", b"").decode("latin-1")
    target = path + (f"?{unquote(query)}" if query else "")
    current = urlsplit(connection.headers.get("hx-current-url") or "")
    if connection.headers.get("hx-request") and current.path.startswith("/ui"):
        # a fragment: come back to the page it was part of (htmx sends the full URL)
        target = current.path + (f"?{current.query}" if current.query else "")
    return SignInRequired(f"{SIGN_IN_PATH}?next={quote(target, safe='/')}")


def _asked_workspace(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    asked = connection.query_params.get("workspace") or connection.headers.get(WORKSPACE_HEADER)
    if asked is None:
        return None
    try:
        return check_value("g", "workspace", asked)
    except PolicyError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None


def resolve_workspace(
    connection: ASGIConnection[Any, Any, Any, Any], identity: Identity, permissions: Permissions | None
) -> str | None:
    """The workspace a request acts in: query, header, session choice, the key's own, first held."""
    chosen = _asked_workspace(connection)
    held = permissions.workspaces_for(identity.subject) if permissions is not None else []
    if chosen is None and identity.kind == "session":
        session = connection.scope.get("session")
        remembered = session.get("workspace") if isinstance(session, dict) else None
        if isinstance(remembered, str) and remembered in held:
            chosen = remembered
    if chosen is None:
        chosen = identity.workspace or (held[0] if held else None)
    if identity.workspace is not None and chosen != identity.workspace:
        raise PermissionDeniedException(
            detail=f"this API key belongs to workspace {identity.workspace!r}, not {chosen!r}"
        )
    return chosen


@functools.lru_cache(maxsize=1024)
def _scope_regex(pattern: str) -> re.Pattern[str]:
    """keyMatch2's shape (``*`` anything, ``:name`` one segment) with every other character
    literal, as the auth plugin reads scopes: a pattern never means more than it reads."""
    parts = re.split(r"(\*|:[A-Za-z_][A-Za-z0-9_]*)", pattern)
    regex = "".join(
        ".*" if part == "*" else "[^/]+" if part.startswith(":") else re.escape(part) for part in parts
    )
    return re.compile(regex)


def may_open(request: ASGIConnection[Any, Any, Any, Any], path: str) -> bool:
    """Whether a GET of ``path`` would pass the guard for this request's identity and
    workspace: the UI hides links that would only answer 403. The guard stays the check."""
    registry: Registry = request.app.state.registry
    rules: AccessRules | None = registry.state.get("security.access")
    path = urlsplit(path).path or "/"
    if rules is None or rules.is_public(path, path):
        return True
    identity = identity_of(request)
    if identity is None:
        return False
    refusal = _refusal(rules, registry.permissions, identity, workspace_of(request), "GET", path, path, "read")
    return refusal is None


def _refusal(
    rules: AccessRules,
    permissions: Permissions | None,
    identity: Identity,
    workspace: str | None,
    method: str,
    path: str,
    template: str,
    action: str,
) -> HTTPException | None:
    """The guard's decision once it knows who asks and where (None: allowed). One function,
    so the nav's "may open" answers exactly as the guard does."""
    scoped = [scope for scope in identity.scopes if scope.startswith("/")]
    if scoped and not any(_scope_regex(pattern).fullmatch(path) for pattern in scoped):
        # An API key limited to some paths reaches only those, on every route: a key scoped
        # to /v1/* cannot mint itself an unlimited key through /api/v1/me/keys. Other scope
        # kinds (model:...) belong to the plugins that define them.
        return PermissionDeniedException(detail=f"this API key's scopes do not allow {path}")
    if rules.is_signed_in(method, template):
        return None
    if permissions is None or not permissions.loaded:
        return ServiceUnavailableException(
            detail="permissions are not loaded from the database (run `switchyard db upgrade`)"
        )
    if workspace is None:
        return PermissionDeniedException(detail=f"{identity.subject} holds no role in any workspace")
    if not permissions.enforce(identity.subject, workspace, path, action):
        return PermissionDeniedException(
            detail=f"{identity.subject} may not {action} {path} in workspace {workspace!r}"
        )
    return None


async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The app-wide policy check (docs/security.md, "The guard")."""
    registry: Registry = connection.app.state.registry
    rules: AccessRules = registry.state["security.access"]
    path = _request_path(connection, handler)
    template = connection.scope.get("path_template") or path
    if rules.is_public(path, template):
        return
    method = connection.scope.get("method", "GET")
    identity = await identify(connection)
    if identity is None:
        raise _sign_in_error(connection, method)
    permissions = registry.permissions
    workspace = resolve_workspace(connection, identity, permissions)
    _state(connection)[_WORKSPACE] = workspace
    action = handler.opt.get("action") or ("read" if method in SAFE_METHODS else "write")
    refusal = _refusal(rules, permissions, identity, workspace, method, path, template, action)
    if refusal is not None:
        raise refusal


class CSRFMiddleware(_LitestarCSRFMiddleware):
    """Double-submit CSRF for browsers; requests that carry an API key are exempt.

    A cross-site page cannot make a browser send ``x-api-key`` or ``Authorization: Bearer``
    without a CORS preflight, which Switchyard never grants, so such a request is no forgery
    and API clients need no CSRF cookie. Basic credentials are not exempt: browsers attach
    those on their own.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-api-key" or (name == b"authorization" and value[:7].lower() == b"bearer "):
                    await self.app(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


def guarded_handlers(registry: Registry, handlers: Sequence[Any]) -> list[Any]:
    """Public handlers as they are, every other one behind the guard on one router."""
    rules = AccessRules.from_registry(registry)
    registry.state["security.access"] = rules
    public = [h for h in handlers if rules.all_public(getattr(h, "paths", ()) or ())]
    guarded = [h for h in handlers if not any(h is p for p in public)]
    if not guarded:
        return public
    return [*public, Router(path="/", route_handlers=guarded, guards=[guard])]


def includeme(config: Configurator) -> None:
    """The kernel's share: the permissions service, its polling job, its readiness."""
    permissions = Permissions()
    config.action(None, lambda: setattr(config.registry, "permissions", permissions))
    config.provide("permissions", permissions)
    config.add_job(
        permissions.refresh_quietly,
        "interval",
        id="core.policy_refresh",
        seconds=config.settings.security.policy_refresh_seconds,
    )

    def ready(registry: Registry, **_: Any) -> str | None:
        if not permissions.loaded:
            return "permissions: the policy is not loaded (run `switchyard db upgrade`)"
        return None

    config.add_hook("ready_check", ready, name="core.permissions_ready")
