"""The wasm plugin manifest (``plugin.toml``): its model and its validation.

Validation is hand-written rather than left to ``msgspec.convert`` so that every
error names the key the author has to fix (``limits.memory_mb``, ``hooks[1]``) and
says what was expected; unknown keys are refused because a misspelt
``capabilites`` would otherwise silently ask for nothing. TOML and the JSON copy
kept in the store share one dict shape, so both go through :func:`from_builtins`.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

__all__ = [
    "CAPABILITIES",
    "CAPABILITY_HELP",
    "CATEGORIES",
    "HOOKS",
    "Http",
    "Limits",
    "Manifest",
    "ManifestError",
    "from_builtins",
    "load_manifest",
    "parse_version",
    "to_builtins",
]

HOOKS = ("on_request", "route", "on_response", "on_usage")
CAPABILITIES = ("log", "kv", "http", "config")
CATEGORIES = ("security", "routing", "observability", "notifications", "other")
CAPABILITY_HELP = {
    "log": "write lines to the gateway's log",
    "kv": "keep its own key-value data in the gateway's database",
    "http": "make HTTP requests, only to the hosts listed in the manifest",
    "config": "read its own settings",
}

_NAME_RE = re.compile(r"[a-z][a-z0-9-]{1,39}")
_SEMVER_RE = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_HOST_RE = re.compile(
    r"(?P<host>[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?"
)
_TOP_KEYS = (
    "name", "version", "summary", "license", "category", "abi", "min_host_version",
    "hooks", "capabilities", "limits", "http", "config",
)  # fmt: skip
_LIMIT_KEYS = ("fuel", "memory_mb", "timeout_ms")
_MAX_SUMMARY = 200


class ManifestError(ValueError):
    """A manifest is invalid; ``key`` is the dotted key at fault (or None for the file)."""

    def __init__(self, key: str | None, problem: str, *, source: str = "plugin.toml") -> None:
        self.key = key
        self.problem = problem
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + problem)


class Limits(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Per-call limits the plugin asks for; None means the admin's default."""

    fuel: int | None = None
    memory_mb: int | None = None
    timeout_ms: int | None = None


class Http(msgspec.Struct, frozen=True, kw_only=True):
    """Hosts (``host`` or ``host:port``) the ``http`` capability may reach."""

    allowed_hosts: tuple[str, ...] = ()


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """A validated ``plugin.toml``. Build it with :func:`load_manifest`, not directly."""

    name: str
    version: str
    summary: str
    license: str
    category: str
    abi: int
    min_host_version: str
    hooks: tuple[str, ...]
    capabilities: tuple[str, ...] = ()
    limits: Limits = Limits()
    http: Http | None = None
    config: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def package_name(self) -> str:
        """The file name :func:`sandbox.package.pack` gives this plugin's package."""
        return f"{self.name}-{self.version}.syp"


def parse_version(text: str) -> tuple[int, int, int]:
    """``"1.2.3"`` -> ``(1, 2, 3)``; ValueError for anything that is not MAJOR.MINOR.PATCH."""
    match = _SEMVER_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a MAJOR.MINOR.PATCH version")
    return int(match[1]), int(match[2]), int(match[3])


def load_manifest(text_or_path: str | bytes | os.PathLike[str]) -> Manifest:
    """Parse and validate a manifest given as TOML text or as a path to ``plugin.toml``.

    A ``Path`` (or any ``PathLike``) is read; a ``str`` is TOML text unless it is a
    single line without ``=`` (then it is taken as a path).
    """
    source = "plugin.toml"
    if isinstance(text_or_path, bytes):
        text = _decode(text_or_path, source)
    elif isinstance(text_or_path, str) and ("\n" in text_or_path or "=" in text_or_path):
        text = text_or_path
    else:
        path = Path(text_or_path)
        source = str(path)
        try:
            text = _decode(path.read_bytes(), source)
        except OSError as exc:
            raise ManifestError(
                None, f"cannot read: {exc.strerror or exc}", source=source
            ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(None, f"not valid TOML: {exc}", source=source) from None
    return from_builtins(data, source=source)


def to_builtins(manifest: Manifest) -> dict[str, Any]:
    """The manifest as plain JSON-able data (what the store keeps); round-trips through from_builtins."""
    data = msgspec.json.decode(msgspec.json.encode(manifest))
    if manifest.http is None:
        data.pop("http", None)
    return data


def from_builtins(data: Any, *, source: str = "plugin.toml") -> Manifest:
    """Validate already-parsed manifest data (from TOML or the store's JSON copy)."""

    def fail(key: str | None, problem: str) -> ManifestError:
        return ManifestError(key, problem, source=source)

    if not isinstance(data, dict):
        raise fail(None, f"expected a table of keys, got {_kind(data)}")
    for key in data:
        if key not in _TOP_KEYS:
            raise fail(key, f"unknown key; expected one of {', '.join(_TOP_KEYS)}")
    for key in (
        "name",
        "version",
        "summary",
        "license",
        "category",
        "abi",
        "min_host_version",
        "hooks",
    ):
        if key not in data:
            raise fail(key, "required key is missing")

    name = _string(data, "name", fail)
    if not _NAME_RE.fullmatch(name):
        raise fail(
            "name", f"{name!r} must be 2-40 characters of a-z, 0-9 and '-', starting with a letter"
        )
    version = _semver(data, "version", fail)
    summary = _string(data, "summary", fail).strip()
    if not summary or len(summary) > _MAX_SUMMARY or "\n" in summary:
        raise fail("summary", f"expected one line of 1-{_MAX_SUMMARY} characters")
    license_ = _string(data, "license", fail).strip()
    if not license_:
        raise fail("license", "expected a license name such as 'Apache-2.0'")
    category = _string(data, "category", fail)
    if category not in CATEGORIES:
        raise fail(
            "category", f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}"
        )
    abi = _positive_int(data["abi"], "abi", fail)
    min_host_version = _semver(data, "min_host_version", fail)
    hooks = _names(data["hooks"], "hooks", HOOKS, "hook", fail)
    if not hooks:
        raise fail("hooks", f"expected at least one of {', '.join(HOOKS)}")
    capabilities = _names(
        data.get("capabilities", []), "capabilities", CAPABILITIES, "capability", fail
    )
    limits = _limits(data.get("limits", {}), fail)
    http = _http(data.get("http"), "http" in capabilities, fail)
    config = data.get("config", {})
    if not isinstance(config, dict):
        raise fail("config", f"expected a table of settings, got {_kind(config)}")
    _json_value(config, "config", fail)
    return Manifest(
        name=name,
        version=version,
        summary=summary,
        license=license_,
        category=category,
        abi=abi,
        min_host_version=min_host_version,
        hooks=hooks,
        capabilities=capabilities,
        limits=limits,
        http=http,
        config=config,
    )


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError(None, "not UTF-8 text", source=source) from None


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "a list", tuple: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _string(data: dict[str, Any], key: str, fail: Any) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise fail(key, f"expected a string, got {_kind(value)}")
    return value


