"""Route choice in claude-code-router's order, and its config.json read unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from plugins.routing.config import CcrConfigError, from_ccr
from plugins.routing.rules import choose, session_id

CCR = {
    "APIKEY": "$GATEWAY_KEY",
    "Providers": [
        {"name": "deepseek", "api_base_url": "https://api.deepseek.com/chat/completions",
         "api_key": "${DEEPSEEK_KEY}", "models": ["deepseek-chat", "deepseek-reasoner"],
         "transformer": {"use": ["deepseek"], "deepseek-chat": {"use": ["tooluse"]}}},
        {"name": "openrouter", "api_base_url": "https://openrouter.ai/api/v1/chat/completions",
         "api_key": "k", "models": ["google/gemini-2.5-pro"],
         "transformer": {"use": ["openrouter", ["maxtoken", {"max_tokens": 65536}]]}},
        {"name": "anthropic", "api_base_url": "https://api.anthropic.com/v1/messages",
         "api_key": "a", "models": ["claude-sonnet-4"], "transformer": {"use": ["Anthropic"]}},
    ],
    "Router": {
        "default": "deepseek,deepseek-chat",
        "background": "deepseek,deepseek-chat",
        "think": "deepseek,deepseek-reasoner",
        "longContext": "openrouter,google/gemini-2.5-pro",
        "longContextThreshold": 1000,
        "webSearch": "openrouter,google/gemini-2.5-pro",
        "image": "anthropic,claude-sonnet-4",
    },
    "fallback": {"default": ["openrouter,google/gemini-2.5-pro"]},
}


@pytest.fixture
def config() -> Any:
    return from_ccr(json.loads(json.dumps(CCR)), env={"GATEWAY_KEY": "sekrit", "DEEPSEEK_KEY": "dk"})


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 100,
            "messages": [{"role": "user", "content": "hello"}], **extra}


def test_ccr_config_is_read_unchanged(config: Any) -> None:
    assert config.api_key == "sekrit"
    deepseek = config.providers["deepseek"]
    assert deepseek.api == "openai" and deepseek.api_keys == ["dk"]
    assert deepseek.transformers == ["deepseek"]
    assert deepseek.model_transformers == {"deepseek-chat": ["tooluse"]}
    assert config.providers["openrouter"].transformers == ["openrouter", "maxtoken"]
    assert config.providers["anthropic"].api == "anthropic"
    assert config.router.long_context_threshold == 1000
    assert config.fallback == {"default": ["openrouter,google/gemini-2.5-pro"]}


def test_each_scenario(config: Any) -> None:
    assert choose(body(), 10, config).scenario == "default"
    assert choose(body(model="claude-haiku-4-5"), 10, config).scenario == "background"
    assert choose(body(thinking={"type": "adaptive"}), 10, config).model == "deepseek-reasoner"
    web = choose(body(tools=[{"type": "web_search_20250305", "name": "web_search"}]), 10, config)
    assert (web.scenario, web.provider) == ("web_search", "openrouter")
    image = body(messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]}])
    assert choose(image, 10, config).scenario == "image"
    assert choose(body(), 1001, config).scenario == "long_context"


def test_explicit_target_wins_over_everything(config: Any) -> None:
    decision = choose(body(model="anthropic,claude-sonnet-4", thinking={"type": "enabled"}), 5000, config)
    assert (decision.scenario, decision.provider, decision.model) == ("explicit", "anthropic", "claude-sonnet-4")


def test_long_context_from_the_sessions_previous_turn(config: Any) -> None:
    assert choose(body(), 25_000, config, previous_input_tokens=0).scenario == "long_context"  # > threshold
    config.router.long_context_threshold = 60_000
    assert choose(body(), 25_000, config, previous_input_tokens=70_000).scenario == "long_context"
    assert choose(body(), 15_000, config, previous_input_tokens=70_000).scenario == "default"


def test_subagent_tag_in_any_system_block_routes_and_is_stripped(config: Any) -> None:
    request = body(system=[
        {"type": "text", "text": "You are Claude Code."},
        {"type": "text", "text": "<CCR-SUBAGENT-MODEL>openrouter,google/gemini-2.5-pro</CCR-SUBAGENT-MODEL>Review."},
    ])
    decision = choose(request, 10, config)
    assert (decision.scenario, decision.provider) == ("subagent", "openrouter")
    assert request["system"][1]["text"] == "Review."
    plain = body(system="<CCR-SUBAGENT-MODEL>deepseek,deepseek-reasoner</CCR-SUBAGENT-MODEL>Be brief")
    assert choose(plain, 10, config).model == "deepseek-reasoner" and plain["system"] == "Be brief"


def test_session_id_from_claude_code_metadata() -> None:
    new = json.dumps({"device_id": "d", "account_uuid": "", "session_id": "5f0c-aa"})
    assert session_id({"metadata": {"user_id": new}}) == "5f0c-aa"
    old = "user_abc_account__session_0b6e8a30-1111-2222-3333-444455556666"
    assert session_id({"metadata": {"user_id": old}}) == "0b6e8a30-1111-2222-3333-444455556666"
    assert session_id({}) is None


def test_what_cannot_be_honoured_is_refused_at_start() -> None:
    with pytest.raises(CcrConfigError, match="CUSTOM_ROUTER_PATH"):
        from_ccr({**CCR, "CUSTOM_ROUTER_PATH": "/home/me/router.js"}, env={})
    with pytest.raises(CcrConfigError, match="custom JavaScript transformers"):
        from_ccr({**CCR, "transformers": [{"path": "/x/t.js"}]}, env={})
    with pytest.raises(CcrConfigError, match=r"router.think: unknown provider 'nope'"):
        from_ccr({**CCR, "Router": {"default": "deepseek,deepseek-chat", "think": "nope,x"}}, env={})
