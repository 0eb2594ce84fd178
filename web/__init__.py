"""The UI shell: layout, theme, PWA files, the home page, the plugins page and the policy editor.

It is a plugin like any other (entry point ``web``): the kernel provides the
template machinery, this package provides what every page extends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from web import pages, policy_api, policy_pages

if TYPE_CHECKING:
    from core.configurator import Configurator

__all__ = ["includeme"]


def includeme(config: Configurator) -> None:
    config.add_view("/", pages.home, template="home.html", title="Home", access="signed_in")
    config.add_view("/plugins", pages.plugins, template="plugins.html", title="Plugins")
    config.add_view("/theme", pages.set_theme, methods=("POST",), public=True)
    config.add_view("/offline", pages.offline, public=True)
    config.add_view("/sw.js", pages.service_worker, public=True)
    config.add_view("/manifest.webmanifest", pages.manifest, public=True)
    config.add_route(pages.root_redirect, public=True)
    config.add_public_path("/static/web/")
    config.add_nav_item("Home", "/ui/", icon="home", order=0)
    config.add_nav_item("Plugins", "/ui/plugins", icon="plugins", order=90)
    _policy(config)


def _policy(config: Configurator) -> None:
    """The policy editor and ``/api/v1/policy`` (docs/security.md: read_config; writes admin)."""
    config.add_view("/policy", policy_pages.policy_page, title="Policy")
    config.add_view("/policy/check", policy_pages.check_page, title="Policy")
    config.add_view("/policy/rules", policy_pages.change_rule, methods=("POST",))
    config.add_view("/policy/revert", policy_pages.revert_change, methods=("POST",))
    for handler in policy_api.HANDLERS:
        config.add_route(handler)
    config.add_nav_item("Policy", "/ui/policy", icon="policy", order=85)
