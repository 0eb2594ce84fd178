"""The sandbox host: loads wasm plugins, runs their hooks within limits, counts faults.

API (also used by ``switchyard plugin test``)::

    host = SandboxHost(SandboxSettings(), home=...)   # or SandboxHost() for defaults
    await host.start()
    host.load(installed_plugin)                       # or host.load(name=, manifest=, wasm=, granted=, settings=)
    answer = await host.call("pii-redactor", "on_request", {"request": {...}})   # a dict
    await host.close()

``call`` raises :class:`~sandbox.faults.PluginFault` when the guest traps, runs out of fuel,
memory or time, uses a capability it was not granted, or answers garbage.

Where calls run: a plugin runs inline on the event loop (a call is tens of microseconds and
bounded by its timeout) unless it is granted ``kv`` or ``http`` (those host functions block
on the loop), its timeout exceeds 100 ms (no plugin may hold the loop longer), or the hook is
``on_usage`` (off the request path); those run in a worker thread, where wasm runs with the
GIL released. ``[sandbox] inline = false`` sends every call to a worker (a hostile plugin then
never holds the loop, at ~50-70 µs more per call; see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from sandbox.abi import (
    OnRequestOut,
    OnResponseOut,
    RouteOut,
    decode_output,
    encode_input,
    request_view,
)
from sandbox.capabilities import (
    ASYNC_CAPABILITIES,
    Guest,
    HostServices,
    KvBackend,
    LoadError,
    check_imports,
)
from sandbox.faults import FaultTracker, PluginDisabled, PluginFault
from sandbox.manifest import Manifest, load_manifest
from sandbox.metrics import SandboxMetrics
from sandbox.pool import CallOutcome, Instance, Limits, Pool, Runtime

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from core.db import Database
    from core.events import EventBus, UsageEvent
    from plugins.routing.model import GatewayRequest

__all__ = ["LoadError", "LoadedPlugin", "LocalPlugin", "SandboxHost", "SandboxSettings", "SqlKv"]

log = logging.getLogger("switchyard.sandbox")

Positive = Annotated[int, msgspec.Meta(ge=1)]
INLINE_MAX_MS = 100  # a plugin allowed longer than this never runs on the event loop


class LocalPlugin(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A plugin loaded from files named in settings (development and tests), not the store."""

    wasm: str
    manifest: str
    grant: list[str] | None = None  # default: every capability the manifest asks for
    settings: dict[str, Any] = {}
    required: bool = False


class SandboxSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The ``[sandbox]`` section: defaults and the admin's caps over every plugin's limits."""

    max_fuel: Positive = 200_000_000
    max_memory_mb: Positive = 64
    max_timeout_ms: Positive = 1_000
    default_fuel: Positive = 20_000_000
    default_memory_mb: Positive = 16
    default_timeout_ms: Positive = 50
    pool_size: Positive = 2
    threads: Positive = 4
    inline: bool = True
    fault_threshold: Positive = 5
    fault_window_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    epoch_tick_ms: Positive = 5
    http_timeout_ms: Positive = 2_000
    reload_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    cache_dir: str | None = None  # default: $SWITCHYARD_HOME/cache/wasm
    plugins: list[LocalPlugin] = []


@dataclass
class LoadedPlugin:
    """A plugin ready to run: its manifest, effective limits and grants, and its pool."""

    name: str
    version: str
    manifest: Manifest
    granted: frozenset[str]
    limits: Limits
    required: bool
    pool: Pool
    origin: str  # "store" | "settings" | "api"
    key: str  # changes when anything that needs a reload changes
    threaded: bool
    calls: int = 0

    @property
    def hooks(self) -> tuple[str, ...]:
        return self.manifest.hooks

    def run(self, hook: str, data: bytes) -> CallOutcome:
        instance = self.pool.acquire()
        outcome = instance.run(hook, data)
        if outcome.fault is None:
            self.pool.release(instance)
        else:
            self.pool.discard(instance)
        return outcome


@dataclass
class _Disabled:
    reason: str
    required: bool
    hooks: tuple[str, ...]


@dataclass
class _Pending:
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class SqlKv:
    """KvBackend over the store's ``sandbox_kv`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, plugin: str, key: str) -> bytes | None:
        from sqlalchemy import select

        from sandbox.models import sandbox_kv as kv
        async with self.db.engine.connect() as connection:
            row = (await connection.execute(
                select(kv.c.value).where(kv.c.plugin == plugin, kv.c.key == key))).first()
        return bytes(row[0]) if row else None

    async def set(self, plugin: str, key: str, value: bytes) -> None:
        from sqlalchemy import insert, update

        from sandbox.models import sandbox_kv as kv
        now = datetime.now(UTC)
        async with self.db.engine.begin() as connection:
            done = await connection.execute(update(kv).where(kv.c.plugin == plugin, kv.c.key == key)
                                            .values(value=value, updated_at=now))
            if not done.rowcount:
                await connection.execute(insert(kv).values(plugin=plugin, key=key, value=value, updated_at=now))

    async def delete(self, plugin: str, key: str) -> None:
        from sqlalchemy import delete

        from sandbox.models import sandbox_kv as kv
        async with self.db.engine.begin() as connection:
            await connection.execute(delete(kv).where(kv.c.plugin == plugin, kv.c.key == key))


