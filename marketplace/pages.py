"""The marketplace UI: browse and search (``/ui/marketplace``), one plugin's page
(``/ui/marketplace/NAME``) and its reviews (``POST /ui/marketplace/NAME/review``).

The install confirmation and the installed-plugins page live in ``marketplace.install_pages``.
Pages read the index this instance serves (``MarketplaceService``); every form works without
JavaScript, and with htmx only the results or the reviews are swapped, into live regions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response
from litestar.response import Redirect
from markupsafe import Markup

from core.templating import flash
from marketplace.page_support import Page, capability_rows, limit_rows
from sandbox.manifest import from_builtins

if TYPE_CHECKING:
    from core.configurator import Configurator

__all__ = ["browse", "detail", "include_pages", "review"]

SORTS = (("downloads", "Most downloaded"), ("rating", "Best rated"), ("name", "Name"), ("updated", "Recently updated"))
MAX_QUERY = 100
MAX_REVIEW = 4000


def include_pages(config: Configurator) -> None:
    """Register the pages and their nav items (called from the marketplace's includeme)."""
    from marketplace import install_pages

    config.add_view("/marketplace", browse, title="Marketplace")
    config.add_view("/marketplace/{name:str}", detail, title="Plugin", name="marketplace:detail")
    # Reviewing is the caller's own action, like editing a profile: any signed-in user.
    config.add_view("/marketplace/{name:str}/review", review, methods=("POST",), access="signed_in",
                    name="marketplace:review")
    install_pages.include(config)
    config.add_nav_item("Marketplace", "/ui/marketplace", icon="store", order=70)
    config.add_nav_item("Installed plugins", "/ui/plugins/installed", icon="plugins", order=75)


# -- browse ------------------------------------------------------------------------------------


def _categories() -> list[tuple[str, str]]:
    from marketplace.service import CATEGORIES

    return [(c, c.capitalize()) for c in CATEGORIES]


def _query(page: Page) -> dict[str, Any]:
    """The search form's values, each checked; a bad one is reported against its field."""
    params = page.request.query_params
    q = (params.get("q") or "").strip()
    category = (params.get("category") or "").strip()
    sort = (params.get("sort") or "downloads").strip()
    if len(q) > MAX_QUERY:
        page.errors["q"] = f"Search: at most {MAX_QUERY} characters, got {len(q)}."
    if category and category not in dict(_categories()):
        page.errors["category"] = (f"Category: {category!r} is not one of "
                                   f"{', '.join(c for c, _ in _categories())}.")
        category = ""
    if sort not in dict(SORTS):
        page.errors["sort"] = f"Sort by: {sort!r} is not one of {', '.join(s for s, _ in SORTS)}."
        sort = "downloads"
    return {"q": q, "category": category, "sort": sort, "signed": params.get("signed") == "1"}


def _card(entry: Any, installed: dict[str, Any]) -> dict[str, Any]:
    data = entry.as_dict()
    data["latest"] = data["versions"][0] if data["versions"] else None
    data["signed"] = bool(entry.publisher_identity)
    data["installed"] = installed.get(entry.name)
    data["updated_at"] = entry.updated_at
    return data


def _sorted(cards: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    if sort == "rating":
        return sorted(cards, key=lambda c: (-(c["rating"]["average"] or 0), -c["rating"]["count"], c["name"]))
    if sort == "name":
        return sorted(cards, key=lambda c: c["name"])
    if sort == "updated":
        return sorted(cards, key=lambda c: c["updated_at"], reverse=True)
    return sorted(cards, key=lambda c: (-c["downloads"], c["name"]))


async def browse(request: Request[Any, Any, Any]) -> Response[str]:
    page = Page(request)
    query = _query(page)
    results: list[dict[str, Any]] = []
    if not page.errors:
        installed = {p.name: p for p in await page.store.installed(enabled_only=False)}
        found = await page.service.search(query["q"], query["category"] or None)
        results = _sorted([_card(e, installed) for e in found], query["sort"])
        if query["signed"]:
            results = [c for c in results if c["signed"]]
    context = {
        "query": query, "results": results, "categories": _categories(), "sorts": SORTS,
        "index_name": page.service.name, "index_error": None,
        "can_manage": page.can("/ui/plugins/installed", "read"),
    }
    status = 422 if page.errors else 200
    return page.render("marketplace/browse.html", context, title="Marketplace",
                       fragment="marketplace/_results.html", status=status)


# -- one plugin --------------------------------------------------------------------------------


async def _plugin_context(page: Page, name: str, wanted: str | None) -> dict[str, Any] | None:
    entry = await page.service.get_plugin(name)
    if entry is None or not entry.versions:
        return None
    chosen = next((v for v in entry.versions if v.version == wanted), entry.versions[0])
    manifest = from_builtins(chosen.manifest, source=f"published manifest of {name}")
    plugin = entry.as_dict()
    signed = bool(entry.publisher_identity)
    version = {**chosen.as_dict(name), "signed": signed, "log_index": None}
    installed = await page.store.get(name)
    return {
        "plugin": plugin,
        "version": version,
        "versions": [{**v.as_dict(name), "signed": signed} for v in entry.versions],
        "manifest": manifest,
        "readme_html": Markup(_render_readme(chosen.readme)) if chosen.readme else None,
        "capabilities": capability_rows(manifest.capabilities),
        "http_hosts": list(manifest.http.allowed_hosts) if manifest.http else [],
        "limits": limit_rows(manifest, page.host),
        "installed": installed,
        "verification": _verification(signed, entry),
        "rating": entry.rating.as_dict(),
    }


def _verification(signed: bool, entry: Any) -> str:
    if not signed:
        return "Not signed: nothing to verify."
    return (f"The Sigstore bundle was verified against {entry.publisher_identity} when it was "
            "published here, and is verified again, with the sha256, when it is installed.")


async def _reviews_context(page: Page, name: str) -> dict[str, Any]:
    service = page.service
    return {
        "reviews": await service.list_reviews(name),
        "my_review": await service.review_of(page.me, name) if page.me else None,
        "can_review": bool(page.me),
        "rating": (await service.rating(name)).as_dict(),
    }


def _not_found(page: Page, name: str) -> Response[str]:
    templates = page.registry.state["templates"]
    return templates.render(
        page.request, "error.html",
        {"status_code": 404, "detail": f"No plugin named {name!r} is published here."},
        title="Error 404", status_code=404,
    )


async def detail(request: Request[Any, Any, Any]) -> Response[str]:
    page = Page(request)
    name = request.path_params["name"]
    context = await _plugin_context(page, name, request.query_params.get("version"))
    if context is None:
        return _not_found(page, name)
    context.update(await _reviews_context(page, name))
    context["can_install"] = page.can(f"/ui/marketplace/{name}/install")
    context["values"] = {}
    return page.render("marketplace/detail.html", context, title=name)


async def review(request: Request[Any, Any, Any]) -> Response[Any]:
    """Create or edit the caller's one review of the plugin."""
    from marketplace.service import MarketplaceError

    page = Page(request)
    name = request.path_params["name"]
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    raw, text = form.get("rating", "").strip(), form.get("text", "")
    if raw not in ("1", "2", "3", "4", "5"):
        page.failed("rating", "Rating: choose from 1 to 5 stars." if not raw else f"Rating: {raw!r} is not 1 to 5 stars.")
    if len(text) > MAX_REVIEW:
        page.failed("text", f"Review: at most {MAX_REVIEW} characters, got {len(text)}.")
    if not page.errors:
        try:
            await page.service.upsert_review(page.me, name, int(raw), text, display_name=page.display_name)
            page.done(f"Your review of {name} is saved.")
        except MarketplaceError as exc:
            if exc.status == 404:
                return _not_found(page, name)
            page.failed("rating" if exc.check == "rating" else "text", str(exc))
    context = await _plugin_context(page, name, None)
    if context is None:
        return _not_found(page, name)
    context.update(await _reviews_context(page, name))
    context["can_install"] = page.can(f"/ui/marketplace/{name}/install")
    context["values"] = {"rating": raw, "text": text} if page.errors else {}
    if not page.htmx and not page.errors:
        for item in page.flashes:
            flash(request, item.message, item.category)
        return Redirect(f"/ui/marketplace/{name}#reviews", status_code=303)
    return page.render("marketplace/detail.html", context, title=name, fragment="marketplace/_reviews.html")


def _render_readme(text: str) -> str:
    """markdown-it loads on the first detail page, not with every worker."""
    from marketplace.readme import render_readme

    return render_readme(text)
