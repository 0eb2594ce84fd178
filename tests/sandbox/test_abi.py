"""ABI 1 at the edges: what the host refuses to load, and which answers it refuses."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import wasmtime

from sandbox.abi import decode_output, encode_input
from sandbox.capabilities import LoadError, host_allowed
from sandbox.host import SandboxHost, SandboxSettings
from sandbox.manifest import load_manifest
from tests.sandbox.wasm_build import EXAMPLES, example, manifest

GOOD_EXPORTS = """
  (memory (export "memory") 2)
  (func (export "sy_abi_version") (result i32) i32.const {abi})
  (func (export "sy_input") (param i32) (result i32) i32.const 1024)
  (func (export "sy_on_request") (param i32) (result i64)
    (i32.store (i32.const 2048) (i32.const 0x7d7b))  ;; "{{}}"
    i64.const 0x0000080000000002)
"""


def wat(body: str, abi: int = 1) -> bytes:
    return wasmtime.wat2wasm(f"(module {body} {GOOD_EXPORTS.format(abi=abi)})")


@pytest.fixture
def host() -> SandboxHost:
    return SandboxHost(SandboxSettings())


def load(host: SandboxHost, wasm: bytes, hooks: str = '["on_request"]') -> None:
    host.load(manifest=load_manifest(manifest("probe", hooks)), wasm=wasm)


async def test_a_hand_written_module_following_the_abi_works(host: SandboxHost) -> None:
    await host.start()
    load(host, wat(""))
    assert await host.call("probe", "on_request", {"request": {}}) == {}
    await host.close()


@pytest.mark.parametrize(("imports", "words"), [
    ('(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))',
     "imports wasi_snapshot_preview1.fd_write, which the host does not provide (no WASI is linked"),
    ('(import "switchyard" "spawn_shell" (func))', "imports switchyard.spawn_shell"),
    ('(import "env" "memory" (memory 1))', "imports env.memory"),
    ('(import "switchyard" "log" (func (param i32)))', "imports switchyard.log with the wrong signature"),
])
def test_imports_the_host_does_not_offer_refuse_the_module(host: SandboxHost, imports: str, words: str) -> None:
    with pytest.raises(LoadError, match="plugin 'probe' ") as caught:
        load(host, wat(imports))
    assert words in str(caught.value)


def test_a_module_for_another_abi_is_refused(host: SandboxHost) -> None:
    with pytest.raises(LoadError, match="built for ABI 2; this host speaks ABI 1"):
        load(host, wat("", abi=2))


def test_a_declared_hook_must_be_exported(host: SandboxHost) -> None:
    with pytest.raises(LoadError, match="declares hook 'route' but does not export 'sy_route'"):
        load(host, wat(""), hooks='["on_request", "route"]')


def test_a_module_needing_more_memory_than_its_limit_is_refused(host: SandboxHost) -> None:
    big = wasmtime.wat2wasm('(module (memory (export "memory") 1000)'
                            ' (func (export "sy_abi_version") (result i32) i32.const 1))')
    with pytest.raises(LoadError, match="cannot be instantiated within 16 MB"):
        load(host, big)


def test_not_wasm_at_all_is_refused(host: SandboxHost) -> None:
    with pytest.raises(LoadError, match="not a valid WebAssembly module"):
        load(host, b"\0asm\x01\0\0\0garbage")


@pytest.mark.parametrize("name", ["pii-redactor", "custom-router", "usage-notifier"])
def test_sdk_builds_import_nothing_but_the_switchyard_module(name: str) -> None:
    _, wasm = example(name)
    module = wasmtime.Module(wasmtime.Engine(), Path(wasm).read_bytes())
    assert {i.module for i in module.imports} <= {"switchyard"}
    assert {"memory", "sy_abi_version", "sy_input"} <= {e.name for e in module.exports}


@pytest.mark.parametrize(("hook", "raw"), [
    ("on_request", b'{"rejected": true}'),
    ("on_request", b'{"reject": {"message": "no", "status": 200}}'),
    ("on_request", b'{"body": "not an object"}'),
    ("route", b'{"route": "no-comma"}'),
    ("route", b'{"route": "a,b", "reason": "has spaces"}'),
    ("on_response", b"[]"),
    ("on_usage", b""),
])
def test_answers_outside_their_hooks_shape_are_refused(hook: str, raw: bytes) -> None:
    with pytest.raises(ValueError, match=f"not a valid {hook} decision"):
        decode_output(hook, raw)


def test_answers_in_shape_decode() -> None:
    assert msgspec.to_builtins(decode_output("route", b'{"route": "fake,gpt-4o", "reason": "long"}')) == \
        {"route": "fake,gpt-4o", "reason": "long"}
    assert decode_output("on_request", b'{"reject": {"message": "no PII"}}').reject.status == 403  # type: ignore[attr-defined]
    assert encode_input("route", {"request": {"model": "m"}}) == b'{"hook":"route","request":{"model":"m"}}'


@pytest.mark.parametrize(("url", "allowed", "ok"), [
    ("http://127.0.0.1:8787/usage", ("127.0.0.1:8787",), True),
    ("http://127.0.0.1:8788/usage", ("127.0.0.1:8787",), False),
    ("https://hooks.example.com/x", ("hooks.example.com",), True),
    ("https://hooks.example.com:8443/x", ("hooks.example.com",), False),
    ("https://evil.example.com/x", ("hooks.example.com",), False),
    ("http://hooks.example.com.evil.org/", ("hooks.example.com",), False),
    ("http://user@hooks.example.com/", ("hooks.example.com",), False),
    ("file:///etc/passwd", ("hooks.example.com",), False),
    ("http://[::1]:9000/", ("[::1]:9000",), True),
])
def test_http_reaches_only_listed_hosts(url: str, allowed: tuple[str, ...], ok: bool) -> None:
    assert host_allowed(url, allowed) is ok


def test_examples_manifests_are_valid() -> None:
    for folder in [EXAMPLES / n for n in ("pii-redactor", "custom-router", "usage-notifier")] + \
            sorted((EXAMPLES / "hostile").iterdir()):
        if folder.is_dir():
            assert load_manifest(folder / "plugin.toml").abi == 1
