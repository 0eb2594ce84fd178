"""Host functions, one per capability, linked into module ``switchyard``.

An import the plugin was not granted is linked to a stub that traps with
"capability X not granted" (a fault of kind ``capability``): a module may carry
optional features and still run, and using one without the admin's grant fails
loudly. Imports from anywhere else (WASI included) refuse the module at load.

``kv`` and ``http`` are async on the host side: their plugins' calls run in a worker
thread, and the host function blocks that thread on a future of the event loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import msgspec
import wasmtime

from sandbox.abi import CORE_IMPORTS, IMPORT_MODULE

__all__ = [
    "CAPABILITY_OF",
    "Guest",
    "HostServices",
    "KvBackend",
    "LoadError",
    "MemoryKv",
    "check_imports",
    "define_imports",
]

log = logging.getLogger("switchyard.sandbox.guest")

SY_NOT_FOUND, SY_DENIED, SY_FAILED, SY_BAD_ARGUMENT = -1, -2, -3, -4
ABORT_OUT_OF_MEMORY = 2
MAX_KEY = 256
MAX_VALUE = 64 * 1024
MAX_HTTP_BODY = 256 * 1024

I32 = wasmtime.ValType.i32()
# import name -> (capability or None for core, params, results)
_SIGNATURES: dict[str, tuple[str | None, int, int]] = {
    "abort": (None, 3, 0),
    "result": (None, 2, 1),
    "log": ("log", 3, 0),
    "kv_get": ("kv", 4, 1),
    "kv_set": ("kv", 4, 1),
    "kv_delete": ("kv", 2, 1),
    "http": ("http", 4, 1),
    "config": ("config", 2, 1),
}
CAPABILITY_OF = {name: cap for name, (cap, _, _) in _SIGNATURES.items() if cap}
ASYNC_CAPABILITIES = frozenset({"kv", "http"})


class LoadError(Exception):
    """A module cannot be loaded (bad imports or exports, ABI mismatch, limits too small)."""


class KvBackend(Protocol):
    """Plugin-scoped storage; the store's ``sandbox_kv`` table in production."""

    async def get(self, plugin: str, key: str) -> bytes | None: ...
    async def set(self, plugin: str, key: str, value: bytes) -> None: ...
    async def delete(self, plugin: str, key: str) -> None: ...


