"""Which Sigstore instance to trust: the public-good one by default, or a private trust root.

Air-gapped deployments run their own Fulcio/Rekor (or only verify) and point
``[marketplace.trust]`` at a ``TrustedRoot`` JSON (enough to verify) or a ``ClientTrustConfig``
JSON (a trusted root plus the signing config naming Fulcio and Rekor: needed to sign). Either
key accepts either document: the file's ``mediaType`` says which it is.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from sigstore.models import ClientTrustConfig, TrustedRoot

    from core.settings import Settings

__all__ = ["TrustError", "TrustSettings", "load_signing_config", "load_trusted_root", "trust_from_settings"]

TRUSTED_ROOT_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
CLIENT_TRUST_CONFIG_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
PUBLIC_GOOD = "Sigstore's public-good instance"


class TrustSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The ``[marketplace.trust]`` section; neither path set means the public-good instance."""

    trust_config: str | None = None  # a ClientTrustConfig JSON: verify and sign
    trusted_root: str | None = None  # a TrustedRoot JSON: verify only
    offline: bool = False  # public-good only: use the cached TUF trust root, never refresh it

    def __post_init__(self) -> None:
        if self.trust_config and self.trusted_root:
            raise ValueError("set trust_config or trusted_root, not both")

    @property
    def path(self) -> str | None:
        return self.trust_config or self.trusted_root

    def describe(self) -> str:
        return f"trust root {self.path}" if self.path else PUBLIC_GOOD


class TrustError(Exception):
    """The trust configuration itself is unusable (a file missing or not a trust root)."""

    check = "trust"


def trust_from_settings(settings: Settings) -> TrustSettings:
    """Read ``[marketplace.trust]`` from loaded settings; errors name the key and the file."""
    from core._settings_source import SettingsSource, convert

    raw = settings.sections.get("marketplace", {}).get("trust", {})
    return convert(raw, TrustSettings, settings.source or SettingsSource(), ("marketplace", "trust"))


_cache: dict[tuple[str, int, int], tuple[TrustedRoot, ClientTrustConfig | None]] = {}
_cache_lock = threading.Lock()


def _load_file(path: str) -> tuple[TrustedRoot, ClientTrustConfig | None]:
    """Parse a trust file once per (path, mtime, size); say plainly what is wrong with it."""
    from sigstore.models import ClientTrustConfig, TrustedRoot

    file = Path(path).expanduser()
    try:
        stat = file.stat()
    except OSError as exc:
        raise TrustError(f"trust root {path}: cannot read it ({exc.strerror or exc})") from None
    key = (str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    text = file.read_text(encoding="utf-8")
    try:
        media_type = json.loads(text).get("mediaType")
    except (ValueError, AttributeError):
        raise TrustError(f"trust root {path}: not a JSON object") from None
    try:
        if media_type == CLIENT_TRUST_CONFIG_TYPE:
            config = ClientTrustConfig.from_json(text)
            loaded = (config.trusted_root, config)
        elif media_type == TRUSTED_ROOT_TYPE:
            loaded = (TrustedRoot.from_file(str(file)), None)
        else:
            raise TrustError(
                f"trust root {path}: mediaType {media_type!r} is neither a TrustedRoot "
                f"({TRUSTED_ROOT_TYPE}) nor a ClientTrustConfig ({CLIENT_TRUST_CONFIG_TYPE})"
            )
    except TrustError:
        raise
    except Exception as exc:  # noqa: BLE001 - pydantic/sigstore errors: reported in one line
        raise TrustError(f"trust root {path}: invalid: {_first_line(exc)}") from None
    with _cache_lock:
        _cache[key] = loaded
    return loaded


def load_trusted_root(trust: TrustSettings | None, *, staging: bool = False) -> TrustedRoot:
    """The roots of trust to verify against (the public-good one needs TUF: online or cached)."""
    trust = trust or TrustSettings()
    if trust.path:
        return _load_file(trust.path)[0]
    return _public_good(trust, staging).trusted_root


def load_signing_config(trust: TrustSettings | None, *, staging: bool = False) -> ClientTrustConfig:
    """Trust root plus signing config (Fulcio, Rekor, OIDC URLs) to sign with."""
    trust = trust or TrustSettings()
    if trust.path:
        _, config = _load_file(trust.path)
        if config is None:
            raise TrustError(
                f"trust root {trust.path} is a TrustedRoot: it can verify but not sign; signing "
                "needs a ClientTrustConfig (trust_config) that names Fulcio and Rekor"
            )
        return config
    return _public_good(trust, staging)


_PUBLIC_TTL_S = 3600.0  # refresh the public-good root over TUF at most hourly per process
_public: dict[tuple[bool, bool], tuple[float, ClientTrustConfig]] = {}


def _public_good(trust: TrustSettings, staging: bool) -> ClientTrustConfig:
    """Sigstore's instance via TUF, kept an hour: installs must not refresh TUF each time."""
    from sigstore.models import ClientTrustConfig

    key = (staging, trust.offline)
    with _cache_lock:
        cached = _public.get(key)
    if cached is not None and time.monotonic() - cached[0] < _PUBLIC_TTL_S:
        return cached[1]
    try:
        if staging:
            config = ClientTrustConfig.staging(offline=trust.offline)
        else:
            config = ClientTrustConfig.production(offline=trust.offline)
    except Exception as exc:  # noqa: BLE001 - TUF/network errors: one line with the fix
        raise TrustError(
            f"{PUBLIC_GOOD}: cannot load its trust root over TUF ({_first_line(exc)}); on a "
            "machine without internet set [marketplace.trust] offline = true (cached root) or "
            "trusted_root = a TrustedRoot JSON"
        ) from None
    with _cache_lock:
        _public[key] = (time.monotonic(), config)
    return config


def _first_line(exc: BaseException) -> str:
    text: Any = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
