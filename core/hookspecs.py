"""The kernel's own hook points, declared in one place.

Plugins declare their own points (the routing plugin owns ``on_request`` and
friends); the kernel only knows about the app's life cycle and its pages.
Implementations are called with keyword arguments so signatures can grow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.configurator import Configurator

__all__ = ["KERNEL_HOOKS", "declare_kernel_hooks"]

KERNEL_HOOKS: dict[str, str] = {
    "startup": "startup(registry): after the database and event bus are up, before traffic.",
    "shutdown": "shutdown(registry): after traffic stopped, before the database closes.",
    "ready_check": "ready_check(registry) -> str | None: a problem that makes /readyz fail, or None.",
    "template_context": "template_context(request) -> dict | None: extra names for every UI page.",
    "reload": "reload(registry, settings): SIGHUP re-read the settings file; apply what can change live.",
    "banner": "banner(registry) -> list[str] | None: lines `serve` prints at start, after migrating.",
}
# Points whose first non-None answer wins.
FIRST_RESULT_HOOKS: dict[str, str] = {
    "identify": "identify(request) -> core.security.Identity | None: who sent this request "
    "(session cookie or API key); None means nobody signed in.",
}


def declare_kernel_hooks(config: Configurator) -> None:
    for name, doc in KERNEL_HOOKS.items():
        config.add_hook_point(name, doc)
    for name, doc in FIRST_RESULT_HOOKS.items():
        config.add_hook_point(name, doc, firstresult=True)
