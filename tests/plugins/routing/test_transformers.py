"""Provider quirks by name, with claude-code-router's ``[name, {options}]`` form honoured."""

from __future__ import annotations

import pytest

from plugins.routing.config import CcrConfigError, ProviderConfig, from_ccr
from plugins.routing.transformers import check_names, options_for, transform_body


def ccr_provider(use: list, per_model: dict | None = None) -> ProviderConfig:
    transformer = {"use": use, **(per_model or {})}
    config = from_ccr({"Providers": [{"name": "p", "api_base_url": "https://x/v1/chat/completions",
                                      "api_key": "k", "models": ["m", "big"], "transformer": transformer}],
                       "Router": {"default": "p,m"}}, env={})
    return config.providers["p"]


def test_maxtoken_uses_the_configured_limit() -> None:
    provider = ccr_provider([["maxtoken", {"max_tokens": 16384}]])
    assert transform_body(provider, "m", {"max_tokens": 64000})["max_tokens"] == 16384
    assert transform_body(provider, "m", {"max_tokens": 1000})["max_tokens"] == 1000
    assert transform_body(ccr_provider(["maxtoken"]), "m", {"max_tokens": 64000})["max_tokens"] == 8192


def test_per_model_transformers_and_options() -> None:
    provider = ccr_provider(["openrouter"], {"big": {"use": [["maxtoken", {"max_tokens": 100}]]}})
    assert transform_body(provider, "big", {"max_tokens": 500})["max_tokens"] == 100
    assert transform_body(provider, "m", {"max_tokens": 500})["max_tokens"] == 500
    assert options_for(provider, "m").cache_control is True


def test_groq_and_cleancache_strip_what_the_provider_rejects() -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]}],
            "tools": [{"type": "function", "function": {"name": "t", "parameters": {"$schema": "x", "type": "object"}}}]}
    out = transform_body(ccr_provider(["groq"]), "m", body)
    assert "cache_control" not in out["messages"][0]["content"][0]
    assert "$schema" not in out["tools"][0]["function"]["parameters"]


def test_tooluse_forces_a_tool_call_only_when_tools_are_offered() -> None:
    provider = ccr_provider(["tooluse"])
    assert transform_body(provider, "m", {"tools": [{"type": "function"}]})["tool_choice"] == "required"
    assert "tool_choice" not in transform_body(provider, "m", {"messages": []})


def test_unknown_transformer_is_refused_at_start() -> None:
    with pytest.raises(CcrConfigError, match=r"unknown transformer\(s\) \['frobnicate'\]"):
        check_names([ccr_provider(["frobnicate"])])
