"""plugin.toml: a good manifest loads; every bad field is refused with its key named."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from sandbox.manifest import Limits, ManifestError, from_builtins, load_manifest, to_builtins

GOOD = """\
name = "pii-redactor"
version = "0.1.0"
summary = "Masks emails, phone and card numbers in prompts"
license = "Apache-2.0"
category = "security"
abi = 1
min_host_version = "0.1.0"
hooks = ["on_request"]
capabilities = ["log", "http"]
[limits]
fuel = 20_000_000
memory_mb = 16
timeout_ms = 50
[http]
allowed_hosts = ["hooks.example.com", "127.0.0.1:8080"]
[config]
mask = "[redacted]"
patterns = ["email", "card"]
"""


def good() -> dict[str, Any]:
    return to_builtins(load_manifest(GOOD))


def test_the_documented_example_loads() -> None:
    m = load_manifest(GOOD)
    assert (m.name, m.version, m.category, m.abi) == ("pii-redactor", "0.1.0", "security", 1)
    assert m.hooks == ("on_request",) and m.capabilities == ("log", "http")
    assert m.limits == Limits(fuel=20_000_000, memory_mb=16, timeout_ms=50)
    assert m.http is not None and m.http.allowed_hosts == ("hooks.example.com", "127.0.0.1:8080")
    assert m.config == {"mask": "[redacted]", "patterns": ["email", "card"]}
    assert m.package_name == "pii-redactor-0.1.0.syp"


def test_the_stored_json_form_round_trips() -> None:
    m = load_manifest(GOOD)
    assert from_builtins(to_builtins(m)) == m


def test_optional_sections_default() -> None:
    data = good()
    for key in ("capabilities", "limits", "http", "config"):
        data.pop(key)
    m = from_builtins(data)
    assert m.capabilities == () and m.limits == Limits() and m.http is None and m.config == {}


def test_a_path_is_read(tmp_path: Path) -> None:
    path = tmp_path / "plugin.toml"
    path.write_text(GOOD)
    assert load_manifest(path).name == "pii-redactor"
    assert load_manifest(str(path)).name == "pii-redactor"


def test_a_missing_file_and_bad_toml_are_named(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"nope\.toml: cannot read"):
        load_manifest(tmp_path / "nope.toml")
    with pytest.raises(ManifestError, match=r"^plugin\.toml: not valid TOML"):
        load_manifest('name = "x"\nversion = ')
    with pytest.raises(ManifestError, match=r"not UTF-8"):
        load_manifest(b'name = "\xff"\n')


BAD: list[tuple[str, Any, str]] = [
    ("name", "PII", "name: 'PII' must be 2-40 characters"),
    ("name", "x", "name: 'x' must be 2-40"),
    ("name", "a" * 41, "name: .* must be 2-40"),
    ("name", "../evil", "name: '../evil' must be"),
    ("name", 7, "name: expected a string, got an integer"),
    ("version", "1.0", "version: '1.0' is not a MAJOR.MINOR.PATCH"),
    ("version", "01.0.0", "version: '01.0.0' is not"),
    ("version", "1.0.0/../x", "version: .* is not"),
    ("summary", "", "summary: expected one line"),
    ("summary", "two\nlines", "summary: expected one line"),
    ("summary", "x" * 201, "summary: expected one line of 1-200"),
    ("license", " ", "license: expected a license name"),
    ("category", "games", "category: unknown category 'games'; expected one of security, routing"),
    ("abi", 0, "abi: expected an integer >= 1, got 0"),
    ("abi", True, "abi: expected an integer >= 1, got True"),
    ("abi", "1", "abi: expected an integer >= 1, got '1'"),
    ("min_host_version", "latest", "min_host_version: 'latest' is not"),
    ("hooks", [], "hooks: expected at least one of on_request"),
    ("hooks", "on_request", "hooks: expected a list of strings, got a string"),
    ("hooks", ["on_request", "on_bogus"], r"hooks\[1\]: unknown hook 'on_bogus'"),
    ("hooks", ["on_request", "on_request"], r"hooks\[1\]: 'on_request' is listed twice"),
    ("hooks", [1], r"hooks\[0\]: expected a string, got an integer"),
    ("capabilities", ["log", "files"], r"capabilities\[1\]: unknown capability 'files'"),
    ("limits", {"memory_mb": 0}, "limits.memory_mb: expected an integer >= 1, got 0"),
    ("limits", {"fuel": -5}, "limits.fuel: expected an integer >= 1"),
    ("limits", {"timeout_ms": 1.5}, "limits.timeout_ms: expected an integer >= 1"),
    (
        "limits",
        {"cpu": 1},
        "limits.cpu: unknown limit; expected one of fuel, memory_mb, timeout_ms",
    ),
    ("limits", 5, "limits: expected a table, got an integer"),
    ("http", {"allowed_hosts": []}, "http.allowed_hosts: expected a non-empty list"),
    (
        "http",
        {"allowed_hosts": ["https://x.com"]},
        r"http.allowed_hosts\[0\]: 'https://x.com' is not",
    ),
    ("http", {"allowed_hosts": ["x.com/path"]}, r"http.allowed_hosts\[0\]: .* no scheme or path"),
    ("http", {"allowed_hosts": ["x.com:99999"]}, r"http.allowed_hosts\[0\]"),
    ("http", {"allowed_hosts": ["x.com", "x.com"]}, "http.allowed_hosts: a host is listed twice"),
    ("http", {"hosts": ["x.com"]}, "http.hosts: unknown key; expected allowed_hosts"),
    ("config", [1], "config: expected a table of settings, got a list"),
]


@pytest.mark.parametrize(
    ("key", "value", "message"), BAD, ids=[f"{k}={v!r}"[:40] for k, v, _ in BAD]
)
def test_each_bad_field_is_named(key: str, value: Any, message: str) -> None:
    data = good()
    data[key] = value
    with pytest.raises(ManifestError) as caught:
        from_builtins(data)
    assert re.search("^plugin.toml: " + message, str(caught.value)), str(caught.value)


@pytest.mark.parametrize(
    "key", ["name", "version", "summary", "license", "category", "abi", "min_host_version", "hooks"]
)
def test_each_required_key_is_named_when_missing(key: str) -> None:
    data = good()
    del data[key]
    with pytest.raises(ManifestError, match=f"^plugin.toml: {key}: required key is missing$"):
        from_builtins(data)


def test_a_misspelt_capabilities_key_is_refused() -> None:
    text = GOOD.replace("capabilities = [", "capabilites = [")
    with pytest.raises(
        ManifestError, match="^plugin.toml: capabilites: unknown key; expected one of name"
    ):
        load_manifest(text)


def test_http_hosts_are_required_exactly_when_http_is_asked_for() -> None:
    data = good()
    del data["http"]
    with pytest.raises(
        ManifestError,
        match='^plugin.toml: http.allowed_hosts: required because capabilities include "http"$',
    ):
        from_builtins(data)
    data = good()
    data["capabilities"] = ["log"]
    with pytest.raises(
        ManifestError, match='^plugin.toml: http: given but capabilities do not include "http"'
    ):
        from_builtins(data)


def test_config_values_must_be_json() -> None:
    text = GOOD + "since = 2024-01-01\n"
    with pytest.raises(ManifestError, match=r"^plugin.toml: config.since: expected a JSON value"):
        load_manifest(text)


def test_errors_from_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "plugin.toml"
    path.write_text(GOOD.replace("abi = 1", "abi = 0"))
    with pytest.raises(
        ManifestError, match=f"^{re.escape(str(path))}: abi: expected an integer >= 1"
    ):
        load_manifest(path)


def test_hosts_with_ports_and_ipv6_are_accepted() -> None:
    data = good()
    data["http"] = {"allowed_hosts": ["api.example.com:443", "[::1]:8080", "localhost"]}
    assert from_builtins(data).http.allowed_hosts == (
        "api.example.com:443",
        "[::1]:8080",
        "localhost",
    )
