"""What an API key may reach: endpoint patterns and model patterns, checked on the hot path.

A key's ``scopes`` list mixes two kinds of pattern; an empty list means everything.

- **Endpoint patterns** start with ``/`` and use Casbin's keyMatch2 shape, as the policy does:
  ``/v1/messages`` is that path only, ``/v1/*`` everything below ``/v1/``, and ``:name`` one
  path segment (``/v1/:endpoint``). Unlike Casbin, other characters are literal (a ``.`` is
  a dot, not "any character"), so a pattern can never mean more than it reads.
- **Model patterns** start with ``model:`` and use shell wildcards (fnmatch, case-sensitive):
  ``model:claude-*``, ``model:gpt-4o``, ``model:claude-?-haiku``.

A request passes when each kind present in the list has a pattern that matches: a key scoped to
``["/v1/messages", "model:claude-*"]`` may send Claude models to the Messages endpoint and
nothing else. A request that names no model (``GET /v1/models``) is checked on its path only.

:func:`validate_scopes` runs where scopes are written (API, forms, CLI) and names the bad
entry's index; :func:`compile_scopes` runs once per key when the key cache loads it, so
:func:`allows` on the hot path is at most two precompiled regex matches.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from plugins.auth.errors import InvalidValue

__all__ = ["MAX_SCOPES", "MODEL_PREFIX", "Scopes", "allows", "compile_scopes", "validate_scopes"]

MODEL_PREFIX = "model:"
MAX_SCOPES = 50
MAX_PATTERN_LENGTH = 200
# Path characters a route can have, plus the pattern's own "*" and ":name".
_ENDPOINT_CHARS = re.compile(r"/[A-Za-z0-9._~\-/*:]*")
_PARAM = re.compile(r":[A-Za-z_][A-Za-z0-9_]*")
_MODEL_CHARS = re.compile(r"[A-Za-z0-9._~\-/:@*?\[\]!+]+")


class Scopes(tuple[str, ...]):
    """A key's scope patterns (still a plain tuple of strings to every reader) with their
    matchers compiled once; :func:`allows` uses them directly."""

    endpoints: re.Pattern[str] | None
    models: re.Pattern[str] | None


def _endpoint_regex(pattern: str) -> str:
    """keyMatch2 semantics with everything else literal: ``*`` any run, ``:name`` one segment."""
    out: list[str] = []
    pos = 0
    for match in re.finditer(r"\*|:[A-Za-z_][A-Za-z0-9_]*", pattern):
        out.append(re.escape(pattern[pos : match.start()]))
        out.append(".*" if match.group() == "*" else "[^/]+")
        pos = match.end()
    out.append(re.escape(pattern[pos:]))
    return "".join(out)


def _check_one(index: int, scope: object) -> str:
    where = f"scopes[{index}]"
    if not isinstance(scope, str):
        raise InvalidValue(where, f"expected a string pattern, got {type(scope).__name__}")
    scope = scope.strip()
    if not scope:
        raise InvalidValue(
            where, "is empty; write an endpoint ('/v1/messages') or a model ('model:claude-*')"
        )
    if len(scope) > MAX_PATTERN_LENGTH:
        raise InvalidValue(
            where, f"is {len(scope)} characters long; at most {MAX_PATTERN_LENGTH} allowed"
        )
    if scope.startswith(MODEL_PREFIX):
        model = scope[len(MODEL_PREFIX) :]
        if not model:
            raise InvalidValue(
                where, "'model:' needs a model name or pattern after it, e.g. 'model:claude-*'"
            )
        if not _MODEL_CHARS.fullmatch(model):
            raise InvalidValue(where, f"{scope!r}: a model pattern has no spaces, commas or quotes")
        if model.count("[") != model.count("]"):
            raise InvalidValue(where, f"{scope!r}: unbalanced '[' ']' in the model pattern")
        return scope
    if scope.startswith("/"):
        if not _ENDPOINT_CHARS.fullmatch(scope):
            raise InvalidValue(
                where,
                f"{scope!r}: an endpoint pattern is a path of letters, digits and -._~ with "
                "'*' and ':name' wildcards (e.g. '/v1/*')",
            )
        if "//" in scope:
            raise InvalidValue(where, f"{scope!r}: empty path segment ('//')")
        for part in scope.split("/"):
            if ":" in part and not _PARAM.fullmatch(part):
                raise InvalidValue(where, f"{scope!r}: ':name' must be a whole path segment")
        return scope
    raise InvalidValue(
        where,
        f"{scope!r} is neither an endpoint pattern (starting with '/', e.g. '/v1/messages') nor a "
        "model pattern (starting with 'model:', e.g. 'model:claude-*')",
    )


def validate_scopes(scopes: Iterable[object] | None) -> tuple[str, ...]:
    """The clean, deduplicated patterns (order kept); raises InvalidValue naming ``scopes[i]``."""
    if scopes is None:
        return ()
    if isinstance(scopes, (str, bytes)):
        raise InvalidValue("scopes", f"must be a list of patterns, not the string {scopes!r}")
    clean: list[str] = []
    for index, scope in enumerate(scopes):
        value = _check_one(index, scope)
        if value not in clean:
            clean.append(value)
    if len(clean) > MAX_SCOPES:
        raise InvalidValue("scopes", f"{len(clean)} patterns given; at most {MAX_SCOPES} allowed")
    return tuple(clean)


def compile_scopes(scopes: Sequence[str]) -> Scopes:
    """Precompile stored patterns (already validated when written) into a :class:`Scopes`."""
    compiled = Scopes(scopes)
    endpoints = [_endpoint_regex(s) for s in compiled if not s.startswith(MODEL_PREFIX)]
    models = [
        fnmatch.translate(s[len(MODEL_PREFIX) :]) for s in compiled if s.startswith(MODEL_PREFIX)
    ]
    compiled.endpoints = re.compile("|".join(f"(?:{e})" for e in endpoints)) if endpoints else None
    compiled.models = re.compile("|".join(f"(?:{m})" for m in models)) if models else None
    return compiled


@lru_cache(maxsize=1024)
def _compiled(scopes: tuple[str, ...]) -> Scopes:
    return compile_scopes(scopes)


def allows(scopes: Sequence[str], path: str, model: str | None = None) -> bool:
    """Whether a key with ``scopes`` may call ``path`` for ``model`` (None: names no model)."""
    if not scopes:
        return True
    compiled = scopes if isinstance(scopes, Scopes) else _compiled(tuple(scopes))
    if compiled.endpoints is not None and compiled.endpoints.fullmatch(path) is None:
        return False
    return compiled.models is None or model is None or compiled.models.fullmatch(model) is not None
