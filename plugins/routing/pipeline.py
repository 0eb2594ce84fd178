"""One AI request, end to end: auth, validation, hooks, route, forward with fallbacks, usage.

Nothing here touches the database: keys, routes and hooks are in memory, usage
leaves through the event bus without waiting.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec

from core.registry import Registry
from plugins.routing import translate
from plugins.routing.asgi import (
    SSE_HEADERS,
    read_body,
    request_headers,
    send_bytes,
    send_json,
    start_response,
)
from plugins.routing.config import RoutingConfig
from plugins.routing.mock import mock_message, mock_stream
from plugins.routing.model import GatewayError, GatewayRequest, Principal, UsageEvent
from plugins.routing.passthrough import AnthropicPassthrough, Chain, OpenAIPassthrough
from plugins.routing.rules import Decision, choose, session_id, split_target
from plugins.routing.sessions import session_store
from plugins.routing.tokens import count_request_tokens
from plugins.routing.transformers import options_for, transform_body
from plugins.routing.upstream import Provider, UpstreamClient, UpstreamUnavailable
from plugins.routing.validation import validate

__all__ = ["Gateway"]

log = logging.getLogger("switchyard.routing")
_ENCODE = msgspec.json.encode
_DECODE = msgspec.json.decode
_FORWARDED_ANTHROPIC_HEADERS = ("anthropic-version", "anthropic-beta")
KEY_VERIFIER = "auth.api_keys"  # the interface the auth plugin provides


class Gateway:
    """The routing plugin's runtime: configuration, providers, upstream client and hooks."""

    def __init__(self, registry: Registry, config: RoutingConfig) -> None:
        self.registry = registry
        self.config = config
        self.providers = {name: Provider(cfg) for name, cfg in config.providers.items()}
        self.client = UpstreamClient(timeout_ms=config.timeout_ms, retries=config.retries, proxy_url=config.proxy_url)
        self.sessions = session_store(registry.settings.redis.url)
        hooks = registry.hooks
        self._on_request = hooks.callables("on_request")
        self._route = hooks.callables("route")
        self._on_response = hooks.callables("on_response")
        self._on_stream_event = hooks.callables("on_stream_event")

    # -- entry points ---------------------------------------------------------------------

    async def handle(self, client_api: str, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = time.monotonic()
        request_id = uuid.uuid4().hex
        req: GatewayRequest | None = None
        try:
            headers = request_headers(scope)
            principal = self.authenticate(headers)
            body = _decode(await read_body(receive))
            validate(client_api, body)
            self.authorize(principal, scope["path"], body.get("model"))
            req = GatewayRequest(
                client_api=client_api,  # type: ignore[arg-type]
                path=scope["path"],
                body=body,
                headers=headers,
                principal=principal,
                request_id=request_id,
                started=started,
                session_id=session_id(body),
                stream=bool(body.get("stream")),
            )
            req._count_tokens = lambda: count_request_tokens(req.body)  # until decide() knows more
            for hook in self._on_request:
                await _maybe_await(hook(request=req))
            await self.forward(req, await self.decide(req), send)
        except translate.TranslationError as exc:
            await self._refuse(client_api, send, req, request_id, GatewayError(
                400, str(exc), param=exc.param, error_type="invalid_request_error"))
        except GatewayError as exc:
            await self._refuse(client_api, send, req, request_id, exc)

    async def _refuse(self, client_api: str, send: Any, req: GatewayRequest | None, request_id: str,
                      exc: GatewayError) -> None:
        await send_json(send, exc.status, _error_body(client_api, exc), {**exc.headers, "x-request-id": request_id})
        if req is not None:
            self._usage(req, status=exc.status, usage={}, ttft=None, error=exc.message)

    def authenticate(self, headers: dict[str, str]) -> Principal:
        """The config's APIKEY, or a key the auth plugin knows; open only when neither is set."""
        key = headers.get("x-api-key") or ""
        if not key and headers.get("authorization", "").lower().startswith("bearer "):
            key = headers["authorization"][7:].strip()
        configured = self.config.api_key
        if configured and key and hmac.compare_digest(key.encode(), configured.encode()):
            return Principal(key_id="config")
        verifier = self.registry.get_interface(KEY_VERIFIER)
        if verifier is not None and key:
            principal = verifier.verify(key)
            if principal is not None:
                return principal
        if not configured and verifier is None and self._key_plugin_failed():
            raise GatewayError(
                503, "API keys cannot be checked: a plugin that provides them failed to load "
                "(see /ui/plugins or `switchyard plugins`)", error_type="api_error",
            )
        if not configured and (verifier is None or not getattr(verifier, "required", True)):
            return Principal()
        raise GatewayError(401, "invalid x-api-key" if key else "missing API key: send x-api-key or Authorization: Bearer")

    def _key_plugin_failed(self) -> bool:
        """Fail closed: with no verifier because the plugin that provides ``auth.api_keys``
        (the ``auth`` plugin: interfaces are named after their plugin) failed to load, a typo
        in its settings must not turn the gateway into the open, keyless default."""
        report = self.registry.plugins.get(KEY_VERIFIER.split(".", 1)[0])
        return report is not None and report.status == "failed"

    def authorize(self, principal: Principal, path: str, model: Any = None) -> None:
        """A user's key must be allowed ``use`` on the path by the workspace's policy, and
        by the key's own scopes (endpoints and models) when it has any: 403 otherwise."""
        if principal.user and principal.workspace:
            permissions = self.registry.get_interface("permissions")
            if permissions is not None and not permissions.enforce(
                principal.user, principal.workspace, path, "use"
            ):
                raise GatewayError(
                    403, f"{principal.user} may not use {path} in workspace {principal.workspace!r}",
                    error_type="permission_error",
                )
        if principal.scopes:
            verifier = self.registry.get_interface(KEY_VERIFIER)
            allows = getattr(verifier, "allows", None)
            name = model if isinstance(model, str) else None
            if allows is None or not allows(principal, path, name):
                what = f"{path} with model {name!r}" if name else path
                raise GatewayError(
                    403, f"this API key's scopes do not allow {what}", error_type="permission_error"
                )

    async def decide(self, req: GatewayRequest) -> Decision:
        """Route hooks first, then the rules. Work the rules do not need is skipped: tokens
        are counted only when long-context routing or a hook reads ``req.token_estimate``,
        and an OpenAI body is translated only when a content rule is configured."""
        router = self.config.router
        content_rules = any((router.long_context, router.background, router.think, router.web_search, router.image))
        canonical = req.body
        if req.client_api == "openai" and content_rules:
            canonical = self._anthropic_body(req, str(req.body.get("model", "")))
        req._count_tokens = lambda: count_request_tokens(canonical)
        for hook in self._route:
            chosen = await _maybe_await(hook(request=req))
            if chosen is not None:
                return chosen if isinstance(chosen, Decision) else Decision("plugin", *split_target(str(chosen)))
        model = req.body.get("model")
        if isinstance(model, str) and "," in model and model.split(",", 1)[0] not in self.providers:
            raise GatewayError(400, f"model: unknown provider {model.split(',', 1)[0]!r} in {model!r}",
                               param="model", error_type="invalid_request_error")
        previous = await self.sessions.get(req.session_id) if router.long_context else 0
        return choose(canonical, req.token_estimate if router.long_context else 0, self.config, previous)

    async def forward(self, req: GatewayRequest, decision: Decision, send: Any) -> None:
        """Try the decision, then the scenario's fallbacks, until one answers."""
        targets = [(decision.provider, decision.model)]
        targets += [split_target(t) for t in self.config.fallback.get(decision.scenario, [])]
        failure: UpstreamUnavailable | None = None
        for number, (provider, model) in enumerate(targets):
            if provider not in self.providers:
                continue
            req.scenario = decision.scenario if number == 0 else f"{decision.scenario}:fallback{number}"
            req.provider, req.model = provider, model
            if self.config.log_decisions or log.isEnabledFor(logging.DEBUG):
                log.info("route %s %s -> %s,%s", req.request_id, req.scenario, provider, model)
            try:
                await self._attempt(req, self.providers[provider], model, send)
                return
            except UpstreamUnavailable as exc:
                log.warning("provider %s failed for %s: %s", provider, req.request_id, exc)
                failure = exc
        assert failure is not None
        raise GatewayError(
            503 if failure.status in (429, 503, 529) else 502,
            f"every provider for scenario {decision.scenario!r} failed; last: {failure}",
            headers={"retry-after": str(int(failure.retry_after))} if failure.retry_after else None,
        )

    # -- one provider ---------------------------------------------------------------------

    async def _attempt(self, req: GatewayRequest, provider: Provider, model: str, send: Any) -> None:
        api = provider.config.api
        if api == "mock":
            await self._answer_from_mock(req, model, send)
            return
        url, body, headers = self._upstream_request(req, provider, model)
        reply = await self.client.post(provider, url, _ENCODE(body), headers)
        if reply.status >= 400:
            raw = await reply.read()
            raise GatewayError(reply.status, translate.error_message_from_upstream(reply.status, raw))
        if req.stream:
            await self._stream(req, reply.chunks(), self._stream_converter(req, api, model), send)
            return
        answer, usage = _to_client(req.client_api, api, _decode(await reply.read()), model)
        await self._finish_json(req, answer, usage, send)

    def _upstream_request(
        self, req: GatewayRequest, provider: Provider, model: str
    ) -> tuple[str, dict[str, Any], dict[str, str]]:
        """(url, body, headers) in the provider's API, translated only when the APIs differ."""
        api, url = provider.config.api, provider.config.base_url
        headers = {"content-type": "application/json", "accept": "text/event-stream" if req.stream else "application/json"}
        if api == "anthropic":
            headers["anthropic-version"] = req.headers.get("anthropic-version", "2023-06-01")
            if "anthropic-beta" in req.headers:
                headers["anthropic-beta"] = req.headers["anthropic-beta"]
            body = self._anthropic_body(req, model)
            if req.client_api == "anthropic":
                body = translate.drop_unsigned_thinking(body)
            return url, body, headers
        if api == "gemini":
            suffix, body = translate.anthropic_request_to_gemini(self._anthropic_body(req, model), model=model)
            return _gemini_url(url, suffix), body, headers
        if req.client_api == "openai":
            body = dict(req.body, model=model)
            if req.stream:
                body.setdefault("stream_options", {"include_usage": True})
        else:
            options = options_for(provider.config, model)
            body = translate.anthropic_request_to_openai(req.body, model=model, options=options)
        return url, transform_body(provider.config, model, body), headers

    def _stream_converter(self, req: GatewayRequest, api: str, model: str) -> Any:
        include_usage = bool((req.body.get("stream_options") or {}).get("include_usage"))
        if req.client_api == api:
            return AnthropicPassthrough() if api == "anthropic" else OpenAIPassthrough()
        if api == "openai":
            return translate.OpenAIToAnthropicStream(model=model, input_tokens_estimate=req.counted_tokens)
        if api == "gemini":
            gemini = translate.GeminiToAnthropicStream(model=model, input_tokens_estimate=req.counted_tokens)
            if req.client_api == "anthropic":
                return gemini
            return Chain(gemini, translate.AnthropicToOpenAIStream(model=model, include_usage=include_usage))
        return translate.AnthropicToOpenAIStream(model=model, include_usage=include_usage)

    def _anthropic_body(self, req: GatewayRequest, model: str) -> dict[str, Any]:
        """The request in Anthropic's shape for ``model``: an OpenAI body is translated once per
        request (routing rules, fallbacks and the upstream call all reuse it)."""
        if req.client_api == "anthropic":
            return dict(req.body, model=model)
        translated = req.state.get("anthropic_body")
        if translated is None:
            translated = req.state["anthropic_body"] = translate.openai_request_to_anthropic(req.body, model=model)
        return dict(translated, model=model)

    async def _answer_from_mock(self, req: GatewayRequest, model: str, send: Any) -> None:
        """The mock speaks Anthropic: the same conversions as an Anthropic upstream, in process."""
        canonical = self._anthropic_body(req, model)
        if req.stream:
            converter = self._stream_converter(req, "anthropic", model)
            await self._stream(req, _aiter(mock_stream(canonical, model)), converter, send)
            return
        answer, usage = _to_client(req.client_api, "anthropic", mock_message(canonical, model), model)
        await self._finish_json(req, answer, usage, send)

    # -- replies --------------------------------------------------------------------------

    def _route_headers(self, req: GatewayRequest) -> dict[str, str]:
        return {
            "x-switchyard-route": f"scenario={req.scenario}; provider={req.provider}; model={req.model}",
            "x-request-id": req.request_id,
        }

    async def _finish_json(self, req: GatewayRequest, answer: dict[str, Any], usage: dict[str, int], send: Any) -> None:
        for hook in self._on_response:
            await _maybe_await(hook(request=req, response=answer))
        await send_json(send, 200, answer, self._route_headers(req))
        self._usage(req, status=200, usage=usage, ttft=None)

    async def _stream(self, req: GatewayRequest, chunks: AsyncIterator[bytes], converter: Any, send: Any) -> None:
        """Forward chunk by chunk: everything translated from one upstream read goes in one write."""
        await start_response(send, 200, SSE_HEADERS, self._route_headers(req))
        ttft: float | None = None
        try:
            first = await self._first_chunk(chunks, converter, send)
            async for chunk in _prepend(first, chunks):
                out = converter.feed(chunk)
                for hook in self._on_stream_event:
                    changed = await _maybe_await(hook(request=req, data=out))
                    out = changed if isinstance(changed, bytes) else out
                if out:
                    if ttft is None:
                        ttft = (time.monotonic() - req.started) * 1000
                    await send_bytes(send, out, more=True)
        except (OSError, TimeoutError) as exc:
            log.warning("upstream stream %s broke: %s", req.request_id, exc)
        tail = converter.close()
        await send_bytes(send, tail, more=False)
        self._usage(req, status=200 if converter.finished else 502, usage=converter.usage, ttft=ttft,
                    error=None if converter.finished else "stream ended unexpectedly")

    async def _first_chunk(self, chunks: AsyncIterator[bytes], converter: Any, send: Any) -> bytes | None:
        """Wait for the upstream's first bytes, sending the client a ping every interval meanwhile
        (thinking models can be silent for a long time; proxies drop idle connections)."""
        pending = asyncio.ensure_future(anext(chunks, None))
        while True:
            done, _ = await asyncio.wait({pending}, timeout=self.config.ping_interval_ms / 1000)
            if done:
                return pending.result()
            ping = converter.ping()
            if ping:
                await send_bytes(send, ping, more=True)

    def _usage(self, req: GatewayRequest, *, status: int, usage: dict[str, Any], ttft: float | None,
               error: str | None = None) -> None:
        input_tokens = int(usage.get("input_tokens") or usage.get("prompt_tokens") or 0)
        if status == 200 and not input_tokens:  # the provider reported none: estimate
            input_tokens = req.token_estimate or count_request_tokens(req.body)
        if status == 200:
            self.sessions.record(req.session_id, input_tokens or req.counted_tokens)
        event = UsageEvent(
            request_id=req.request_id, workspace=req.principal.workspace, key_id=req.principal.key_id,
            user=req.principal.user, client_api=req.client_api, scenario=req.scenario or "none",
            provider=req.provider or "none", model=req.model or "none",
            requested_model=str(req.body.get("model", "")), input_tokens=input_tokens,
            output_tokens=int(usage.get("output_tokens") or usage.get("completion_tokens") or 0),
            cache_read_tokens=int(usage.get("cache_read_input_tokens") or 0),
            cache_creation_tokens=int(usage.get("cache_creation_input_tokens") or 0),
            latency_ms=(time.monotonic() - req.started) * 1000, ttft_ms=ttft, status=status,
            stream=req.stream, error=error, session_id=req.session_id,
        )
        try:
            self.registry.events.publish_nowait(event)
        except RuntimeError:
            log.debug("event bus not started; usage of %s not published", req.request_id)


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        body = _DECODE(raw)
    except msgspec.DecodeError as exc:
        raise GatewayError(400, f"body: invalid JSON ({exc})", error_type="invalid_request_error") from None
    if not isinstance(body, dict):
        raise GatewayError(400, "body: expected a JSON object", error_type="invalid_request_error")
    return body


def _gemini_url(base: str, suffix: str) -> str:
    """Gemini's base may be given as .../v1beta or .../v1beta/models/ (claude-code-router's form)."""
    base = base.rstrip("/")
    base = base.removesuffix("/models")
    return f"{base}/{suffix}"


def _to_client(client_api: str, api: str, answer: dict[str, Any], model: str) -> tuple[dict[str, Any], dict[str, int]]:
    """A provider's non-streamed answer in the client's API, and its usage."""
    if api == "gemini":
        answer, api = translate.gemini_response_to_anthropic(answer, model=model), "anthropic"
    usage = _usage_of(answer)
    if client_api == api:
        return answer, usage
    if api == "openai":
        return translate.openai_response_to_anthropic(answer, model=model), usage
    return translate.anthropic_response_to_openai(answer, model=model), usage


def _usage_of(answer: dict[str, Any]) -> dict[str, int]:
    usage = answer.get("usage") or {}
    if "prompt_tokens" in usage:
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        return {"input_tokens": usage["prompt_tokens"] - cached, "output_tokens": usage.get("completion_tokens", 0),
                "cache_read_input_tokens": cached}
    return usage


def _error_body(client_api: str, exc: GatewayError) -> dict[str, Any]:
    if client_api == "anthropic":
        return translate.anthropic_error(exc.status, exc.message, error_type=exc.error_type)
    return translate.openai_error(exc.status, exc.message, error_type=exc.error_type, param=exc.param)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _prepend(first: bytes | None, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first is None:
        return
    yield first
    async for chunk in rest:
        yield chunk


async def _aiter(items: Iterator[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item