class SandboxHost:
    """See the module docstring."""

    def __init__(
        self,
        settings: SandboxSettings | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        metrics: CollectorRegistry | None = None,
        events: EventBus | None = None,
        kv: KvBackend | None = None,
        store: Any = None,
    ) -> None:
        self.settings = s = settings or SandboxSettings()
        cache = s.cache_dir or (os.path.join(home, "cache", "wasm") if home else None)
        self.runtime = Runtime(cache, tick_ms=s.epoch_tick_ms)
        self.metrics = SandboxMetrics(metrics)
        self.tracker = FaultTracker(s.fault_threshold, s.fault_window_s)
        self.events = events
        self.store = store
        self.services = HostServices(kv=kv, http_timeout_s=s.http_timeout_ms / 1000)
        self.plugins: dict[str, LoadedPlugin] = {}
        self.disabled: dict[str, _Disabled] = {}
        self._by_hook: dict[str, tuple[LoadedPlugin, ...]] = {}
        self._required_down: dict[str, tuple[str, ...]] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._http: Any = None
        self._pending = _Pending()
        self._store_version: str | None = None
        self.gateway_providers: Any = None  # set by includeme: () -> provider names, to check routes

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the epoch ticker and worker threads; host functions block on this loop."""
        self.runtime.start()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.settings.threads, thread_name_prefix="sandbox")
        self.services.loop = asyncio.get_running_loop()
        self.services.fetch = self._fetch

    async def close(self) -> None:
        for task in list(self._pending.tasks):
            task.cancel()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self.runtime.stop()

    # -- loading --------------------------------------------------------------------------

    def load(
        self,
        plugin: Any = None,
        *,
        name: str | None = None,
        manifest: Manifest | str | os.PathLike[str] | None = None,
        wasm: bytes | bytearray | str | os.PathLike[str] | None = None,
        granted: tuple[str, ...] | list[str] | set[str] | None = None,
        settings: dict[str, Any] | None = None,
        required: bool = False,
        origin: str = "api",
    ) -> LoadedPlugin:
        """Compile (or take from the cache), check and pre-instantiate a plugin; replaces one of
        the same name. ``plugin`` is a store ``InstalledPlugin``; otherwise pass the parts
        (``granted=None`` grants what the manifest asks for). Raises LoadError."""
        if plugin is not None:
            return self.load(name=plugin.name, manifest=plugin.manifest, wasm=plugin.wasm_path,
                             granted=plugin.granted, settings=plugin.config, required=plugin.required,
                             origin="store")
        if manifest is None or wasm is None:
            raise LoadError("load() needs an InstalledPlugin, or manifest= and wasm=")
        if not isinstance(manifest, Manifest):
            manifest = load_manifest(manifest)
        name = name or manifest.name
        code = bytes(wasm) if isinstance(wasm, (bytes, bytearray)) else Path(wasm).read_bytes()
        config = {**manifest.config, **(settings or {})}
        asked = frozenset(manifest.capabilities)
        grant = asked if granted is None else asked & frozenset(granted)
        limits = self.limits_for(manifest)
        module = self.runtime.compile(code)
        check_imports(module, name)
        allowed = manifest.http.allowed_hosts if manifest.http else ()
        config_json = msgspec.json.encode(config)

        def factory() -> Instance:
            guest = Guest(plugin=name, granted=grant, allowed_hosts=allowed, config_json=config_json,
                          services=self.services)
            return Instance(self.runtime, module, limits, guest, manifest.hooks)

        pool = Pool(factory, self.settings.pool_size, refill=self._refill)
        pool.fill()
        key = hashlib.sha256(msgspec.json.encode(
            [manifest.version, hashlib.sha256(code).hexdigest(), sorted(grant), config, required])).hexdigest()
        loaded = LoadedPlugin(name=name, version=manifest.version, manifest=manifest, granted=grant,
                              limits=limits, required=required, pool=pool, origin=origin, key=key,
                              threaded=bool(grant & ASYNC_CAPABILITIES) or not self.settings.inline
                              or limits.timeout_ms > INLINE_MAX_MS)
        self.plugins[name] = loaded
        self.disabled.pop(name, None)
        self.tracker.forget(name)
        self.metrics.loaded.labels(name).set(1)
        self._index()
        log.info("wasm plugin %s %s loaded (hooks %s, granted %s, fuel %s, %d MB, %d ms)", name,
                 manifest.version, ",".join(manifest.hooks), ",".join(sorted(grant)) or "nothing",
                 f"{limits.fuel:,}", limits.memory_bytes >> 20, limits.timeout_ms)
        return loaded

    def unload(self, name: str) -> None:
        if self.plugins.pop(name, None) is not None:
            self.metrics.loaded.labels(name).set(0)
        self.disabled.pop(name, None)
        self._index()

    def limits_for(self, manifest: Manifest) -> Limits:
        """The manifest's limits, or the defaults, capped by the admin's maxima."""
        s, asked = self.settings, manifest.limits
        return Limits(
            fuel=min(asked.fuel or s.default_fuel, s.max_fuel),
            memory_bytes=min(asked.memory_mb or s.default_memory_mb, s.max_memory_mb) * 1024 * 1024,
            timeout_ms=min(asked.timeout_ms or s.default_timeout_ms, s.max_timeout_ms),
        )

    def load_local(self) -> None:
        """Load the ``[[sandbox.plugins]]`` entries; one that fails is logged, not fatal."""
        for entry in self.settings.plugins:
            try:
                self.load(manifest=Path(entry.manifest), wasm=entry.wasm, granted=entry.grant,
                          settings=entry.settings, required=entry.required, origin="settings")
            except (LoadError, OSError, ValueError) as exc:
                log.error("wasm plugin from %s not loaded: %s", entry.wasm, exc)

    async def sync_with_store(self) -> bool:
        """Reload installed plugins when the store's version changed; True if it did."""
        if self.store is None:
            return False
        version = await self.store.version()
        if version == self._store_version:
            return False
        installed = {p.name: p for p in await self.store.installed(enabled_only=True)}
        for name, loaded in list(self.plugins.items()):
            if loaded.origin == "store" and name not in installed:
                log.info("wasm plugin %s unloaded (uninstalled or disabled)", name)
                self.unload(name)
        loop = asyncio.get_running_loop()
        for name, plugin in installed.items():
            current = self.plugins.get(name)
            if current is not None and current.origin == "store" and current.version == plugin.version \
                    and frozenset(plugin.granted) & frozenset(plugin.manifest.capabilities) == current.granted \
                    and plugin.required == current.required:
                continue
            try:
                await loop.run_in_executor(self._executor, lambda p=plugin: self.load(p))
            except (LoadError, OSError, ValueError) as exc:
                log.error("installed wasm plugin %s %s not loaded: %s", name, plugin.version, exc)
        self._store_version = version
        return True

    def _refill(self, fn: Any) -> None:
        if self._executor is not None:
            self._executor.submit(fn)

    def _index(self) -> None:
        order = sorted(self.plugins.values(), key=lambda p: p.name)
        self._by_hook = {hook: tuple(p for p in order if hook in p.hooks)
                         for hook in ("on_request", "route", "on_response", "on_usage")}
        self._required_down = {}
        for name, down in self.disabled.items():
            if down.required:
                for hook in down.hooks:
                    self._required_down.setdefault(hook, (name, down.reason))

    # -- calls ----------------------------------------------------------------------------

    async def call(self, name: str, hook: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Run one hook of one plugin; the validated answer as a dict (``{}``: no change)."""
        return msgspec.to_builtins(await self._call(self._get(name, hook), hook, payload))

    def _get(self, name: str, hook: str) -> LoadedPlugin:
        plugin = self.plugins.get(name)
        if plugin is None:
            down = self.disabled.get(name)
            why = f"disabled: {down.reason}" if down else "not loaded"
            raise PluginFault(name, hook, "unavailable", why)
        if hook not in plugin.hooks:
            raise PluginFault(name, hook, "unavailable", f"does not implement {hook!r} "
                              f"(its hooks: {', '.join(plugin.hooks)})")
        return plugin

    async def _call(self, plugin: LoadedPlugin, hook: str, payload: dict[str, Any]) -> Any:
        data = encode_input(hook, payload)
        if plugin.threaded or hook == "on_usage":
            if self._executor is None:
                raise RuntimeError("SandboxHost.start() was not awaited")
            outcome = await asyncio.get_running_loop().run_in_executor(self._executor, plugin.run, hook, data)
        else:
            outcome = plugin.run(hook, data)
        plugin.calls += 1
        fault = outcome.fault
        answer = None
        if fault is None:
            try:
                answer = decode_output(hook, outcome.output or b"")
            except ValueError as exc:
                fault = ("output", str(exc))
        self.metrics.call(plugin.name, hook, outcome.seconds, outcome.fuel, fault[0] if fault else None)
        if fault is not None:
            self._fault(plugin, hook, fault[0], fault[1])
            raise PluginFault(plugin.name, hook, fault[0], fault[1])  # type: ignore[arg-type]
        return answer

    def _fault(self, plugin: LoadedPlugin, hook: str, kind: str, message: str) -> None:
        log.warning("wasm plugin %s %s fault (%s): %s", plugin.name, hook, kind, message)
        if not self.tracker.record(plugin.name) or plugin.name not in self.plugins:
            return
        faults = self.tracker.recent(plugin.name)
        reason = (f"disabled after {faults} faults in {self.settings.fault_window_s:g} s "
                  f"(last: {kind} in {hook}: {message})")
        self.plugins.pop(plugin.name, None)
        self.disabled[plugin.name] = _Disabled(reason, plugin.required, plugin.hooks)
        self.metrics.loaded.labels(plugin.name).set(0)
        self._index()
        log.error("wasm plugin %s %s", plugin.name, reason)
        event = PluginDisabled(plugin=plugin.name, version=plugin.version, reason=reason,
                               faults=faults, last_fault=f"{kind}: {message}")
        if self.events is not None:
            try:
                self.events.publish_nowait(event)
            except RuntimeError:
                self._pending.spawn(self.events.publish(event))
        if self.store is not None and plugin.origin == "store":
            self._pending.spawn(self._store_disable(plugin.name, reason))

    async def _store_disable(self, name: str, reason: str) -> None:
        try:
            await self.store.set_enabled(name, False, reason)
        except Exception as exc:  # noqa: BLE001 - the plugin stays off in this process anyway
            log.error("could not record that wasm plugin %s is disabled: %s", name, exc)

    # -- the routing plugin's hooks -----------------------------------------------------

    def _down(self, hook: str) -> None:
        down = self._required_down.get(hook)
        if down is not None:
            from plugins.routing.model import GatewayError
            raise GatewayError(503, f"required plugin {down[0]!r} is unavailable: {down[1]}",
                               error_type="api_error")

    def _failed(self, fault: PluginFault, plugin: LoadedPlugin) -> None:
        if plugin.required:
            from plugins.routing.model import GatewayError
            raise GatewayError(502, f"required plugin {plugin.name!r} failed ({fault.kind}): "
                               f"{fault.message}", error_type="api_error") from None

    async def on_request(self, request: GatewayRequest) -> None:
        self._down("on_request")
        plugins = self._by_hook.get("on_request")
        if not plugins:
            return
        from plugins.routing.model import Reject
        for plugin in plugins:
            try:
                answer: OnRequestOut = await self._call(plugin, "on_request", {"request": request_view(request)})
            except PluginFault as fault:
                self._failed(fault, plugin)
                continue
            if answer.reject is not None:
                raise Reject(f"{answer.reject.message} (plugin {plugin.name})", status=answer.reject.status)
            if answer.body is not None:
                request.body = answer.body

    async def route(self, request: GatewayRequest) -> Any:
        self._down("route")
        plugins = self._by_hook.get("route")
        if not plugins:
            return None
        from plugins.routing.rules import Decision, split_target
        for plugin in plugins:
            try:
                answer: RouteOut = await self._call(plugin, "route", {"request": request_view(request)})
            except PluginFault as fault:
                self._failed(fault, plugin)
                continue
            if answer.route is None:
                continue
            provider, model = split_target(answer.route)
            known = self.gateway_providers() if self.gateway_providers else None
            if known is not None and provider not in known:
                message = f"chose unknown provider {provider!r} (known: {', '.join(sorted(known))})"
                self.metrics.faults.labels(plugin.name, "output").inc()
                self._fault(plugin, "route", "output", message)
                self._failed(PluginFault(plugin.name, "route", "output", message), plugin)
                continue
            scenario = f"plugin:{plugin.name}" + (f":{answer.reason}" if answer.reason else "")
            return Decision(scenario, provider, model)
        return None

    async def on_response(self, request: GatewayRequest, response: dict[str, Any]) -> None:
        self._down("on_response")
        for plugin in self._by_hook.get("on_response", ()):
            try:
                answer: OnResponseOut = await self._call(
                    plugin, "on_response", {"request": request_view(request), "response": response})
            except PluginFault as fault:
                self._failed(fault, plugin)
                continue
            if answer.response is not None:
                response.clear()
                response.update(answer.response)

    async def on_usage(self, event: UsageEvent) -> None:
        plugins = self._by_hook.get("on_usage")
        if not plugins:
            return
        payload = {"usage": msgspec.to_builtins(event)}
        for plugin in plugins:
            try:
                await self._call(plugin, "on_usage", payload)
            except PluginFault:
                continue  # counted and logged; usage delivery never fails a request

    # -- the http capability ------------------------------------------------------------

    async def _fetch(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                     timeout: float) -> tuple[int, bytes]:
        """One request through aiohttp (the gateway's client library): no redirects, bounded."""
        import aiohttp

        if self._http is None:
            self._http = aiohttp.ClientSession(headers={"user-agent": "switchyard-sandbox"})
        async with self._http.request(method, url, headers=headers, data=body, allow_redirects=False,
                                      timeout=aiohttp.ClientTimeout(total=timeout)) as reply:
            return reply.status, await reply.content.read(256 * 1024)

    # -- reporting ------------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """Every plugin this process knows: loaded or disabled, with limits and fault counts."""
        rows = [{"name": p.name, "version": p.version, "state": "loaded", "origin": p.origin,
                 "hooks": list(p.hooks), "granted": sorted(p.granted), "fuel": p.limits.fuel,
                 "memory_mb": p.limits.memory_bytes >> 20, "timeout_ms": p.limits.timeout_ms,
                 "calls": p.calls, "faults": self.tracker.totals.get(p.name, 0),
                 "threaded": p.threaded} for p in self.plugins.values()]
        rows += [{"name": n, "state": "disabled", "reason": d.reason,
                  "faults": self.tracker.totals.get(n, 0)} for n, d in self.disabled.items()]
        return sorted(rows, key=lambda r: r["name"])
