"""Provider quirks as small named transformers, chosen per provider and per model in the config.

Names follow claude-code-router's where they exist. Each adjusts the translation
options and/or the OpenAI-shaped body just before it is sent. A name that is not
known here is refused at start (never silently ignored).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from plugins.routing.config import CcrConfigError, ProviderConfig
from plugins.routing.translate import TranslateOptions

__all__ = ["KNOWN", "Transformer", "check_names", "options_for", "transform_body"]

Body = dict[str, Any]


class Transformer(msgspec.Struct, frozen=True):
    name: str
    doc: str
    options: dict[str, Any] = {}
    body: Callable[[Body, dict[str, Any]], None] | None = None  # (body, this transformer's options)


def _strip_cache_control(value: Any, options: dict[str, Any] | None = None) -> None:
    if isinstance(value, dict):
        value.pop("cache_control", None)
        for item in value.values():
            _strip_cache_control(item)
    elif isinstance(value, list):
        for item in value:
            _strip_cache_control(item)


def _cap_max_tokens(default: int) -> Callable[[Body, dict[str, Any]], None]:
    """Cap max_tokens at the transformer's ``max_tokens`` option (claude-code-router's form)."""

    def cap(body: Body, options: dict[str, Any]) -> None:
        limit = int(options.get("max_tokens", default))
        for key in ("max_tokens", "max_completion_tokens"):
            if isinstance(body.get(key), int) and body[key] > limit:
                body[key] = limit

    return cap


def _groq(body: Body, options: dict[str, Any]) -> None:
    _strip_cache_control(body)
    for tool in body.get("tools") or []:
        (tool.get("function") or {}).get("parameters", {}).pop("$schema", None)


def _tool_use(body: Body, options: dict[str, Any]) -> None:
    if body.get("tools") and "tool_choice" not in body:
        body["tool_choice"] = "required"


def _drop_reasoning_history(body: Body, options: dict[str, Any]) -> None:
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            message.pop("reasoning_content", None)


KNOWN: dict[str, Transformer] = {t.name: t for t in (
    Transformer("anthropic", "the provider speaks the Anthropic API (pass-through)"),
    Transformer("openai", "the provider speaks OpenAI Chat Completions (the default)"),
    Transformer("gemini", "the provider speaks Gemini's native API"),
    Transformer("deepseek", "DeepSeek: max_tokens capped at 8192, reasoning_content carried back",
                {"reasoning": True}, _cap_max_tokens(8192)),
    Transformer("openrouter", "OpenRouter: keep cache_control on content parts", {"cache_control": True}),
    Transformer("groq", "Groq: no cache_control, no $schema in tool parameters", {}, _groq),
    Transformer("cleancache", "remove every cache_control marker", {"cache_control": False}, _strip_cache_control),
    Transformer("tooluse", "force a tool call when tools are offered and no tool_choice is set", {}, _tool_use),
    Transformer("reasoning", "send thinking as reasoning_effort", {"reasoning": True}),
    Transformer("noreasoning", "never send reasoning fields or reasoning history",
                {"reasoning": False}, _drop_reasoning_history),
    Transformer("maxcompletiontokens", "use max_completion_tokens (OpenAI reasoning models)",
                {"max_tokens_field": "max_completion_tokens"}),
    Transformer("maxtoken", "cap max_tokens at the option max_tokens (default 8192)",
                {}, _cap_max_tokens(8192)),
    Transformer("streamoptions", "ask for usage in streams (on by default)", {"stream_usage": True}),
    Transformer("enhancetool", "tolerate malformed tool-call arguments (always on)"),
    Transformer("sampling", "keep sampling parameters (always on)"),
)}


def _names(provider: ProviderConfig, model: str) -> list[str]:
    return [n.lower() for n in (*provider.transformers, *provider.model_transformers.get(model, []))]


def check_names(providers: Sequence[ProviderConfig]) -> None:
    """Refuse unknown transformer names at start, naming the provider and the known names."""
    for provider in providers:
        names = set(_names(provider, "")) | {n.lower() for v in provider.model_transformers.values() for n in v}
        unknown = sorted(names - set(KNOWN))
        if unknown:
            raise CcrConfigError(
                f"provider {provider.name!r}: unknown transformer(s) {unknown}; known: {', '.join(sorted(KNOWN))}"
            )


def options_for(provider: ProviderConfig, model: str) -> TranslateOptions:
    merged: dict[str, Any] = {}
    for name in _names(provider, model):
        merged.update(KNOWN[name].options)
    return TranslateOptions(**merged)


def transform_body(provider: ProviderConfig, model: str, body: Body) -> Body:
    for name in _names(provider, model):
        step = KNOWN[name].body
        if step is not None:
            step(body, provider.transformer_options.get(name, {}))
    return body
