"""The official anthropic and openai SDKs against a running Switchyard, with a recording fake upstream."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from tests.core.server_helpers import RunningServer, running_server
from tests.plugins.routing.fake_upstream import FakeUpstream, fake_upstream

KEY = "sy-test-key"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def config_text(upstream: str) -> str:
    return f"""
[routing]
api_key = "{KEY}"
retries = 0
timeout_ms = 1500
ping_interval_ms = 300

[[routing.providers]]
name = "fake"
api = "openai"
base_url = "{upstream}/v1/chat/completions"
api_keys = ["upstream-key-1", "upstream-key-2"]
models = ["gpt-4o"]

[[routing.providers]]
name = "fakeclaude"
api = "anthropic"
base_url = "{upstream}/v1/messages"
api_keys = ["anthropic-upstream"]
models = ["claude-sonnet-4"]

[[routing.providers]]
name = "broken"
base_url = "{upstream}/fail/v1/chat/completions"
models = ["x"]

[[routing.providers]]
name = "refused"
base_url = "http://127.0.0.1:9/v1/chat/completions"
models = ["x"]

[[routing.providers]]
name = "slow"
base_url = "{upstream}/slow/v1/chat/completions"
models = ["x"]

[[routing.providers]]
name = "cut"
base_url = "{upstream}/cut/v1/chat/completions"
models = ["x"]

[[routing.providers]]
name = "lazy"
base_url = "{upstream}/lazy/v1/chat/completions"
models = ["x"]

[[routing.providers]]
name = "gemini"
api = "gemini"
base_url = "{upstream}/v1beta/models/"
api_keys = ["gemini-key"]
models = ["gemini-2.5-flash"]

[routing.router]
default = "mock,mock-1"
think = "broken,x"

[routing.fallback]
think = ["refused,x", "slow,x", "fake,gpt-4o"]
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with fake_upstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("routing")
    config = folder / "switchyard.toml"
    config.write_text(config_text(upstream.base))
    with running_server(folder / "home", "--config", str(config)) as running:
        yield running


@pytest.fixture
def claude(server: RunningServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base, api_key=KEY, max_retries=0)


@pytest.fixture
def gpt(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base}/v1", api_key=KEY, max_retries=0)


def test_anthropic_sdk_to_mock(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model="claude-sonnet-4-6", max_tokens=200,
                                     messages=[{"role": "user", "content": "hello there"}])
    assert message.content[0].text == "Hello from Switchyard's mock model. You said: hello there"
    assert message.stop_reason == "end_turn" and message.usage.input_tokens > 0


def test_anthropic_sdk_streaming_to_mock(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model="claude-sonnet-4-6", max_tokens=200,
                                messages=[{"role": "user", "content": "stream please"}]) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 2
    assert "".join(pieces) == "Hello from Switchyard's mock model. You said: stream please"
    assert final.stop_reason == "end_turn"


def test_anthropic_sdk_tool_use_through_an_openai_provider(claude: anthropic.Anthropic, upstream: FakeUpstream) -> None:
    upstream.tool_call = True
    try:
        message = claude.messages.create(
            model="fake,gpt-4o", max_tokens=300, tools=[WEATHER_TOOL], tool_choice={"type": "any"},
            messages=[{"role": "user", "content": "Weather in Paris?"}],
        )
    finally:
        upstream.tool_call = False
    sent = upstream.last("/v1/chat/completions")
    assert sent.body["model"] == "gpt-4o"
    assert sent.body["tools"][0]["function"]["name"] == "get_weather"
    assert sent.body["tool_choice"] == "required"
    assert sent.headers["Authorization"] in ("Bearer upstream-key-1", "Bearer upstream-key-2")
    tool_use = [b for b in message.content if b.type == "tool_use"]
    assert tool_use and tool_use[0].input == {"city": "Paris"} and message.stop_reason == "tool_use"
    assert message.usage.input_tokens == 16 and message.usage.cache_read_input_tokens == 5


