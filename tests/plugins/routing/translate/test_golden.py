"""Golden cases: every file pair under golden/ is one rule, run through the public API.

- `<kind>__<case>.input.json` + `.expected.json`, kind one of a2o_request, o2a_request,
  o2a_response, a2o_response, error. An expected {"$raises": ..., "param": ...} means the
  call must raise TranslationError naming that field.
- `<dir>_stream__<case>.upstream.sse` + `.expected.sse` (+ optional `.meta.json` with
  constructor kwargs): the upstream bytes are fed whole, one byte at a time and in random
  pieces; the output must equal the expected bytes every time, and pass the grammar check.

A new rule is a new file pair. SWITCHYARD_REGEN_GOLDEN=1 rewrites the expected files from
the current code: review the diff before keeping it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from plugins.routing import translate
from plugins.routing.translate import TranslateOptions

from .helpers import (
    SPLITS,
    check_anthropic_stream,
    check_golden_files,
    check_json_golden,
    check_openai_stream,
    check_stream_golden,
    golden_names,
    run_golden_stream,
    stream_meta,
)

GOLDEN = Path(__file__).parent / "golden"
KINDS = {"a2o_request", "o2a_request", "o2a_response", "a2o_response", "error", "o2a_stream",
         "a2o_stream"}


def _arg(value: Any) -> Any:
    """{"$bytes": "text"} in an error case stands for a bytes argument."""
    if isinstance(value, dict) and set(value) == {"$bytes"}:
        return value["$bytes"].encode()
    return value


def _call(kind: str, case: dict[str, Any]) -> Any:
    if kind == "a2o_request":
        options = msgspec.convert(case.get("options") or {}, TranslateOptions)
        return translate.anthropic_request_to_openai(case["body"], model=case["model"], options=options)
    if kind == "o2a_request":
        return translate.openai_request_to_anthropic(case["body"], model=case["model"])
    if kind == "o2a_response":
        return translate.openai_response_to_anthropic(case["body"], model=case["model"])
    if kind == "a2o_response":
        out = translate.anthropic_response_to_openai(case["body"], model=case["model"])
        assert isinstance(out["created"], int) and out["created"] > 1_700_000_000
        out["created"] = 0
        return out
    if kind == "error":
        function = getattr(translate, case["call"])
        args = [_arg(a) for a in case.get("args", [])]
        return function(*args, **case.get("kwargs", {}))
    raise AssertionError(f"unknown golden kind {kind!r}")


@pytest.mark.parametrize("name", golden_names(GOLDEN, "*.input.json"))
def test_json_golden(name: str) -> None:
    check_json_golden(GOLDEN, name, _call)


def _stream_factory(name: str) -> Any:
    meta = stream_meta(GOLDEN, name)
    if name.startswith("o2a_stream"):
        kwargs = {"model": "claude-sonnet-4-5", "message_id": "msg_01GoldenGoldenGoldenGold",
                  "input_tokens_estimate": 42, **meta}
        return lambda: translate.OpenAIToAnthropicStream(**kwargs)
    kwargs = {"model": "gpt-4.1", "created": 1_764_000_000, **meta}
    return lambda: translate.AnthropicToOpenAIStream(**kwargs)


STREAMS = golden_names(GOLDEN, "*.upstream.sse")


@pytest.mark.parametrize("how", SPLITS)
@pytest.mark.parametrize("name", STREAMS)
def test_stream_golden(name: str, how: str) -> None:
    out = run_golden_stream(GOLDEN, name, _stream_factory(name), how)
    check_stream_golden(GOLDEN, name, how, out)
    if name.startswith("o2a_stream"):
        check_anthropic_stream(out)
    else:
        check_openai_stream(out)


def test_every_golden_file_belongs_to_a_case() -> None:
    check_golden_files(GOLDEN, KINDS)
