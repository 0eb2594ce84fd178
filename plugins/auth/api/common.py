"""What every management API handler needs: the service, the caller, the workspace the guard
decided on, and auth errors turned into HTTP answers that name the field.

Handlers never decide who may do what: the kernel's guard made the policy decision before
they run. They only check ownership where a path is about "mine" (``/me/keys``) and that a
named resource lies in the current workspace; a resource outside it is reported as not
found, so its existence does not leak across workspaces.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    ValidationException,
)

from plugins.auth.errors import AlreadyExists, AuthError, Conflict, NotFound
from plugins.auth.service import AuthService

__all__ = [
    "ERROR_HANDLERS",
    "Caller",
    "answers_bad_input",
    "caller",
    "current_workspace",
    "now",
    "service",
]


P = ParamSpec("P")
T = TypeVar("T")


class Caller:
    """The signed-in identity as handlers use it: ``email`` (the Casbin subject) and kind."""

    __slots__ = ("display_name", "email", "identity", "key_id", "kind")

    def __init__(self, identity: Any) -> None:
        self.identity = identity
        self.email: str = identity.subject
        self.kind: str = identity.kind
        self.display_name: str = getattr(identity, "display_name", "") or ""
        self.key_id: str | None = getattr(identity, "key_id", None)


def service(request: Request[Any, Any, Any]) -> AuthService:
    svc = request.app.state.registry.state.get("auth.service")
    if svc is None:
        raise HTTPException(status_code=503, detail="auth: the plugin has not started yet")
    return svc


def caller(request: Request[Any, Any, Any]) -> Caller:
    from core.security import identity_of

    identity = identity_of(request)
    if identity is None:  # the guard lets nobody anonymous through; be safe if it did
        raise NotAuthorizedException(detail="sign in or send an API key")
    return Caller(identity)


def current_workspace(request: Request[Any, Any, Any]) -> str:
    """The workspace the guard made its decision for; every handler works in it only."""
    from core.security import workspace_of

    workspace = workspace_of(request)
    if not workspace:
        raise HTTPException(
            status_code=409,
            detail="workspace: you belong to no workspace yet; ask an admin to add you",
        )
    return workspace





def now() -> datetime:
    return datetime.now(UTC)


# -- errors -------------------------------------------------------------------------------


def _status(exc: AuthError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, (AlreadyExists, Conflict)):
        return 409
    return 422


def _auth_error(_: Request[Any, Any, Any], exc: AuthError) -> Response[Any]:
    status = _status(exc)
    return Response(
        {"status_code": status, "detail": str(exc), "field": exc.field}, status_code=status
    )


def answers_bad_input(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Turn an AuthError from the handler into its answer without raising it through
    Litestar, which would log every refused input as a server fault with a traceback."""

    @functools.wraps(fn)
    async def handler(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except AuthError as exc:
            return _auth_error(None, exc)  # type: ignore[arg-type,return-value]

    return handler


_NAMED_FIELD = re.compile(r"field `([^`]+)`")


def _field(key: str) -> str:
    """msgspec's ``$.scopes[1]`` (or Litestar's ``scopes``) as ``scopes[1]``."""
    return key.removeprefix("$.").removeprefix("$")


def _validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Litestar's 400 for a malformed body, with the field named in ``detail``."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    problems = [e for e in extra if isinstance(e, dict)]
    if problems:
        first = problems[0]
        message = str(first.get("message", "invalid value"))
        field = _field(str(first.get("key") or ""))
        at = message.rfind(" - at `")
        if at != -1:  # msgspec: "Expected `int`, got `str` - at `$.ttl_seconds`"
            field = field or _field(message[at + 7 : -1])
            message = message[:at]
        named = _NAMED_FIELD.search(message)
        if field in ("", "data") and named:  # "Object missing required field `role`"
            field = named.group(1)
        detail = f"{field}: {message}" if field else message
    else:
        field, detail = None, exc.detail or "the request body is not valid JSON"
    return Response({"status_code": 400, "detail": detail, "field": field}, status_code=400)


ERROR_HANDLERS: dict[type[Exception], Any] = {
    AuthError: _auth_error,
    ValidationException: _validation_error,
}
