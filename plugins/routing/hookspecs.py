"""The routing plugin's hook points: how other plugins (and wasm plugins) join the AI pipeline.

Every hook is called with keyword arguments; async implementations are awaited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.configurator import Configurator

__all__ = ["ROUTING_HOOKS", "declare"]

ROUTING_HOOKS: dict[str, tuple[str, bool]] = {
    "on_request": ("on_request(request: GatewayRequest): inspect or change request.body; raise Reject to refuse.", False),
    "route": ("route(request) -> Decision | 'provider,model' | None: choose the route; the first answer wins.", True),
    "on_response": ("on_response(request, response: dict): inspect or change a non-streamed answer (client shape).", False),
    "on_stream_event": ("on_stream_event(request, data: bytes) -> bytes | None: see or replace each batch of stream bytes.", False),
    "on_usage": ("on_usage(event: UsageEvent): a finished request's usage, delivered off the hot path.", False),
}


def declare(config: Configurator) -> None:
    for name, (doc, firstresult) in ROUTING_HOOKS.items():
        config.add_hook_point(name, doc, firstresult=firstresult)