def _semver(data: dict[str, Any], key: str, fail: Any) -> str:
    value = _string(data, key, fail)
    if not _SEMVER_RE.fullmatch(value):
        raise fail(key, f"{value!r} is not a MAJOR.MINOR.PATCH version such as '0.1.0'")
    return value


def _positive_int(value: Any, key: str, fail: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise fail(key, f"expected an integer >= 1, got {value!r}")
    return value


def _names(value: Any, key: str, allowed: tuple[str, ...], noun: str, fail: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise fail(key, f"expected a list of strings, got {_kind(value)}")
    seen: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise fail(f"{key}[{i}]", f"expected a string, got {_kind(item)}")
        if item not in allowed:
            raise fail(
                f"{key}[{i}]", f"unknown {noun} {item!r}; expected one of {', '.join(allowed)}"
            )
        if item in seen:
            raise fail(f"{key}[{i}]", f"{item!r} is listed twice")
        seen.append(item)
    return tuple(seen)


def _limits(value: Any, fail: Any) -> Limits:
    if not isinstance(value, dict):
        raise fail("limits", f"expected a table, got {_kind(value)}")
    for key in value:
        if key not in _LIMIT_KEYS:
            raise fail(f"limits.{key}", f"unknown limit; expected one of {', '.join(_LIMIT_KEYS)}")
    return Limits(**{key: _positive_int(v, f"limits.{key}", fail) for key, v in value.items()})


def _http(value: Any, asked: bool, fail: Any) -> Http | None:
    if value is None:
        if asked:
            raise fail("http.allowed_hosts", 'required because capabilities include "http"')
        return None
    if not asked:
        raise fail("http", 'given but capabilities do not include "http"; add it or remove [http]')
    if not isinstance(value, dict):
        raise fail("http", f"expected a table, got {_kind(value)}")
    for key in value:
        if key != "allowed_hosts":
            raise fail(f"http.{key}", "unknown key; expected allowed_hosts")
    hosts = value.get("allowed_hosts")
    if hosts is None:
        raise fail("http.allowed_hosts", 'required because capabilities include "http"')
    if not isinstance(hosts, list | tuple) or not hosts:
        raise fail("http.allowed_hosts", "expected a non-empty list of 'host' or 'host:port'")
    for i, host in enumerate(hosts):
        key = f"http.allowed_hosts[{i}]"
        if not isinstance(host, str):
            raise fail(key, f"expected a string, got {_kind(host)}")
        match = _HOST_RE.fullmatch(host)
        if match is None or (match["port"] is not None and not 1 <= int(match["port"]) <= 65535):
            raise fail(key, f"{host!r} is not 'host' or 'host:port' (lowercase, no scheme or path)")
    if len(set(hosts)) != len(hosts):
        raise fail("http.allowed_hosts", "a host is listed twice")
    return Http(allowed_hosts=tuple(hosts))


def _json_value(value: Any, key: str, fail: Any) -> None:
    """TOML allows dates and times, which JSON (and so the plugin ABI) cannot carry."""
    if isinstance(value, dict):
        for k, v in value.items():
            _json_value(v, f"{key}.{k}", fail)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _json_value(v, f"{key}[{i}]", fail)
    elif not isinstance(value, str | int | float | bool):
        raise fail(
            key,
            f"expected a JSON value (string, number, boolean, list or table), got {_kind(value)}",
        )
