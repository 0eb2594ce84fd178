"""The official SDKs parse what we produce: golden outputs fed to anthropic and openai clients.

Skipped when the SDKs are not installed; they are test clients, not dependencies. The SDKs
read from an httpx MockTransport, so nothing leaves the process.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from .helpers import golden_names, sdk_stream_message

anthropic = pytest.importorskip("anthropic")
openai = pytest.importorskip("openai")
# The SDKs moved from httpx to httpx2 (same API); use whichever the installed ones import.
httpx = pytest.importorskip("httpx2" if importlib.util.find_spec("httpx2") else "httpx")

GOLDEN = Path(__file__).parent / "golden"


def _transport(body: bytes, status: int = 200, content_type: str = "text/event-stream") -> Any:
    def handler(request: Any) -> Any:
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    return httpx.Client(transport=httpx.MockTransport(handler))


def _anthropic(body: bytes, **kwargs: Any) -> Any:
    return anthropic.Anthropic(api_key="k", base_url="http://gateway", max_retries=0,
                               http_client=_transport(body, **kwargs))


def _openai(body: bytes, **kwargs: Any) -> Any:
    return openai.OpenAI(api_key="k", base_url="http://gateway/v1", max_retries=0,
                         http_client=_transport(body, **kwargs))


REQUEST = {"model": "claude-sonnet-4-5", "max_tokens": 100,
           "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("name", golden_names(GOLDEN, "o2a_stream__*.expected.sse"))
def test_anthropic_sdk_accumulates_our_streams(name: str) -> None:
    raw = (GOLDEN / f"{name}.expected.sse").read_bytes()
    message = sdk_stream_message(_anthropic(raw), REQUEST, raw)
    if message is None:
        return
    assert message.id.startswith("msg_") and message.stop_reason is not None
    for block in message.content:
        if block.type == "tool_use":
            assert isinstance(block.input, dict)
    text = "".join(b.text for b in message.content if b.type == "text")
    expected = "".join(
        json.loads(line[6:])["delta"].get("text", "")
        for line in raw.decode().splitlines()
        if line.startswith("data: ") and '"text_delta"' in line
    )
    assert text == expected


@pytest.mark.parametrize("name", golden_names(GOLDEN, "a2o_stream__*.expected.sse"))
def test_openai_sdk_accumulates_our_streams(name: str) -> None:
    raw = (GOLDEN / f"{name}.expected.sse").read_bytes()
    client = _openai(raw)
    request = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}
    if b'data: {"error"' in raw:
        with pytest.raises(openai.APIError):
            for _ in client.chat.completions.create(stream=True, **request):
                pass
        return
    with client.chat.completions.stream(**request) as stream:
        try:
            completion = stream.get_final_completion()
        except openai.LengthFinishReasonError as exc:  # the helper's way to report "length"
            completion = exc.completion
    choice = completion.choices[0]
    assert completion.id.startswith("chatcmpl-") and choice.finish_reason is not None
    for call in choice.message.tool_calls or ():
        assert isinstance(json.loads(call.function.arguments), dict)


@pytest.mark.parametrize("name", golden_names(GOLDEN, "o2a_response__*.expected.json"))
def test_anthropic_sdk_validates_our_messages(name: str) -> None:
    data = json.loads((GOLDEN / f"{name}.expected.json").read_text())
    if "$raises" in data:
        return
    data["id"] = "msg_01" + "a" * 22
    for block in data["content"]:
        if block.get("id") == "<toolu_id>":
            block["id"] = "toolu_01" + "b" * 22
    message = anthropic.types.Message.model_validate(data, strict=True)
    assert message.role == "assistant"


@pytest.mark.parametrize("name", golden_names(GOLDEN, "a2o_response__*.expected.json"))
def test_openai_sdk_validates_our_completions(name: str) -> None:
    data = json.loads((GOLDEN / f"{name}.expected.json").read_text())
    completion = openai.types.chat.ChatCompletion.model_validate(data, strict=True)
    assert completion.object == "chat.completion"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 429, 500, 529])
def test_sdks_raise_their_own_errors_from_our_error_bodies(status: int) -> None:
    from plugins.routing.translate import anthropic_error, openai_error

    body = json.dumps(anthropic_error(status, "nope")).encode()
    with pytest.raises(anthropic.APIStatusError) as info:
        _anthropic(body, status=status, content_type="application/json").messages.create(**REQUEST)
    assert info.value.status_code == status and info.value.body["error"]["message"] == "nope"

    body = json.dumps(openai_error(status, "nope")).encode()
    with pytest.raises(openai.APIStatusError) as raised:
        _openai(body, status=status, content_type="application/json").chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "x"}])
    assert raised.value.status_code == status and raised.value.message.endswith("nope")
