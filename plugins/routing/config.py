"""Routing configuration: Switchyard's ``[routing]`` TOML section, or a claude-code-router config.json.

Both become one :class:`RoutingConfig`, so everything downstream has a single shape.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "CcrConfigError",
    "ProviderConfig",
    "RouterRules",
    "RoutingConfig",
    "RoutingSettings",
    "from_ccr",
    "from_settings",
]

Api = Literal["openai", "anthropic", "gemini", "mock"]
SCENARIOS = ("default", "background", "think", "long_context", "web_search", "image")


class CcrConfigError(ValueError):
    """A claude-code-router setting Switchyard cannot honour; raised at start, never ignored."""


class ProviderConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    api: Api = "openai"
    base_url: str = ""
    api_keys: list[str] = []
    models: list[str] = []
    transformers: list[str] = []
    model_transformers: dict[str, list[str]] = {}
    transformer_options: dict[str, dict[str, Any]] = {}
    timeout_ms: Annotated[int, msgspec.Meta(ge=1)] | None = None
    proxy_url: str | None = None
    key_strategy: Literal["round_robin", "least_latency"] = "round_robin"


class RouterRules(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Each value is a ``provider,model`` target; ``default`` is required."""

    default: str = "mock,mock-1"
    background: str | None = None
    think: str | None = None
    long_context: str | None = None
    long_context_threshold: Annotated[int, msgspec.Meta(ge=1)] = 60_000
    web_search: str | None = None
    image: str | None = None


class RoutingSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The ``[routing]`` section of switchyard.toml."""

    api_key: str | None = None
    timeout_ms: Annotated[int, msgspec.Meta(ge=1)] = 600_000
    proxy_url: str | None = None
    providers: list[ProviderConfig] = []
    router: RouterRules = msgspec.field(default_factory=RouterRules)
    fallback: dict[str, list[str]] = {}
    retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 2
    log_decisions: bool = False
    ping_interval_ms: Annotated[int, msgspec.Meta(ge=50)] = 10_000


class RoutingConfig(msgspec.Struct, kw_only=True):
    """The effective configuration, whatever file it came from."""

    api_key: str | None
    timeout_ms: int
    proxy_url: str | None
    providers: dict[str, ProviderConfig]
    router: RouterRules
    fallback: dict[str, list[str]]
    retries: int
    log_decisions: bool = False
    ping_interval_ms: int = 10_000
    source: str = "switchyard.toml"


MOCK_PROVIDER = ProviderConfig(name="mock", api="mock", models=["mock-1", "mock-haiku"])


def _check_targets(config: RoutingConfig) -> None:
    """Every router and fallback target must name a configured provider."""
    targets = [(f"router.{s}", getattr(config.router, s)) for s in SCENARIOS]
    targets += [(f"fallback.{k}[{i}]", t) for k, v in config.fallback.items() for i, t in enumerate(v)]
    for where, target in targets:
        if not target:
            continue
        provider, sep, model = target.partition(",")
        if not sep or not model:
            raise CcrConfigError(f"{where}: {target!r} must be written 'provider,model'")
        if provider not in config.providers:
            known = ", ".join(sorted(config.providers))
            raise CcrConfigError(f"{where}: unknown provider {provider!r} (configured: {known})")


def from_settings(settings: RoutingSettings) -> RoutingConfig:
    providers = {p.name: p for p in settings.providers}
    providers.setdefault("mock", MOCK_PROVIDER)
    config = RoutingConfig(
        api_key=settings.api_key,
        timeout_ms=settings.timeout_ms,
        proxy_url=settings.proxy_url,
        providers=providers,
        router=settings.router,
        fallback={_scenario_key(k): v for k, v in settings.fallback.items()},
        retries=settings.retries,
        log_decisions=settings.log_decisions,
        ping_interval_ms=settings.ping_interval_ms,
    )
    _check_targets(config)
    return config


# -- claude-code-router config.json ---------------------------------------------------------

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_CCR_ROUTER = {
    "default": "default",
    "background": "background",
    "think": "think",
    "longContext": "long_context",
    "webSearch": "web_search",
    "image": "image",
}


def interpolate(value: Any, env: dict[str, str] | os._Environ[str] = os.environ) -> Any:
    """claude-code-router's ``$VAR`` / ``${VAR}`` interpolation, applied to every string."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), m.group(0)), value)
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    return value


