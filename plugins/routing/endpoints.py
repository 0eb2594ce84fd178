"""The AI endpoints, as raw ASGI handlers: Anthropic Messages and OpenAI Chat Completions."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import asgi

from plugins.routing import translate
from plugins.routing.asgi import read_body, request_headers, send_json
from plugins.routing.model import GatewayError
from plugins.routing.tokens import count_request_tokens
from plugins.routing.validation import validate

__all__ = ["ENDPOINTS"]

# Public (keys are checked here, errors in the client's API shape), no session, no CSRF, and
# served through the kernel's fast path ahead of Litestar's middleware (core/fastpath.py).
_UNCHECKED = {"exclude_from_csrf": True, "skip_session": True, "fast_path": True}


def _gateway(scope: dict[str, Any]) -> Any:
    return scope["app"].state.registry.state.get("routing.gateway")


async def _only(method: str, client_api: str, scope: dict[str, Any], send: Any) -> bool:
    if scope["method"] == method:
        return True
    error = GatewayError(405, f"{scope['path']} accepts {method} only", error_type="invalid_request_error")
    body = (translate.anthropic_error(405, error.message, error_type="invalid_request_error")
            if client_api == "anthropic" else translate.openai_error(405, error.message))
    await send_json(send, 405, body, {"allow": method})
    return False


async def _dispatch(client_api: str, scope: dict[str, Any], receive: Any, send: Any) -> None:
    if not await _only("POST", client_api, scope, send):
        return
    gateway = _gateway(scope)
    if gateway is None:
        await send_json(send, 503, translate.anthropic_error(503, "gateway is starting"))
        return
    await gateway.handle(client_api, scope, receive, send)


@asgi("/v1/messages", is_mount=False, copy_scope=False, opt=_UNCHECKED)
async def messages(scope: Any, receive: Any, send: Any) -> None:
    """Anthropic Messages API (what Claude Code and the anthropic SDK call)."""
    await _dispatch("anthropic", scope, receive, send)


@asgi("/v1/chat/completions", is_mount=False, copy_scope=False, opt=_UNCHECKED)
async def chat_completions(scope: Any, receive: Any, send: Any) -> None:
    """OpenAI Chat Completions API (what the openai SDK calls)."""
    await _dispatch("openai", scope, receive, send)


@asgi("/v1/messages/count_tokens", is_mount=False, copy_scope=False, opt=_UNCHECKED)
async def count_tokens(scope: Any, receive: Any, send: Any) -> None:
    """An offline estimate; no tokenizer is downloaded (see plugins/routing/README.md for accuracy)."""
    if not await _only("POST", "anthropic", scope, send):
        return
    gateway = _gateway(scope)
    try:
        principal = gateway.authenticate(request_headers(scope)) if gateway is not None else None
        body = msgspec.json.decode(await read_body(receive))
        if not isinstance(body, dict):
            raise GatewayError(400, "body: expected a JSON object", error_type="invalid_request_error")
        validate("count_tokens", body)
        if principal is not None:
            gateway.authorize(principal, scope["path"], body.get("model"))
    except msgspec.DecodeError as exc:
        await send_json(send, 400, translate.anthropic_error(400, f"body: invalid JSON ({exc})"))
        return
    except GatewayError as exc:
        await send_json(send, exc.status, translate.anthropic_error(exc.status, exc.message, error_type=exc.error_type))
        return
    await send_json(send, 200, {"input_tokens": count_request_tokens(body)})


@asgi("/v1/models", is_mount=False, copy_scope=False, opt=_UNCHECKED)
async def models(scope: Any, receive: Any, send: Any) -> None:
    """Every ``provider,model`` target, in the OpenAI shape, or Anthropic's when its SDK asks."""
    if not await _only("GET", "openai", scope, send):
        return
    gateway = _gateway(scope)
    headers = request_headers(scope)
    try:
        if gateway is not None:
            gateway.authorize(gateway.authenticate(headers), scope["path"])
    except GatewayError as exc:
        await send_json(send, exc.status, translate.openai_error(exc.status, exc.message))
        return
    targets = [] if gateway is None else [
        (name, model) for name, p in gateway.config.providers.items() for model in p.models
    ]
    if "anthropic-version" in headers:
        data = [{"type": "model", "id": f"{p},{m}", "display_name": f"{m} ({p})",
                 "created_at": "1970-01-01T00:00:00Z"} for p, m in targets]
        await send_json(send, 200, {"data": data, "has_more": False,
                                    "first_id": data[0]["id"] if data else None,
                                    "last_id": data[-1]["id"] if data else None})
        return
    await send_json(send, 200, {"object": "list", "data": [
        {"id": f"{p},{m}", "object": "model", "created": 0, "owned_by": p} for p, m in targets]})


ENDPOINTS = (messages, chat_completions, count_tokens, models)