def test_tool_result_goes_back_as_an_openai_tool_message(claude: anthropic.Anthropic, upstream: FakeUpstream) -> None:
    claude.messages.create(
        model="fake,gpt-4o", max_tokens=300, tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C sunny"},
                                         {"type": "text", "text": "Thanks"}]},
        ],
    )
    messages = upstream.last("/v1/chat/completions").body["messages"]
    roles = [m["role"] for m in messages]
    assert roles[-3:] == ["assistant", "tool", "user"]
    assert messages[-2]["tool_call_id"] == "toolu_1" and "18C sunny" in str(messages[-2]["content"])


def test_image_reaches_an_openai_provider_as_a_data_url(claude: anthropic.Anthropic, upstream: FakeUpstream) -> None:
    pixel = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    claude.messages.create(model="fake,gpt-4o", max_tokens=50, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": pixel}},
        {"type": "text", "text": "What is this?"}]}])
    parts = upstream.last("/v1/chat/completions").body["messages"][-1]["content"]
    assert {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}} in parts


def test_anthropic_provider_is_a_pass_through(claude: anthropic.Anthropic, upstream: FakeUpstream) -> None:
    message = claude.messages.create(model="fakeclaude,claude-sonnet-4", max_tokens=50, extra_body={"top_k": 5},
                                     messages=[{"role": "user", "content": "hi"}])
    sent = upstream.last("/v1/messages")
    assert sent.body["model"] == "claude-sonnet-4" and sent.body["top_k"] == 5
    assert sent.headers["x-api-key"] == "anthropic-upstream"
    assert message.content[0].text == "Hi from the fake Anthropic provider."


