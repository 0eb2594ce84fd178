"""Typed kernel settings, read from ``switchyard.toml`` or claude-code-router's ``config.json``.

One place turns a file plus environment into validated settings, so that every configuration
error names the key and where it was written (``switchyard.toml:12: server.port: ...``) and no
plugin has to re-implement overrides or secret look-ups. Precedence, lowest first: built-in
defaults, the file, ``SWITCHYARD_<SECTION>__<KEY>`` environment variables.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import json5
import msgspec

from core._settings_source import (
    Key,
    SettingsError,
    SettingsSource,
    convert,
    split_validation_error,
)

__all__ = [
    "DatabaseSettings",
    "LoggingSettings",
    "PluginsSettings",
    "RedisSettings",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "SettingsSource",
    "WebSettings",
    "default_home",
    "load_settings",
    "validate_section",
]

T = TypeVar("T")
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]

KERNEL_SECTIONS = ("server", "database", "redis", "plugins", "logging", "web", "security")
_CCR_KEYS = frozenset({"Providers", "Router", "APIKEY", "HOST", "PORT"})
_SECRET = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")
_ENV_PREFIX = "SWITCHYARD_"


class ServerSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where the gateway listens; 3456 is claude-code-router's port, so clients need no change."""

    host: str = "127.0.0.1"
    port: Port = 3456
    workers: Annotated[int, msgspec.Meta(ge=1)] = 1
    graceful_timeout: Annotated[float, msgspec.Meta(ge=0)] = 30.0


class DatabaseSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """SQLAlchemy URL; None means the SQLite file under the home directory."""

    url: str | None = None
    echo: bool = False


class RedisSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Optional Redis for counters and caches shared by several instances."""

    url: str | None = None


class PluginsSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Which discovered plugins load; ``enabled = None`` means all of them."""

    enabled: list[str] | None = None
    disabled: list[str] = []
    required: list[str] = []


class LoggingSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = False


class WebSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Admin UI: template override folder; ``secure_cookies = None`` decides from the request."""

    templates_dir: str | None = None
    secure_cookies: bool | None = None


class SecuritySettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The guard and the permissions service.

    Each instance polls the policy version this often and reloads when another instance (or
    the CLI) changed it; changes made in-process apply at once.
    """

    policy_refresh_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 2.0


class _Kernel(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The kernel's own sections, validated together so paths read ``$.server.port``."""

    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    redis: RedisSettings = msgspec.field(default_factory=RedisSettings)
    plugins: PluginsSettings = msgspec.field(default_factory=PluginsSettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)
    web: WebSettings = msgspec.field(default_factory=WebSettings)
    security: SecuritySettings = msgspec.field(default_factory=SecuritySettings)


class Settings(msgspec.Struct, kw_only=True):
    """Everything the kernel reads at start; plugin sections stay raw until the plugin validates."""

    home: str
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    redis: RedisSettings = msgspec.field(default_factory=RedisSettings)
    plugins: PluginsSettings = msgspec.field(default_factory=PluginsSettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)
    web: WebSettings = msgspec.field(default_factory=WebSettings)
    security: SecuritySettings = msgspec.field(default_factory=SecuritySettings)
    sections: dict[str, dict[str, Any]] = {}
    source: SettingsSource | None = None
    ccr: dict[str, Any] | None = None
    warnings: list[str] = []

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.home}/switchyard.db"


def default_home(env: Mapping[str, str] | None = None) -> str:
    """``$SWITCHYARD_HOME`` or ``~/.switchyard``, absolute; nothing is created here."""
    env = os.environ if env is None else env
    return os.path.abspath(os.path.expanduser(env.get("SWITCHYARD_HOME") or "~/.switchyard"))


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    home: str | None = None,
) -> Settings:
    """Read, override, resolve secrets and validate; raise SettingsError on the first problem."""
    env = os.environ if env is None else env
    source, doc, ccr = _read(path)
    warnings: list[str] = []
    if ccr is not None:
        doc = _from_ccr(ccr, source, warnings)
    _apply_env(doc, env, source)
    doc = _resolve_secrets(doc, (), env, source)
    kernel_data, sections = _split(doc, source)
    kernel = convert(kernel_data, _Kernel, source, ())
    return Settings(
        home=os.path.abspath(os.path.expanduser(home)) if home else default_home(env),
        **msgspec.structs.asdict(kernel),
        sections=sections,
        source=source,
        ccr=ccr,
        warnings=warnings,
    )


def validate_section(settings: Settings, section: str, schema: type[T]) -> T:
    """Convert the raw ``[section]`` table into a plugin's msgspec type, errors located."""
    source = settings.source or SettingsSource()
    return convert(settings.sections.get(section, {}), schema, source, (section,))


