"""The kernel's fast path: public raw ASGI endpoints marked ``fast_path`` are called ahead of
Litestar's middleware, still see the app, fail as a clean 500, and never skip the guard."""

from __future__ import annotations

from typing import Any

from litestar import asgi

from core.configurator import Configurator

FAST = {"exclude_from_csrf": True, "skip_session": True, "fast_path": True}


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


@asgi("/fast/hello", is_mount=False, copy_scope=False, opt=FAST)
async def hello(scope: Any, receive: Any, send: Any) -> None:
    registry = scope["app"].state.registry  # the app is there, as under Litestar
    routed = "route_handler" in scope  # set by Litestar's router, which the fast path skips
    await _answer(send, 200, f"{len(registry.routes)} routes, routed by Litestar: {routed}".encode())


@asgi("/fast/broken", is_mount=False, copy_scope=False, opt=FAST)
async def broken(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("boom")


@asgi("/fast/private", is_mount=False, copy_scope=False, opt=FAST)
async def private(scope: Any, receive: Any, send: Any) -> None:
    await _answer(send, 200, b"secret")


def plugin(config: Configurator) -> None:
    config.add_route(hello, public=True)
    config.add_route(broken, public=True)
    config.add_route(private)  # not public: the guard decides, so no fast path


def test_fast_endpoints_answer_and_fail_cleanly(client_for: Any) -> None:
    client = client_for([("fast", plugin)], identity=None)
    reply = client.get("/fast/hello")
    assert reply.status_code == 200 and reply.text.endswith(" routes, routed by Litestar: False")
    assert "set-cookie" not in reply.headers  # no session or CSRF middleware ran
    failed = client.get("/fast/broken")
    assert failed.status_code == 500
    assert failed.json() == {"status_code": 500, "detail": "Internal Server Error"}
    assert client.get("/fast/private").status_code == 401  # nobody signed in
