"""The UI shell: layout, theme, PWA files, the home page and the plugins page.

It is a plugin like any other (entry point ``web``): the kernel provides the
template machinery, this package provides what every page extends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from web import pages

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
