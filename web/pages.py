"""Views of the UI shell."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response, get
from litestar.response import Redirect

from core.templating import THEME_COOKIE, THEMES, flash

STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")
TEMPLATE_DIR = os.path.join(os.path.dirname(__file__), "templates")


def home(request: Request[Any, Any, Any]) -> dict[str, Any]:
    origin = f"{request.url.scheme}://{request.url.netloc}"
    return {"gateway_origin": origin}


def plugins(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The plugins, plus the one list of routes reachable without a policy decision."""
    registry = request.app.state.registry
    return {
        "public_paths": sorted(registry.public_paths),
        "signed_in_paths": sorted(registry.signed_in_paths, key=lambda item: (item[1], item[0])),
    }


async def set_theme(request: Request[Any, Any, Any]) -> Response[Any]:
    """Remember the chosen theme in a cookie and go back where the user was."""
    form = await request.form()
    theme = str(form.get("theme", ""))
    back = _same_site_path(str(form.get("next") or request.headers.get("referer") or ""))
    if theme not in THEMES:
        flash(request, f"Unknown theme {theme!r}; choose one of {', '.join(THEMES)}.", "error")
        return Redirect(back, status_code=303)
    response: Response[Any]
    if request.headers.get("hx-request"):  # htmx posts on change: reload in place
        response = Response(b"", status_code=204, headers={"hx-refresh": "true"})
    else:
        response = Redirect(back, status_code=303)
    response.set_cookie(THEME_COOKIE, theme, max_age=365 * 24 * 3600, samesite="lax", httponly=True)
    return response


def _same_site_path(referer: str | None) -> str:
    """Only redirect back to a path on this site, never to another origin."""
    if not referer:
        return "/ui/"
    path = urlsplit(referer).path
    if path.startswith("//"):
        return "/ui/"
    return path if path.startswith("/ui") else "/ui/"


def _file(path: str, media_type: str, *, cache: str = "no-cache") -> Response[bytes]:
    with open(path, "rb") as fh:
        body = fh.read()
    return Response(body, media_type=media_type, headers={"cache-control": cache})


def offline(request: Request[Any, Any, Any]) -> Response[bytes]:
    """A plain page the service worker caches for when the gateway is unreachable."""
    return _file(os.path.join(TEMPLATE_DIR, "offline.html"), "text/html")


def service_worker(request: Request[Any, Any, Any]) -> Response[bytes]:
    response = _file(os.path.join(STATIC_DIR, "sw.js"), "text/javascript")
    response.headers["service-worker-allowed"] = "/ui/"
    return response


def manifest(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _file(os.path.join(STATIC_DIR, "manifest.webmanifest"), "application/manifest+json")


@get("/", include_in_schema=False, opt={"exclude_from_csrf": True, "skip_session": True})
async def root_redirect() -> Redirect:
    return Redirect("/ui/", status_code=302)