def test_openai_sdk_to_mock_and_streaming(gpt: openai.OpenAI) -> None:
    reply = gpt.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hey"}])
    assert reply.choices[0].message.content == "Hello from Switchyard's mock model. You said: hey"
    assert reply.choices[0].finish_reason == "stop"
    chunks = list(gpt.chat.completions.create(model="gpt-4o", stream=True,
                                              messages=[{"role": "user", "content": "hey"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from Switchyard's mock model. You said: hey"


def test_openai_sdk_streaming_through_an_openai_provider(gpt: openai.OpenAI) -> None:
    chunks = list(gpt.chat.completions.create(model="fake,gpt-4o", stream=True,
                                              stream_options={"include_usage": True},
                                              messages=[{"role": "user", "content": "hey"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hi from the fake stream."
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def test_count_tokens(claude: anthropic.Anthropic) -> None:
    counted = claude.messages.count_tokens(model="claude-sonnet-4-6",
                                           messages=[{"role": "user", "content": "hello world, how are you?"}])
    assert 5 <= counted.input_tokens <= 20


def test_wrong_key_gets_401_in_each_api_shape(server: RunningServer) -> None:
    bad = anthropic.Anthropic(base_url=server.base, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        bad.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == "authentication_error"
    bad_gpt = openai.OpenAI(base_url=f"{server.base}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as oai:
        bad_gpt.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert oai.value.code is None and "invalid" in str(oai.value.message).lower()


def test_malformed_body_names_the_field(server: RunningServer) -> None:
    response = httpx.post(f"{server.base}/v1/messages", headers={"x-api-key": KEY},
                          json={"model": "m", "max_tokens": "lots", "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["message"].startswith("max_tokens:")
    broken = httpx.post(f"{server.base}/v1/chat/completions", headers={"authorization": f"Bearer {KEY}"},
                        content=b"{not json")
    assert broken.status_code == 400 and broken.json()["error"]["message"].startswith("body: invalid JSON")


def test_fallback_after_500_refused_connection_and_timeout(server: RunningServer, upstream: FakeUpstream) -> None:
    response = httpx.post(f"{server.base}/v1/messages", headers={"x-api-key": KEY}, timeout=30, json={
        "model": "claude-sonnet-4-6", "max_tokens": 50, "thinking": {"type": "adaptive"},
        "messages": [{"role": "user", "content": "think hard"}]})
    assert response.status_code == 200, response.text
    route = response.headers["x-switchyard-route"]
    assert route == "scenario=think:fallback3; provider=fake; model=gpt-4o"
    paths = [r.path for r in upstream.requests[-3:]]
    assert paths == ["/fail/v1/chat/completions", "/slow/v1/chat/completions", "/v1/chat/completions"]


def test_stream_cut_by_the_provider_ends_with_an_error_event(server: RunningServer) -> None:
    with httpx.stream("POST", f"{server.base}/v1/messages", headers={"x-api-key": KEY}, timeout=30, json={
        "model": "cut,x", "max_tokens": 50, "stream": True,
        "messages": [{"role": "user", "content": "hi"}]}) as response:
        text = "".join(response.iter_text())
    assert "event: message_start" in text
    assert text.rstrip().splitlines()[-2:] == [
        "event: error",
        'data: {"type":"error","error":{"type":"api_error","message":"upstream stream ended unexpectedly"}}',
    ]
    assert "message_stop" not in text


def test_route_header_explains_the_decision(server: RunningServer) -> None:
    response = httpx.post(f"{server.base}/v1/messages", headers={"x-api-key": KEY}, json={
        "model": "claude-haiku-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "x"}]})
    assert response.headers["x-switchyard-route"] == "scenario=default; provider=mock; model=mock-1"


def test_models_lists_every_target(gpt: openai.OpenAI) -> None:
    ids = {m.id for m in gpt.models.list()}
    assert {"mock,mock-1", "fake,gpt-4o", "fakeclaude,claude-sonnet-4"} <= ids


def test_pings_keep_a_silent_stream_alive(server: RunningServer) -> None:
    with httpx.stream("POST", f"{server.base}/v1/messages", headers={"x-api-key": KEY}, timeout=30, json={
        "model": "lazy,x", "max_tokens": 50, "stream": True,
        "messages": [{"role": "user", "content": "hi"}]}) as response:
        events = [line[7:] for line in response.iter_lines() if line.startswith("event: ")]
    assert events[0] == "message_start"
    assert events[1] == "ping"  # sent while the provider was silent
    assert events[-1] == "message_stop" and "content_block_delta" in events


def test_gemini_native_both_ways(claude: anthropic.Anthropic, gpt: openai.OpenAI, upstream: FakeUpstream) -> None:
    message = claude.messages.create(model="gemini,gemini-2.5-flash", max_tokens=64, system="Be brief.",
                                     messages=[{"role": "user", "content": "hello"}])
    sent = upstream.last(":generateContent")
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == "gemini-key"
    assert sent.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent.body["generationConfig"]["maxOutputTokens"] == 64
    assert message.content[0].text == "Hi from the fake Gemini (gemini-2.5-flash)."
    assert (message.usage.input_tokens, message.usage.output_tokens) == (14, 6)
    with claude.messages.stream(model="gemini,gemini-2.5-flash", max_tokens=64,
                                messages=[{"role": "user", "content": "hello"}]) as stream:
        assert "".join(stream.text_stream) == "Hi from the fake Gemini stream."
    chunks = list(gpt.chat.completions.create(model="gemini,gemini-2.5-flash", stream=True,
                                              messages=[{"role": "user", "content": "hey"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hi from the fake Gemini stream."


def test_openai_sdk_tool_call_through_an_anthropic_shaped_model(gpt: openai.OpenAI) -> None:
    reply = gpt.chat.completions.create(
        model="mock,mock-1", tool_choice="required",
        tools=[{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                                  "parameters": WEATHER_TOOL["input_schema"]}}],
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    call = reply.choices[0].message.tool_calls[0]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "example"}
    streamed = list(gpt.chat.completions.create(
        model="mock,mock-1", tool_choice="required", stream=True,
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_TOOL["input_schema"]}}],
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    ))
    arguments = "".join(
        tc.function.arguments or "" for c in streamed if c.choices for tc in (c.choices[0].delta.tool_calls or []))
    assert json.loads(arguments) == {"city": "example"}
    assert streamed[-1].choices[0].finish_reason == "tool_calls"
