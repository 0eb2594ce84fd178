"""A front door for the few endpoints that carry the traffic.

Litestar runs every request through its exception, CSRF and session middleware and its
router before a handler sees it. For raw ASGI endpoints that authenticate themselves, answer
in their own API's error shapes and use neither sessions nor CSRF (the AI endpoints), that
work does nothing, and profiling put it at ~13% of the gateway's CPU per request
(benchmarks/RESULTS.md). A public ``@asgi`` handler whose ``opt`` says ``fast_path=True`` is
called straight from here for its exact paths; everything else, and these paths too when the
method or anything else is unusual, goes through Litestar as before. The handlers stay
registered with Litestar too, so the schema, the route walk and ``/ui/plugins`` see them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from litestar import Litestar
from litestar.handlers.asgi_handlers import ASGIRouteHandler

__all__ = ["install_fast_paths"]

log = logging.getLogger("switchyard")
_FAILED = b'{"status_code":500,"detail":"Internal Server Error"}'


def install_fast_paths(app: Litestar, handlers: Sequence[Any], is_public: Callable[[str], bool]) -> int:
    """Put the marked public ASGI handlers in front of Litestar's stack; returns how many paths."""
    endpoints = {
        path: handler.fn
        for handler in handlers
        if isinstance(handler, ASGIRouteHandler) and handler.opt.get("fast_path")
        for path in handler.paths
        if is_public(path)
    }
    if endpoints:
        app.asgi_handler = _FrontDoor(app.asgi_handler, endpoints)
    return len(endpoints)


class _FrontDoor:
    __slots__ = ("_endpoints", "_rest")

    def __init__(self, rest: Any, endpoints: dict[str, Any]) -> None:
        self._rest = rest
        self._endpoints = endpoints

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        endpoint = self._endpoints.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None:
            await self._rest(scope, receive, send)
            return
        try:
            await endpoint(scope, receive, send)
        except Exception:  # what Litestar's exception middleware would have done
            log.exception("unhandled error in %s %s", scope.get("method"), scope["path"])
            try:
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": _FAILED})
            except Exception:  # noqa: BLE001 - the response had started; the server closes it
                log.debug("could not send the 500: the response had started")
