"""Key scopes: what a scoped key may reach, bad patterns named by index, and the cost per check."""

from __future__ import annotations

from typing import Any

import pytest

from plugins.auth.errors import InvalidValue
from plugins.auth.scopes import Scopes, allows, compile_scopes, validate_scopes


@pytest.mark.parametrize(
    ("scopes", "path", "model", "expected"),
    [
        ((), "/v1/messages", "anything", True),  # no scopes: everything
        (("/v1/messages",), "/v1/messages", "claude-sonnet-4-5", True),
        (("/v1/messages",), "/v1/messages/count_tokens", None, False),  # exact, not a prefix
        (("/v1/messages",), "/v1/chat/completions", "gpt-4o", False),
        (("/v1/*",), "/v1/messages/count_tokens", None, True),
        (("/v1/*",), "/api/v1/keys", None, False),
        (("/v1/:endpoint",), "/v1/messages", None, True),  # one segment
        (("/v1/:endpoint",), "/v1/messages/count_tokens", None, False),
        (("/v1/chat.completions",), "/v1/chatXcompletions", None, False),  # '.' is literal
        (("model:claude-*",), "/v1/messages", "claude-haiku-4-5", True),
        (("model:claude-*",), "/v1/chat/completions", "gpt-4o", False),
        (("model:claude-*",), "/v1/messages", "Claude-haiku", False),  # case-sensitive
        (("model:claude-*",), "/v1/models", None, True),  # names no model: path only
        (("model:gpt-4o", "model:claude-?-haiku"), "/v1/messages", "claude-3-haiku", True),
        (("/v1/messages", "model:claude-*"), "/v1/messages", "claude-opus-4", True),
        (("/v1/messages", "model:claude-*"), "/v1/messages", "gpt-4o", False),  # both kinds
        (("/v1/messages", "model:claude-*"), "/v1/chat/completions", "claude-opus-4", False),
        (("/v1/messages", "/v1/chat/completions"), "/v1/chat/completions", "gpt-4o", True),
    ],
)
def test_allows(scopes: tuple[str, ...], path: str, model: str | None, expected: bool) -> None:
    assert allows(scopes, path, model) is expected
    assert allows(compile_scopes(scopes), path, model) is expected  # precompiled: same answer


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        (["/v1/*", ""], r"^scopes\[1\]: is empty"),
        (["/v1/*", "  "], r"^scopes\[1\]: is empty"),
        (["messages"], r"^scopes\[0\]: 'messages' is neither an endpoint pattern"),
        (["/v1/*", "model:"], r"^scopes\[1\]: 'model:' needs a model name"),
        (["model:claude 3"], r"^scopes\[0\]: 'model:claude 3': a model pattern has no spaces"),
        (["model:claude-[a"], r"^scopes\[0\]: .*unbalanced"),
        (["/v1/two words"], r"^scopes\[0\]: '/v1/two words': an endpoint pattern is a path"),
        (["/v1//messages"], r"^scopes\[0\]: .*empty path segment"),
        (["/v1/a:b"], r"^scopes\[0\]: .*':name' must be a whole path segment"),
        (["/v1/*", 7], r"^scopes\[1\]: expected a string pattern, got int"),
        (["/" + "a" * 300], r"^scopes\[0\]: is 301 characters long"),
        ("/v1/*", r"^scopes: must be a list of patterns, not the string"),
        ([f"/v1/k{i}" for i in range(51)], r"^scopes: 51 patterns given; at most 50"),
    ],
)
def test_bad_patterns_name_their_index(scopes: object, message: str) -> None:
    with pytest.raises(InvalidValue, match=message) as caught:
        validate_scopes(scopes)  # type: ignore[arg-type]
    assert caught.value.field.startswith("scopes")


def test_validation_trims_and_deduplicates_in_order() -> None:
    assert validate_scopes([" /v1/messages ", "model:claude-*", "/v1/messages"]) == (
        "/v1/messages",
        "model:claude-*",
    )
    assert validate_scopes(None) == () and validate_scopes([]) == ()


def test_compiled_scopes_still_read_as_a_tuple_of_strings() -> None:
    compiled = compile_scopes(("/v1/*", "model:claude-*"))
    assert isinstance(compiled, Scopes) and compiled == ("/v1/*", "model:claude-*")
    assert list(compiled) == ["/v1/*", "model:claude-*"]


# -- on the AI endpoints, through the routing plugin ------------------------------------------


def test_a_scoped_key_on_the_ai_endpoints(client_for: Any) -> None:
    """Routing asks the key cache's allows() for keys with scopes: the path and the model."""
    from tests.plugins.auth.helpers import AUTH, ROUTING, member
    from tests.plugins.auth.people import on_app_loop, service_of

    client = client_for([ROUTING, AUTH])
    service = service_of(client)

    async def setup() -> tuple[str, str]:
        await member(service, "alice@example.com", "team-a", "user")
        scoped, _ = await service.create_key(
            "alice@example.com", "team-a", scopes=["/v1/messages", "model:claude-*"]
        )
        anything, _ = await service.create_key("alice@example.com", "team-a")
        return scoped, anything

    scoped, anything = on_app_loop(client, setup)

    def ask(key: str, path: str, model: str) -> Any:
        return client.post(
            path,
            headers={"x-api-key": key},
            json={
                "model": model,
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )

    assert ask(scoped, "/v1/messages", "claude-sonnet-4-5").status_code == 200
    refused = ask(scoped, "/v1/messages", "gpt-4o")
    assert refused.status_code == 403
    assert "this API key's scopes do not allow /v1/messages with model 'gpt-4o'" in refused.text
    assert ask(scoped, "/v1/chat/completions", "claude-sonnet-4-5").status_code == 403
    assert ask(anything, "/v1/chat/completions", "gpt-4o").status_code == 200
