"""Choosing provider and model, in claude-code-router's order.

explicit ``provider,model`` > long context (by token count or the session's previous turn) >
``<CCR-SUBAGENT-MODEL>`` tag > background (Haiku-class) > web search > image > think > default.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

import msgspec

from plugins.routing.config import RoutingConfig

__all__ = ["Decision", "SessionUsage", "choose", "session_id", "split_target"]

SUBAGENT_TAG = re.compile(r"<CCR-SUBAGENT-MODEL>(.*?)</CCR-SUBAGENT-MODEL>\s*", re.DOTALL)
_SESSION_IN_USER_ID = re.compile(r"session_([0-9a-fA-F-]{8,})")


class Decision(msgspec.Struct, frozen=True):
    """Why this route: shown in ``x-switchyard-route`` and the debug log."""

    scenario: str
    provider: str
    model: str

    @property
    def header(self) -> str:
        return f"scenario={self.scenario}; provider={self.provider}; model={self.model}"


class SessionUsage:
    """Input tokens of each session's previous turn (bounded LRU), for long-context routing."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._last: OrderedDict[str, int] = OrderedDict()
        self.capacity = capacity

    def get(self, session: str | None) -> int:
        return self._last.get(session, 0) if session else 0

    def record(self, session: str | None, input_tokens: int) -> None:
        if not session:
            return
        self._last[session] = input_tokens
        self._last.move_to_end(session)
        while len(self._last) > self.capacity:
            self._last.popitem(last=False)


def session_id(body: dict[str, Any]) -> str | None:
    """Claude Code's session: ``metadata.user_id`` is JSON with ``session_id`` (2.1) or ``..._session_<uuid>``."""
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if not isinstance(user_id, str) or not user_id:
        return None
    if user_id.startswith("{"):
        try:
            value = msgspec.json.decode(user_id)
        except msgspec.DecodeError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("session_id"), str):
            return value["session_id"]
    match = _SESSION_IN_USER_ID.search(user_id)
    return match.group(1) if match else None


def _strip_subagent_tag(body: dict[str, Any]) -> str | None:
    """Find the tag in any system block, remove it before forwarding, return its target."""
    system = body.get("system")
    if isinstance(system, str):
        match = SUBAGENT_TAG.search(system)
        if match:
            body["system"] = SUBAGENT_TAG.sub("", system, count=1)
            return match.group(1).strip()
        return None
    if isinstance(system, list):
        for block in system:
            text = block.get("text") if isinstance(block, dict) else None
            if isinstance(text, str):
                match = SUBAGENT_TAG.search(text)
                if match:
                    block["text"] = SUBAGENT_TAG.sub("", text, count=1)
                    return match.group(1).strip()
    return None


def _has_image(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or []
    last_user = next((m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), None)
    content = last_user.get("content") if last_user else None
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "image" for b in content
    )


def split_target(target: str) -> tuple[str, str]:
    """``"provider,model"`` -> (provider, model)."""
    provider, _, model = target.partition(",")
    return provider.strip(), model.strip()


def choose(
    body: dict[str, Any], token_count: int, config: RoutingConfig, previous_input_tokens: int = 0
) -> Decision:
    """The route for an Anthropic-shaped request body (may strip the subagent tag from it)."""
    router = config.router
    model = body.get("model")
    if isinstance(model, str) and "," in model:
        provider, name = split_target(model)
        if provider in config.providers:
            return Decision("explicit", provider, name)
    threshold = router.long_context_threshold
    long_by_session = previous_input_tokens > threshold and token_count > 20_000
    if router.long_context and (token_count > threshold or long_by_session):
        return Decision("long_context", *split_target(router.long_context))
    tagged = _strip_subagent_tag(body)
    if tagged and "," in tagged:
        provider, name = split_target(tagged)
        if provider in config.providers:
            return Decision("subagent", provider, name)
    if router.background and isinstance(model, str) and "haiku" in model.lower():
        return Decision("background", *split_target(router.background))
    tools = body.get("tools")
    if router.web_search and isinstance(tools, list) and any(
        isinstance(t, dict) and str(t.get("type", "")).startswith("web_search") for t in tools
    ):
        return Decision("web_search", *split_target(router.web_search))
    if router.image and _has_image(body):
        return Decision("image", *split_target(router.image))
    if router.think and body.get("thinking"):
        return Decision("think", *split_target(router.think))
    return Decision("default", *split_target(router.default))