def _read(path: str | os.PathLike[str] | None) -> tuple[SettingsSource, dict, dict | None]:
    """Return the source, the TOML document (or {}), and the CCR config (or None)."""
    if path is None:
        return SettingsSource(), {}, None
    name = os.fspath(path)
    try:
        text = Path(name).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SettingsError(f"{name}: config file not found", path=name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{name}: cannot read config file: {exc}", path=name) from None
    if name.lower().endswith((".json", ".json5")) or text.lstrip().startswith("{"):
        source = SettingsSource(name, text, kind="json")
        return source, {}, _parse_ccr(text, source)
    source = SettingsSource(name, text)
    return source, _parse_toml(text, name), None


def _parse_toml(text: str, name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)  # Python 3.14+
        found = re.search(r"at line (\d+)", str(exc))
        if line is None and found:
            line = int(found[1])
        elif line is None and "end of document" in str(exc):
            line = max(1, len(text.splitlines()))
        where = f"{name}:{line}" if line else name
        raise SettingsError(f"{where}: invalid TOML: {exc}", path=name, line=line) from None


def _parse_ccr(text: str, source: SettingsSource) -> dict[str, Any]:
    """Parse claude-code-router's JSON5 config; refuse JSON that is anything else."""
    name = source.path or "<config>"
    try:
        data = json5.loads(text)
    except ValueError as exc:
        found = re.match(r"<string>:(\d+)\s*(.*)", str(exc), re.DOTALL)
        line, message = (int(found[1]), found[2]) if found else (None, str(exc))
        where = f"{name}:{line}" if line else name
        raise SettingsError(f"{where}: invalid JSON5: {message}", path=name, line=line) from None
    if not isinstance(data, dict) or not _CCR_KEYS & data.keys():
        raise SettingsError(
            f"{name}: not a claude-code-router config.json (it has none of "
            f"{', '.join(sorted(_CCR_KEYS))}); JSON config files must be claude-code-router's "
            "config.json, and Switchyard's own configuration is TOML (switchyard.toml)",
            path=name,
        )
    return data


def _from_ccr(ccr: dict[str, Any], source: SettingsSource, warnings: list[str]) -> dict:
    """Derive kernel settings from CCR's PORT/HOST, keeping its rule: no APIKEY, loopback only."""
    server: dict[str, Any] = {}
    if ccr.get("PORT"):
        server["port"] = _ccr_value(ccr, "PORT", Port, source)
    if ccr.get("HOST"):
        host = _ccr_value(ccr, "HOST", str, source)
        if not ccr.get("APIKEY") and host != "127.0.0.1":
            warnings.append(
                f"{source.path}: HOST is {host!r} but APIKEY is not set, so Switchyard listens "
                "on 127.0.0.1 only (as claude-code-router does); set APIKEY to listen on "
                f"{host!r}"
            )
            host = "127.0.0.1"
        server["host"] = host
    return {"server": server} if server else {}


def _ccr_value(ccr: dict[str, Any], key: str, typ: Any, source: SettingsSource) -> Any:
    """CCR runs on Node, where "3456" works as a port, so coerce rather than insist."""
    try:
        return msgspec.convert(ccr[key], typ, strict=False)
    except msgspec.ValidationError as exc:
        raise source.error((key,), split_validation_error(str(exc))[0]) from None


def _apply_env(doc: dict, env: Mapping[str, str], source: SettingsSource) -> None:
    """Apply ``SWITCHYARD_<SECTION>__<KEY>`` overrides into ``doc``, recording them on source.

    Values are read as TOML values so numbers, booleans and lists arrive typed; the raw text of
    those that became non-string scalars is kept, so a field wanting a str ("123" as an API key)
    can be retried with it.
    """
    overrides = []
    for name, raw in env.items():
        if not name.upper().startswith(_ENV_PREFIX) or "__" not in name:
            continue
        key = tuple(name[len(_ENV_PREFIX) :].lower().split("__"))
        if not all(key):
            raise SettingsError(
                f"environment {name}: expected SWITCHYARD_<SECTION>__<KEY> with no empty part"
            )
        overrides.append((len(key), key, name, raw))
    for _, key, name, raw in sorted(overrides):
        value = _env_value(raw)
        _set_override(doc, key, value, name)
        source.env_vars[key] = name
        if not isinstance(value, (str, list, dict)):
            source.env_strings[key] = raw


def _env_value(raw: str) -> Any:
    if "\n" in raw:
        return raw
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _set_override(doc: dict, key: tuple[str, ...], value: Any, name: str) -> None:
    node = doc
    for end, part in enumerate(key[:-1], start=1):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SettingsError(
                f"environment {name}: cannot set {'.'.join(key)}: "
                f"{'.'.join(key[:end])} is not a table"
            )
    node[key[-1]] = value


def _resolve_secrets(value: Any, key: Key, env: Mapping[str, str], source: SettingsSource) -> Any:
    """Replace every string written exactly ``env:NAME`` by that variable's value."""
    if isinstance(value, str):
        found = _SECRET.fullmatch(value)
        if found is None:
            return value
        if found[1] not in env:
            raise source.error(key, f"environment variable {found[1]!r} is not set")
        return env[found[1]]
    if isinstance(value, dict):
        return {k: _resolve_secrets(v, (*key, k), env, source) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_secrets(v, (*key, i), env, source) for i, v in enumerate(value)]
    return value


def _split(doc: dict[str, Any], source: SettingsSource) -> tuple[dict, dict[str, dict]]:
    """Separate kernel sections from plugin sections; top-level scalars are a mistake."""
    kernel: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for name, value in doc.items():
        if name in KERNEL_SECTIONS:
            kernel[name] = value
        elif isinstance(value, dict):
            sections[name] = value
        else:
            raise source.error(
                (name,),
                f"top-level settings must be tables such as [{name}], got "
                f"{type(value).__name__}; did you mean to put it under a [section]?",
            )
    return kernel, sections
