"""What the routing plugin hands to other plugins: the request in flight, usage events, rejections."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from core.events import Event

__all__ = ["GatewayError", "GatewayRequest", "Principal", "Reject", "UsageEvent"]

ClientApi = Literal["anthropic", "openai"]


class GatewayError(Exception):
    """An error the client receives in its own API's shape."""

    def __init__(
        self, status: int, message: str, *, error_type: str | None = None, param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.param = param
        self.headers = headers or {}


class Reject(GatewayError):
    """Raised by an ``on_request`` hook to refuse a request (403 unless it says otherwise)."""

    def __init__(self, message: str, *, status: int = 403, error_type: str | None = None) -> None:
        super().__init__(status, message, error_type=error_type)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent the request, as the key verifier (the auth plugin) knows them."""

    key_id: str | None = None
    user: str | None = None
    workspace: str | None = None
    scopes: tuple[str, ...] = ()


@dataclass(slots=True)
class GatewayRequest:
    """One AI request in flight; hooks may change ``body`` (in the client's API shape)."""

    client_api: ClientApi
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    principal: Principal
    request_id: str
    started: float
    session_id: str | None = None
    stream: bool = False
    scenario: str | None = None
    provider: str | None = None
    model: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    # The input-token estimate is counted on first use: counting a Claude Code request costs
    # more than the rest of routing it, and most requests never need it.
    _tokens: int | None = field(default=None, repr=False)
    _count_tokens: Callable[[], int] | None = field(default=None, repr=False)

    @property
    def token_estimate(self) -> int:
        """Input tokens, estimated offline (plugins/routing/TOKENS.md); 0 when unknown."""
        if self._tokens is None:
            if self._count_tokens is None:
                return 0
            self._tokens = self._count_tokens()
        return self._tokens

    @token_estimate.setter
    def token_estimate(self, value: int) -> None:
        self._tokens = value

    @property
    def counted_tokens(self) -> int:
        """The estimate if something already counted it, else 0 (never counts)."""
        return self._tokens or 0


class UsageEvent(Event, frozen=True, kw_only=True):
    """One finished request: what it cost, how long it took, whether it worked."""

    request_id: str
    workspace: str | None
    key_id: str | None
    user: str | None
    client_api: str
    scenario: str
    provider: str
    model: str
    requested_model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    latency_ms: float
    ttft_ms: float | None = None
    status: int
    stream: bool
    error: str | None = None
    session_id: str | None = None
