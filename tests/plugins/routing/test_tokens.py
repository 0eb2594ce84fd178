"""The offline token estimator (plugins/routing/tokens.py) against a real tokenizer, and its invariants.

The reference is the legacy Claude tokenizer as packaged by ``anthropic-tokenizer`` 0.1.0: Anthropic's
own tokenizer.json from anthropic-sdk-python before 0.39, embedded in a Rust extension. Only its
native ``count_tokens`` is called here, which never touches the network (the package's
``ApiTokenizer`` would call Anthropic's API when ANTHROPIC_API_KEY is set: it is not used).
How the corpus and the bounds were chosen is in plugins/routing/TOKENS.md.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from plugins.routing import tokens
from plugins.routing.tokens import count_request_tokens, count_text_tokens

CORPUS = Path(__file__).parent / "token_corpus"
REQUEST_FILE = "claude_code_request.json"
TEXT_FILES = sorted(p.name for p in CORPUS.iterdir() if p.name != REQUEST_FILE)
FILE_BOUND = 0.12  # each corpus file within ±12% of the reference (measured: at most 7.1%, German)
TOTAL_BOUND = 0.04  # the whole corpus within ±4% (measured: -0.2%)
REFERENCE_VERSION = "0.1.0"


def _text(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


def _request() -> dict[str, Any]:
    return json.loads(_text(REQUEST_FILE))


@pytest.fixture(scope="module")
def reference() -> Any:
    """The reference tokenizer's count function; the test is skipped when it is not installed."""
    at = pytest.importorskip(
        "anthropic_tokenizer",
        reason=f"reference tokenizer not installed: pip install anthropic-tokenizer=={REFERENCE_VERSION} "
        "(the legacy Claude tokenizer, offline) to check the estimator's accuracy",
    )
    assert at.vocab_size() == 65_000, "not the legacy Claude vocabulary the weights were fitted to"
    return at.count_tokens


def _reference_request_tokens(body: dict[str, Any], reference: Any, monkeypatch: pytest.MonkeyPatch) -> int:
    """The same structure as count_request_tokens (3 per message, 1,600 per image, tools as JSON),
    with every text counted by the reference tokenizer instead of the estimator."""
    with monkeypatch.context() as patched:
        patched.setattr(tokens, "count_text_tokens", reference)
        return count_request_tokens(body)


def _pairs(reference: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[int, int]]:
    pairs = {name: (count_text_tokens(_text(name)), reference(_text(name))) for name in TEXT_FILES}
    body = _request()
    pairs[REQUEST_FILE] = (count_request_tokens(body), _reference_request_tokens(body, reference, monkeypatch))
    return pairs


# -- accuracy against the reference tokenizer ------------------------------------------------------


