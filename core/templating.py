"""Jinja2 rendering for UI pages, with every plugin's template folder on one loader.

Admin overrides (``web.templates_dir``) come first, then plugins' folders in
include order. ``default:NAME`` skips the overrides, so an override of a page
can extend the original: ``{% extends "default:layout.html" %}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, select_autoescape
from litestar import Request, Response
from litestar.utils.scope.state import ScopeState

from core.registry import Registry

__all__ = ["CSRF_COOKIE", "CSRF_FIELD", "CSRF_HEADER", "Flash", "Templates", "flash"]

CSRF_FIELD = "_csrf_token"
CSRF_HEADER = "x-csrftoken"
CSRF_COOKIE = "sy_csrftoken"
THEME_COOKIE = "sy_theme"
THEMES = ("auto", "light", "dark", "contrast")
_FLASH_KEY = "_flashes"


@dataclass(frozen=True, slots=True)
class Flash:
    message: str
    category: str = "info"


def flash(request: Request[Any, Any, Any], message: str, category: str = "info") -> None:
    """Show ``message`` on the next rendered page (kept in the signed session cookie)."""
    if category not in ("success", "info", "warning", "error"):
        raise ValueError(f"flash category must be success, info, warning or error, got {category!r}")
    queued = list(request.session.get(_FLASH_KEY, []))
    queued.append([message, category])
    request.session[_FLASH_KEY] = queued


def _csrf_token(request: Request[Any, Any, Any]) -> str:
    """The token the CSRF middleware put in scope; empty on pages it did not see (404s)."""
    token = ScopeState.from_scope(request.scope).csrf_token
    return token if isinstance(token, str) else ""


def _visible_nav(request: Request[Any, Any, Any], registry: Registry) -> list[Any]:
    """The nav items this person may open, in order (a link that answers 403 is noise)."""
    from core.security import may_open

    items = sorted(registry.nav, key=lambda item: (item.order, item.title))
    return [item for item in items if may_open(request, str(item.href))]


def _pop_flashes(request: Request[Any, Any, Any]) -> list[Flash]:
    if "session" not in request.scope:
        return []
    queued = request.session.pop(_FLASH_KEY, None) or []
    return [Flash(message, category) for message, category in queued]


class Templates:
    """The app's template environment and the context every page receives."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        plugin_loaders = [FileSystemLoader(d) for _, d in registry.template_dirs]
        overrides = registry.settings.web.templates_dir
        loaders: list[Any] = [FileSystemLoader(overrides)] if overrides else []
        loaders += plugin_loaders
        loaders.append(PrefixLoader({"default": ChoiceLoader(plugin_loaders)}, delimiter=":"))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(app_name="Switchyard", static_url=self.static_url)

    @staticmethod
    def static_url(path: str, plugin: str = "web") -> str:
        return f"/static/{plugin}/{path.lstrip('/')}"

    def base_context(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        registry = self.registry
        theme = request.cookies.get(THEME_COOKIE, "auto")
        context: dict[str, Any] = {
            "request": request,
            "request_path": request.url.path,
            "nav_items": _visible_nav(request, registry),
            "flashes": _pop_flashes(request),
            "csrf_token": _csrf_token(request),
            "csrf_field_name": CSRF_FIELD,
            "csrf_header_name": CSRF_HEADER,
            "theme": theme if theme in THEMES else "auto",
            "themes": THEMES,
            "plugins": sorted(
                (r for r in registry.plugins.values() if r.name != "core"), key=lambda r: r.name
            ),
        }
        for extra in registry.hooks.call("template_context", request=request):
            context.update(extra)
        return context

    def render_string(self, template: str, context: Mapping[str, Any]) -> str:
        return self.env.get_template(template).render(context)

    def render(
        self,
        request: Request[Any, Any, Any],
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        title: str = "",
        status_code: int = 200,
    ) -> Response[str]:
        full = self.base_context(request)
        full["page_title"] = title
        full.update(context or {})
        html = self.render_string(template, full)
        return Response(html, status_code=status_code, media_type="text/html; charset=utf-8")