def _scenario_key(key: str) -> str:
    return _CCR_ROUTER.get(key, key)


def _transformer_names(use: Any) -> list[str]:
    """A ``use`` list holds names or ``[name, options]`` pairs."""
    names = []
    for item in use or []:
        names.append(item[0] if isinstance(item, list) and item else str(item))
    return names


def _transformer_options(*uses: Any) -> dict[str, dict[str, Any]]:
    """The options of ``[name, {options}]`` pairs, by transformer name (e.g. maxtoken's max_tokens)."""
    options: dict[str, dict[str, Any]] = {}
    for use in uses:
        for item in use or []:
            if isinstance(item, list) and len(item) > 1 and isinstance(item[1], dict):
                options[str(item[0]).lower()] = item[1]
    return options


def _ccr_api(provider: dict[str, Any], transformers: list[str]) -> Api:
    url = str(provider.get("api_base_url", ""))
    if "anthropic" in transformers or url.rstrip("/").endswith("/v1/messages"):
        return "anthropic"
    if "gemini" in transformers or "generativelanguage.googleapis.com" in url:
        return "gemini"
    return "openai"


def _ccr_provider(raw: dict[str, Any]) -> ProviderConfig:
    transformer = raw.get("transformer") or {}
    names = _transformer_names(transformer.get("use"))
    per_model = {
        model: _transformer_names(spec.get("use"))
        for model, spec in transformer.items()
        if model != "use" and isinstance(spec, dict)
    }
    key = raw.get("api_key")
    keys = key if isinstance(key, list) else ([key] if key else [])
    return ProviderConfig(
        name=str(raw.get("name", "")),
        api=_ccr_api(raw, names),
        base_url=str(raw.get("api_base_url", "")),
        api_keys=[str(k) for k in keys],
        models=[str(m) for m in raw.get("models", [])],
        transformers=names,
        model_transformers=per_model,
        transformer_options=_transformer_options(
            transformer.get("use"),
            *(spec.get("use") for model, spec in transformer.items() if model != "use" and isinstance(spec, dict)),
        ),
    )


def from_ccr(ccr: dict[str, Any], env: dict[str, str] | None = None) -> RoutingConfig:
    """Read a claude-code-router config.json as it is; refuse clearly what cannot be honoured."""
    ccr = interpolate(ccr, env if env is not None else os.environ)
    if ccr.get("CUSTOM_ROUTER_PATH"):
        raise CcrConfigError(
            f"CUSTOM_ROUTER_PATH {ccr['CUSTOM_ROUTER_PATH']!r}: JavaScript custom routers cannot run in "
            "Switchyard; write the rule as a `route` hook plugin (see README, Writing a plugin) and "
            "remove CUSTOM_ROUTER_PATH"
        )
    custom = [t.get("path") for t in ccr.get("transformers", []) if isinstance(t, dict)]
    if custom:
        raise CcrConfigError(
            f"transformers {custom}: custom JavaScript transformers cannot run in Switchyard; "
            "remove them (built-in transformers are used by name in each provider's `use` list)"
        )
    providers = {}
    for index, raw in enumerate(ccr.get("Providers") or ccr.get("providers") or []):
        provider = _ccr_provider(raw)
        if not provider.name:
            raise CcrConfigError(f"Providers[{index}].name is missing")
        providers[provider.name] = provider
    providers.setdefault("mock", MOCK_PROVIDER)
    router_raw = ccr.get("Router") or {}
    rules: dict[str, Any] = {
        _CCR_ROUTER[k]: v for k, v in router_raw.items() if k in _CCR_ROUTER and v
    }
    if "longContextThreshold" in router_raw:
        rules["long_context_threshold"] = int(router_raw["longContextThreshold"])
    timeout = ccr.get("API_TIMEOUT_MS")
    config = RoutingConfig(
        api_key=ccr.get("APIKEY") or None,
        timeout_ms=int(timeout) if timeout else 600_000,
        proxy_url=ccr.get("PROXY_URL") or None,
        providers=providers,
        router=msgspec.convert(rules, RouterRules),
        fallback={_scenario_key(k): list(v) for k, v in (ccr.get("fallback") or {}).items()},
        retries=2,
        source="claude-code-router config.json",
    )
    _check_targets(config)
    return config