class MemoryKv:
    """A process-local KvBackend (tests, ``plugin test``)."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], bytes] = {}

    async def get(self, plugin: str, key: str) -> bytes | None:
        return self.data.get((plugin, key))

    async def set(self, plugin: str, key: str, value: bytes) -> None:
        self.data[(plugin, key)] = value

    async def delete(self, plugin: str, key: str) -> None:
        self.data.pop((plugin, key), None)


HttpFetch = Callable[[str, str, dict[str, str], bytes | None, float], Awaitable[tuple[int, bytes]]]


@dataclass
class HostServices:
    """What host functions reach: the loop they block on, kv and the HTTP client."""

    loop: asyncio.AbstractEventLoop | None = None
    kv: KvBackend | None = None
    fetch: HttpFetch | None = None
    http_timeout_s: float = 2.0


@dataclass
class Guest:
    """Per-instance state the host functions share with the call that is running."""

    plugin: str
    granted: frozenset[str]
    allowed_hosts: tuple[str, ...]
    config_json: bytes
    services: HostServices
    fault: tuple[str, str] | None = None
    pending: bytes | None = None
    on_enter_host: Callable[[], None] = lambda: None
    on_leave_host: Callable[[], None] = lambda: None
    log_lines: list[str] = field(default_factory=list)

    def trap(self, kind: str, message: str) -> wasmtime.Trap:
        self.fault = (kind, message)
        return wasmtime.Trap(message)


def check_imports(module: wasmtime.Module, plugin: str) -> None:
    """Refuse modules that import anything the host does not offer."""
    for imp in module.imports:
        if imp.module != IMPORT_MODULE or imp.name not in _SIGNATURES:
            hint = " (no WASI is linked: avoid stdio, files, clocks and the environment)" \
                if imp.module.startswith("wasi") else ""
            raise LoadError(
                f"plugin {plugin!r} imports {imp.module}.{imp.name}, which the host does not "
                f"provide{hint}; host functions live in module {IMPORT_MODULE!r}: "
                f"{', '.join(_SIGNATURES)}"
            )
        _, nparams, nresults = _SIGNATURES[imp.name]
        ty = imp.type
        if not isinstance(ty, wasmtime.FuncType) or len(ty.params) != nparams or len(ty.results) != nresults:
            raise LoadError(f"plugin {plugin!r} imports {IMPORT_MODULE}.{imp.name} with the wrong "
                            f"signature; expected {nparams} i32 parameter(s), {nresults} i32 result(s)")


# -- memory access ------------------------------------------------------------------------

def _base(caller: wasmtime.Caller) -> tuple[int, int]:
    memory = caller["memory"]
    assert isinstance(memory, wasmtime.Memory)
    address = ctypes.cast(memory.data_ptr(caller), ctypes.c_void_p).value or 0
    return address, memory.data_len(caller)


def read(caller: wasmtime.Caller, ptr: int, length: int, limit: int) -> bytes | None:
    base, size = _base(caller)
    if ptr < 0 or length < 0 or length > limit or ptr + length > size:
        return None
    return ctypes.string_at(base + ptr, length)


def write_result(guest: Guest, caller: wasmtime.Caller, data: bytes, out: int, cap: int) -> int:
    """Write ``data`` if it fits in ``cap``; otherwise keep it for ``result``. Returns its length."""
    if len(data) > cap:
        guest.pending = data
        return len(data)
    base, size = _base(caller)
    if out < 0 or out + len(data) > size:
        return SY_BAD_ARGUMENT
    ctypes.memmove(base + out, data, len(data))
    return len(data)


# -- the host functions --------------------------------------------------------------------

def _block(guest: Guest, work: Awaitable[Any], timeout: float) -> Any:
    """Run a coroutine on the host's loop from the worker thread a call runs in."""
    loop = guest.services.loop
    if loop is None or not loop.is_running():
        raise RuntimeError("the host's event loop is not running")
    if threading.get_ident() == getattr(loop, "_thread_id", None):
        raise RuntimeError("a kv/http call ran on the event loop thread; it must run in a worker")
    guest.on_enter_host()
    try:
        return asyncio.run_coroutine_threadsafe(work, loop).result(timeout)  # type: ignore[arg-type]
    finally:
        guest.on_leave_host()