@pytest.mark.parametrize("name", [*TEXT_FILES, REQUEST_FILE])
def test_each_corpus_file_is_within_the_bound(name: str, reference: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    if name == REQUEST_FILE:
        body = _request()
        estimate, real = count_request_tokens(body), _reference_request_tokens(body, reference, monkeypatch)
    else:
        estimate, real = count_text_tokens(_text(name)), reference(_text(name))
    error = (estimate - real) / real
    assert abs(error) <= FILE_BOUND, f"{name}: estimated {estimate}, reference {real} ({error:+.1%})"


def test_the_whole_corpus_is_within_the_tighter_bound(reference: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = _pairs(reference, monkeypatch)
    estimate = sum(e for e, _ in pairs.values())
    real = sum(r for _, r in pairs.values())
    assert abs(estimate - real) / real <= TOTAL_BOUND, f"corpus: estimated {estimate}, reference {real}"


def test_the_corpus_covers_what_the_docs_say() -> None:
    assert {"prose_en.txt", "code_python.txt", "tools_schema.json", "shell_log.txt", "prose_de.txt",
            "prose_fr.txt", "prose_zh.txt", "prose_ja.txt", "numbers.txt", REQUEST_FILE} <= set(TEXT_FILES + [REQUEST_FILE])
    body = _request()
    assert len(body["tools"]) >= 12
    kinds = {block["type"] for m in body["messages"] if isinstance(m["content"], list) for block in m["content"]}
    assert {"text", "thinking", "tool_use", "tool_result", "image"} <= kinds


# -- invariants that need no reference ------------------------------------------------------------


def test_empty_input_is_zero() -> None:
    assert count_text_tokens("") == 0
    assert count_request_tokens({}) == 0
    assert count_request_tokens({"messages": [], "tools": [], "system": ""}) == 0
    assert count_request_tokens({"system": [], "messages": None}) == 0


def test_any_non_empty_text_is_at_least_one_token() -> None:
    for text in ("a", " ", "\n", ".", "7", "é", "中", "\U0001f600", "\t", "\x00", "\ud800"):
        assert count_text_tokens(text) >= 1, repr(text)


@pytest.mark.parametrize("name", TEXT_FILES)
def test_monotonic_in_text_length(name: str) -> None:
    text = _text(name)
    previous = 0
    for end in range(0, len(text) + 1, 37):
        count = count_text_tokens(text[:end])
        assert count >= previous, f"{name}: {count} tokens for {end} characters, {previous} for fewer"
        previous = count
    assert count_text_tokens(text) >= previous
    assert count_text_tokens(text + text) >= count_text_tokens(text) * 1.9


def test_more_text_of_each_kind_costs_more() -> None:
    for unit in ("word ", "CamelCase", "12345 ", "=", "  ", "\n", "日本", "é", "—", "\t"):
        counts = [count_text_tokens("x" + unit * n) for n in (1, 10, 100, 1000)]
        assert counts == sorted(counts), (unit, counts)
        assert counts[-1] > counts[0], (unit, counts)


def test_cjk_is_counted_per_character() -> None:
    for chars in ("中文字符测试", "日本語のテキスト", "한국어문장"):
        text = chars * 100
        count = count_text_tokens(text)
        assert 0.9 * len(text) <= count <= 1.5 * len(text), (chars, count)
    # A long run of ideographs is not one "word": it costs about as much as its characters.
    assert count_text_tokens("漢" * 50) >= 45
    # ...far more than English of the same number of characters.
    assert count_text_tokens("中" * 400) > 3 * count_text_tokens("the cat " * 50)


def test_english_costs_about_one_token_per_word() -> None:
    sentence = "The quick brown fox jumps over the lazy dog and runs back into the forest. "
    count = count_text_tokens(sentence * 20)
    assert 0.9 * 16 * 20 <= count <= 1.3 * 16 * 20


def _body(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hello"}], **extra}


def test_tool_definitions_are_counted() -> None:
    tools = _request()["tools"]
    without, with_tools = count_request_tokens(_body()), count_request_tokens(_body(tools=tools))
    assert with_tools - without == count_text_tokens(msgspec.json.encode(tools).decode())
    assert with_tools - without > 2_000  # twelve Claude Code tools are a few thousand tokens
    assert count_request_tokens(_body(tools=tools + tools)) > with_tools


def test_tool_use_inputs_are_counted() -> None:
    def call(command: str) -> dict[str, Any]:
        return {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": command}}]}

    short = count_request_tokens({"messages": [call("ls")]})
    long = count_request_tokens({"messages": [call("grep -rn 'def count_tokens' plugins/ tests/ " * 50)]})
    assert short >= 3 + count_text_tokens("Bash")
    assert long - short > 300


def test_tool_results_and_thinking_are_counted() -> None:
    log = _text("shell_log.txt")
    as_string = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": log}]}
    as_blocks = {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": log}]}]}
    thinking = {"role": "assistant", "content": [{"type": "thinking", "thinking": log, "signature": "x"}]}
    for message in (as_string, as_blocks, thinking):
        assert count_request_tokens({"messages": [message]}) == 3 + count_text_tokens(log)


def test_images_are_counted_flat() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    text = {"type": "text", "text": "what is in this picture?"}
    base = count_request_tokens({"messages": [{"role": "user", "content": [text]}]})
    one = count_request_tokens({"messages": [{"role": "user", "content": [image, text]}]})
    two = count_request_tokens({"messages": [{"role": "user", "content": [image, image, text]}]})
    nested = count_request_tokens({"messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": [image]}, text]}]})
    assert one - base == two - one == nested - base == 1_600


def test_the_request_adds_up_its_parts() -> None:
    body = _request()
    total = count_request_tokens(body)
    assert total == (count_request_tokens({"system": body["system"]})
                     + sum(count_request_tokens({"messages": [m]}) for m in body["messages"])
                     + count_request_tokens({"tools": body["tools"]}))
    assert total > 5_000


def test_malformed_content_is_ignored_not_fatal() -> None:
    body = {"system": 42, "messages": [None, "x", {"role": "user", "content": [None, 3, {"type": "unknown"}]},
                                       {"role": "user", "content": {"type": "text"}}]}
    assert count_request_tokens(body) == 6  # two messages, 3 each, nothing countable inside


def test_counting_does_not_change_the_body() -> None:
    body = _request()
    before = copy.deepcopy(body)
    count_request_tokens(body)
    assert body == before


def main() -> None:
    """Print the per-file table of TOKENS.md: python -m tests.plugins.routing.test_tokens"""
    import anthropic_tokenizer

    with pytest.MonkeyPatch.context() as monkeypatch:
        pairs = _pairs(anthropic_tokenizer.count_tokens, monkeypatch)
    pairs["all files"] = (sum(e for e, _ in pairs.values()), sum(r for _, r in pairs.values()))
    print("| file | reference | estimate | error |\n|---|---:|---:|---:|")
    for name, (estimate, real) in pairs.items():
        print(f"| {name} | {real} | {estimate} | {(estimate - real) / real:+.1%} |")


if __name__ == "__main__":
    main()
