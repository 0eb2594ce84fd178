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

import os
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from plugins.routing import translate
from plugins.routing.translate import TranslateOptions, TranslationError

from .helpers import SPLITS, check_anthropic_stream, check_openai_stream, run_stream

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("SWITCHYARD_REGEN_GOLDEN") == "1"
MESSAGE_ID = re.compile(r"msg_01[0-9A-Za-z]{22}")
TOOL_ID = re.compile(r"toolu_01[0-9A-Za-z]{22}")


def _load(path: Path) -> Any:
    return msgspec.json.decode(path.read_bytes())


def _write(path: Path, value: Any) -> None:
    path.write_bytes(msgspec.json.format(msgspec.json.encode(value), indent=2) + b"\n")


def _names(pattern: str) -> list[str]:
    return sorted(p.name.split(".")[0] for p in GOLDEN.glob(pattern))


def _arg(value: Any) -> Any:
    """{"$bytes": "text"} in an error case stands for a bytes argument."""
    if isinstance(value, dict) and set(value) == {"$bytes"}:
        return value["$bytes"].encode()
    return value


def _normalize_ids(value: Any) -> Any:
    """Minted ids are random: check their format, then replace them with placeholders."""
    if isinstance(value, dict):
        return {k: _normalize_ids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize_ids(v) for v in value]
    if isinstance(value, str):
        if MESSAGE_ID.fullmatch(value):
            return "<msg_id>"
        if TOOL_ID.fullmatch(value):
            return "<toolu_id>"
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


@pytest.mark.parametrize("name", _names("*.input.json"))
def test_json_golden(name: str) -> None:
    kind = name.split("__")[0]
    case = _load(GOLDEN / f"{name}.input.json")
    expected_path = GOLDEN / f"{name}.expected.json"
    try:
        got = _normalize_ids(_call(kind, case))
    except TranslationError as exc:
        got = {"$raises": "TranslationError", "param": exc.param, "message": str(exc)}
    if REGEN:
        _write(expected_path, got)
    assert got == _load(expected_path)


def _stream_factory(name: str) -> Any:
    meta_path = GOLDEN / f"{name}.meta.json"
    meta = _load(meta_path) if meta_path.exists() else {}
    if name.startswith("o2a_stream"):
        kwargs = {"model": "claude-sonnet-4-5", "message_id": "msg_01GoldenGoldenGoldenGold",
                  "input_tokens_estimate": 42, **meta}
        return lambda: translate.OpenAIToAnthropicStream(**kwargs)
    kwargs = {"model": "gpt-4.1", "created": 1_764_000_000, **meta}
    return lambda: translate.AnthropicToOpenAIStream(**kwargs)


STREAMS = _names("*.upstream.sse")


@pytest.mark.parametrize("how", SPLITS)
@pytest.mark.parametrize("name", STREAMS)
def test_stream_golden(name: str, how: str) -> None:
    upstream = (GOLDEN / f"{name}.upstream.sse").read_bytes()
    expected_path = GOLDEN / f"{name}.expected.sse"
    out, _ = run_stream(_stream_factory(name), upstream, how)
    if REGEN and how == "whole":
        expected_path.write_bytes(out)
    assert out == expected_path.read_bytes()
    if name.startswith("o2a_stream"):
        check_anthropic_stream(out)
    else:
        check_openai_stream(out)


def test_every_golden_file_belongs_to_a_case() -> None:
    """A typo in a fixture name must not silently drop a rule from the suite."""
    cases = set(_names("*.input.json")) | set(STREAMS)
    for path in GOLDEN.iterdir():
        stem = path.name.split(".")[0]
        assert stem in cases, f"{path.name} belongs to no case"
        kind = stem.split("__")[0]
        assert kind in {"a2o_request", "o2a_request", "o2a_response", "a2o_response", "error",
                        "o2a_stream", "a2o_stream"}, path.name
    for name in _names("*.input.json"):
        assert (GOLDEN / f"{name}.expected.json").exists(), name
    for name in STREAMS:
        assert (GOLDEN / f"{name}.expected.sse").exists(), name