def _impl(name: str, guest: Guest) -> Callable[..., Any]:
    plugin = guest.plugin

    def abort(caller: wasmtime.Caller, code: int, ptr: int, length: int) -> None:
        text = (read(caller, ptr, length, 2000) or b"").decode("utf-8", "replace")
        kind = "memory" if code == ABORT_OUT_OF_MEMORY else "trap"
        raise guest.trap(kind, f"plugin aborted: {text or 'no message'}")

    def result(caller: wasmtime.Caller, out: int, cap: int) -> int:
        data, guest.pending = guest.pending or b"", None
        return write_result(guest, caller, data[:max(cap, 0)], out, cap)

    def log_(caller: wasmtime.Caller, level: int, ptr: int, length: int) -> None:
        text = (read(caller, ptr, length, 4000) or b"<bad pointer>").decode("utf-8", "replace")
        log.log(min(max(level, logging.DEBUG), logging.ERROR), "[%s] %s", plugin, text)
        guest.log_lines.append(text)
        del guest.log_lines[:-50]

    def key_of(caller: wasmtime.Caller, ptr: int, length: int) -> str | None:
        raw = read(caller, ptr, length, MAX_KEY)
        return raw.decode("utf-8", "replace") if raw else None

    def kv_get(caller: wasmtime.Caller, kptr: int, klen: int, out: int, cap: int) -> int:
        key, kv = key_of(caller, kptr, klen), guest.services.kv
        if key is None or kv is None:
            return SY_BAD_ARGUMENT if key is None else SY_FAILED
        try:
            value = _block(guest, kv.get(plugin, key), guest.services.http_timeout_s)
        except Exception as exc:  # noqa: BLE001 - the guest gets an error code, the log the cause
            log.warning("plugin %r kv_get(%r) failed: %s", plugin, key, exc)
            return SY_FAILED
        return SY_NOT_FOUND if value is None else write_result(guest, caller, value, out, cap)

    def kv_set(caller: wasmtime.Caller, kptr: int, klen: int, vptr: int, vlen: int) -> int:
        key, value, kv = key_of(caller, kptr, klen), read(caller, vptr, vlen, MAX_VALUE), guest.services.kv
        if key is None or value is None:
            return SY_BAD_ARGUMENT
        try:
            _block(guest, kv.set(plugin, key, value), guest.services.http_timeout_s)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001
            log.warning("plugin %r kv_set(%r) failed: %s", plugin, key, exc)
            return SY_FAILED
        return 0

    def kv_delete(caller: wasmtime.Caller, kptr: int, klen: int) -> int:
        key, kv = key_of(caller, kptr, klen), guest.services.kv
        if key is None:
            return SY_BAD_ARGUMENT
        try:
            _block(guest, kv.delete(plugin, key), guest.services.http_timeout_s)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001
            log.warning("plugin %r kv_delete(%r) failed: %s", plugin, key, exc)
            return SY_FAILED
        return 0

    def http(caller: wasmtime.Caller, ptr: int, length: int, out: int, cap: int) -> int:
        raw = read(caller, ptr, length, MAX_HTTP_BODY)
        if raw is None:
            return SY_BAD_ARGUMENT
        try:
            request = msgspec.json.decode(raw, type=HttpRequest)
        except msgspec.DecodeError as exc:
            log.warning("plugin %r http: bad request JSON: %s", plugin, exc)
            return SY_BAD_ARGUMENT
        if not host_allowed(request.url, guest.allowed_hosts):
            log.warning("plugin %r http: %s is not among its allowed hosts %s; refused",
                        plugin, request.url, list(guest.allowed_hosts))
            return SY_DENIED
        body = request.body if isinstance(request.body, bytes) or request.body is None else (
            request.body.encode() if isinstance(request.body, str) else msgspec.json.encode(request.body))
        headers = dict(request.headers)
        if request.body is not None and not isinstance(request.body, str):
            headers.setdefault("content-type", "application/json")
        fetch, timeout = guest.services.fetch, guest.services.http_timeout_s
        if fetch is None:
            return SY_FAILED
        started = time.monotonic()
        try:
            status, answer = _block(guest, fetch(request.method, request.url, headers, body, timeout),
                                    timeout + 0.5)
        except Exception as exc:  # noqa: BLE001
            log.warning("plugin %r http %s %s failed after %.0f ms: %s", plugin, request.method,
                        request.url, (time.monotonic() - started) * 1000, exc)
            return SY_FAILED
        reply = msgspec.json.encode({"status": status,
                                     "body": answer[:MAX_HTTP_BODY].decode("utf-8", "replace")})
        return write_result(guest, caller, reply, out, cap)

    def config(caller: wasmtime.Caller, out: int, cap: int) -> int:
        return write_result(guest, caller, guest.config_json, out, cap)

    return {"abort": abort, "result": result, "log": log_, "kv_get": kv_get, "kv_set": kv_set,
            "kv_delete": kv_delete, "http": http, "config": config}[name]


def _refused(name: str, guest: Guest) -> Callable[..., Any]:
    capability = CAPABILITY_OF[name]

    def refuse(caller: wasmtime.Caller, *_: int) -> int:
        raise guest.trap("capability", f"capability {capability!r} not granted to plugin "
                         f"{guest.plugin!r}: {IMPORT_MODULE}.{name} refused")

    return refuse


def define_imports(linker: wasmtime.Linker, module: wasmtime.Module, guest: Guest) -> None:
    """Link exactly what the module imports: granted host functions, or refusing stubs."""
    for imp in module.imports:
        cap, nparams, nresults = _SIGNATURES[imp.name]
        granted = cap is None or cap in guest.granted
        fn = _impl(imp.name, guest) if granted else _refused(imp.name, guest)
        ty = wasmtime.FuncType([I32] * nparams, [I32] * nresults)
        linker.define_func(IMPORT_MODULE, imp.name, ty, fn, access_caller=True)
    assert all(name in _SIGNATURES for name in CORE_IMPORTS)


class HttpRequest(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    method: str = "POST"
    headers: dict[str, str] = {}
    body: Any = None


def host_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    """``host`` allows the scheme's default port; ``host:port`` exactly that port."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        return False
    host = parts.hostname.lower()
    for entry in allowed:
        entry = entry.lower()
        name, _, entry_port = entry.rpartition(":") if not entry.endswith("]") and ":" in entry \
            else (entry, "", "")
        name = name.strip("[]")
        if name == host and (int(entry_port) if entry_port else (443 if parts.scheme == "https" else 80)) == port:
            return True
    return False
