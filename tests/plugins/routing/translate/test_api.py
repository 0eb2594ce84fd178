"""The public surface other code imports, and the few rules that are not data-driven."""

from __future__ import annotations

import re

import msgspec
import pytest

from plugins.routing import translate
from plugins.routing.translate import TranslateOptions, TranslationError
from plugins.routing.translate._common import new_completion_id, new_message_id, new_tool_use_id

PUBLIC = {
    "anthropic_request_to_openai", "openai_request_to_anthropic", "openai_response_to_anthropic",
    "anthropic_response_to_openai", "anthropic_error", "openai_error", "error_message_from_upstream",
    "OpenAIToAnthropicStream", "AnthropicToOpenAIStream", "SSEParser", "anthropic_sse",
    "TranslateOptions", "TranslationError",
}


def test_public_names_are_exported() -> None:
    assert PUBLIC <= set(translate.__all__)
    for name in translate.__all__:
        assert getattr(translate, name) is not None


def test_translation_error_is_a_value_error_naming_the_field() -> None:
    with pytest.raises(ValueError) as info:
        translate.openai_request_to_anthropic({"n": 2, "messages": []}, model="m")
    assert isinstance(info.value, TranslationError) and info.value.param == "n"
    assert str(info.value).startswith("n: only n=1 is supported")


def test_options_defaults_and_immutability() -> None:
    options = TranslateOptions()
    assert (options.max_tokens_field, options.reasoning, options.cache_control,
            options.stream_usage) == ("max_tokens", True, False, True)
    with pytest.raises(AttributeError):
        options.reasoning = False  # type: ignore[misc]
    assert msgspec.convert({"max_tokens_field": "max_completion_tokens"},
                           TranslateOptions).max_tokens_field == "max_completion_tokens"


def test_ids_have_each_apis_format() -> None:
    assert re.fullmatch(r"msg_[0-9A-Za-z]{24}", new_message_id())
    assert re.fullmatch(r"toolu_[0-9A-Za-z]{24}", new_tool_use_id())
    assert re.fullmatch(r"chatcmpl-[0-9A-Za-z]{29}", new_completion_id())
    assert new_completion_id("msg_01ABC") == "chatcmpl-01ABC"
    assert len({new_message_id() for _ in range(1000)}) == 1000


def test_inputs_are_not_mutated() -> None:
    body = {"model": "x", "max_tokens": 10, "system": [{"type": "text", "text": "s",
            "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    snapshot = msgspec.json.encode(body)
    translate.anthropic_request_to_openai(body, model="m")
    assert msgspec.json.encode(body) == snapshot
    request = {"model": "x", "messages": [{"role": "tool", "tool_call_id": "a", "content": "1"},
                                          {"role": "user", "content": "two"}]}
    snapshot = msgspec.json.encode(request)
    translate.openai_request_to_anthropic(request, model="m")
    assert msgspec.json.encode(request) == snapshot


def test_round_trip_of_a_tool_conversation_keeps_its_meaning() -> None:
    anthropic = {
        "model": "claude", "max_tokens": 100, "system": "sys",
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "ok"},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, "é"]}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "done"},
                {"type": "text", "text": "next"}]},
        ],
        "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any"}, "stop_sequences": ["X"], "temperature": 0.5,
    }
    back = translate.openai_request_to_anthropic(
        translate.anthropic_request_to_openai(anthropic, model="gpt"), model="claude")
    assert back["system"] == "sys" and back["max_tokens"] == 100
    assert back["messages"][1]["content"][1] == anthropic["messages"][1]["content"][1]
    assert [b["type"] for b in back["messages"][2]["content"]] == ["tool_result", "text"]
    assert back["tools"] == anthropic["tools"] and back["tool_choice"] == {"type": "any"}
    assert back["stop_sequences"] == ["X"] and back["temperature"] == 0.5


def test_drop_unsigned_thinking_only_copies_when_needed() -> None:
    clean = {"messages": [{"role": "assistant", "content": [
        {"type": "thinking", "thinking": "t", "signature": "sig"}, {"type": "text", "text": "a"}]}]}
    assert translate.drop_unsigned_thinking(clean) is clean
    dirty = {"model": "m", "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": ""},
                                          {"type": "text", "text": "a"}]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "only"}]},
        {"role": "user", "content": "next"}]}
    out = translate.drop_unsigned_thinking(dirty)
    assert out["messages"] == [{"role": "user", "content": "q"},
                               {"role": "assistant", "content": [{"type": "text", "text": "a"}]},
                               {"role": "user", "content": "next"}]
    assert dirty["messages"][1]["content"][0]["type"] == "thinking"  # input untouched
