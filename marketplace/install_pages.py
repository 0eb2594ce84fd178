"""Installing and running marketplace plugins: the install confirmation
(``/ui/marketplace/NAME/install``) and the installed-plugins page (``/ui/plugins/installed``).

Both change the gateway, so their POSTs are admin writes under the default policy. The
confirmation lists every capability the version asks for in plain words; installing needs
each one ticked, since the sandbox runs a plugin with all it asks for or not at all. The
installed page shows each plugin's health and metrics as this process sees them and offers
enable/disable, rollback and uninstall, and an upgrade link to the confirmation, plus the workspace's unsigned-install toggle.
The install client (``marketplace.client``) does the checks, in order, and names the one that
refused; this module only turns its answer into words beside the right field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response
from litestar.response import Redirect

from core.templating import flash
from marketplace.page_support import Page, capability_rows, health_of, limit_rows, metrics_of
from sandbox.manifest import from_builtins, parse_version

if TYPE_CHECKING:
    from core.configurator import Configurator

__all__ = ["confirm_install", "include", "install", "installed_action", "installed_page"]

INSTALLED = "/ui/plugins/installed"
OPS = ("enable", "disable", "rollback", "uninstall", "unsigned")


def include(config: Configurator) -> None:
    config.add_view("/marketplace/{name:str}/install", confirm_install, title="Install",
                    name="marketplace:confirm_install")
    config.add_view("/marketplace/{name:str}/install", install, methods=("POST",),
                    name="marketplace:install")
    config.add_view("/plugins/installed", installed_page, title="Installed plugins",
                    name="marketplace:installed")
    config.add_view("/plugins/installed", installed_action, methods=("POST",),
                    name="marketplace:installed_action")


def _refusals() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "refused, nothing changed" (each names its check or URL)."""
    from marketplace.client import InstallRefused
    from marketplace.index import IndexError_
    from marketplace.service import MarketplaceError
    from sandbox.package import PackageError
    from sandbox.store import StoreError

    return (InstallRefused, IndexError_, MarketplaceError, StoreError, PackageError)


def _why(exc: BaseException) -> str:
    check = getattr(exc, "check", None)
    text = getattr(exc, "reason", None) or str(exc)
    return f"Refused at the {check} check: {text}" if check else f"Refused: {text}"


# -- install confirmation ------------------------------------------------------------------------


async def _install_context(page: Page, name: str, wanted: str | None) -> dict[str, Any] | None:
    """The version from the index, then the client's plan: every check run on the real
    download, so the page shows what was verified (or the check that refused)."""
    entry = await page.service.get_plugin(name)
    if entry is None or not entry.versions:
        return None
    chosen = next((v for v in entry.versions if v.version == wanted), None)
    if wanted and chosen is None:
        page.errors["version"] = f"Version: {name} has no version {wanted!r}."
    chosen = chosen or entry.versions[0]
    manifest = from_builtins(chosen.manifest, source=f"published manifest of {name}")
    installed = await page.store.get(name)
    kept = set(installed.granted) & set(manifest.capabilities) if installed else set()
    plan, refusal = None, None
    if not page.errors:
        try:
            plan = await page.client.plan_install(name, chosen.version)
        except _refusals() as exc:
            refusal = _why(exc)
    signed = plan.signed if plan is not None else bool(entry.publisher_identity)
    return {
        "plugin": entry.as_dict(),
        "version": {**chosen.as_dict(name), "signed": signed},
        "capabilities": capability_rows(manifest.capabilities, kept),
        "http_hosts": list(manifest.http.allowed_hosts) if manifest.http else [],
        "limits": limit_rows(manifest, page.host),
        "installed": installed,
        "signed": signed,
        "plan": plan,
        "checks": plan.checks if plan is not None else [],
        "refusal": refusal,
        "unsigned_allowed": await page.service.unsigned_allowed(page.workspace),
        "values": {},
    }


def _missing(page: Page, name: str) -> Response[str]:
    templates = page.registry.state["templates"]
    return templates.render(page.request, "error.html",
                            {"status_code": 404, "detail": f"No plugin named {name!r} is published here."},
                            title="Error 404", status_code=404)


async def confirm_install(request: Request[Any, Any, Any]) -> Response[str]:
    page = Page(request)
    name = request.path_params["name"]
    context = await _install_context(page, name, request.query_params.get("version"))
    if context is None:
        return _missing(page, name)
    return page.render("marketplace/install.html", context, title=f"Install {name}",
                       status=404 if page.errors else 200)


async def install(request: Request[Any, Any, Any]) -> Response[Any]:
    """Install the version the checks passed, with the capabilities ticked."""
    page = Page(request)
    name = request.path_params["name"]
    form = await request.form()
    version = str(form.get("version") or "").strip()
    granted = [str(g) for g in form.getall("grant", [])]
    context = await _install_context(page, name, version or None)
    if context is None:
        return _missing(page, name)
    if not page.errors:
        asked = [c["name"] for c in context["capabilities"]]
        unknown = sorted(set(granted) - set(asked))
        missing = [c["name"] for c in context["capabilities"] if c["name"] not in granted and not c["kept"]]
        if unknown:
            page.failed("grant", f"Capabilities: {name} does not ask for {', '.join(unknown)}.")
        elif missing:
            page.failed("grant", f"Capabilities: tick every one to install; not granted: {', '.join(missing)}.")
        elif context["plan"] is None:
            page.failed("install", context["refusal"] or "Refused: the package could not be checked.")
    if not page.errors:
        try:
            await page.client.install(context["plan"], granted=granted, workspace=page.workspace,
                                      installed_by=page.me)
        except _refusals() as exc:
            page.failed("install", _why(exc))
    if page.errors:
        context["values"] = {"grant": granted}
        return page.render("marketplace/install.html", context, title=f"Install {name}")
    flash(request, f"Installed {name} {context['version']['version']}: it is enabled and runs "
                   "within a few seconds.", "success")
    return Redirect(f"{INSTALLED}#installed-{name}", status_code=303)


# -- installed plugins ---------------------------------------------------------------------------


async def _history(page: Page) -> dict[str, Any]:
    """Where each installed plugin came from and what it replaced (the client's records)."""
    from sqlalchemy import select

    from marketplace.models import marketplace_installs

    async with page.registry.db.engine.connect() as connection:
        rows = (await connection.execute(select(marketplace_installs))).mappings().all()
    return {row["name"]: row for row in rows}


async def _newest(page: Page, name: str) -> str | None:
    entry = await page.service.get_plugin(name)
    return entry.versions[0].version if entry is not None and entry.versions else None


async def _rows(page: Page) -> list[dict[str, Any]]:
    host = page.host
    status = {r["name"]: r for r in (host.status() if host is not None else [])}
    history = await _history(page)
    rows = []
    for plugin in await page.store.installed(enabled_only=False):
        record = history.get(plugin.name)
        newest = await _newest(page, plugin.name)
        upgrade = newest if newest and parse_version(newest) > parse_version(plugin.version) else None
        previous = record["previous_version"] if record is not None else None
        rows.append({
            "plugin": plugin,
            "health": health_of(plugin, status),
            "metrics": metrics_of(plugin.name, status, host, page.registry),
            "upgrade_to": upgrade,
            "rollback_to": previous if previous and previous != plugin.version else None,
            "source": (record["index_url"] or "a local file") if record is not None else None,
        })
    return rows


async def _installed_context(page: Page) -> dict[str, Any]:
    service = page.service
    return {
        "rows": await _rows(page),
        "allow_unsigned": await service.unsigned_allowed(page.workspace),
        "unsigned_by_settings": page.workspace in service.unsigned_workspaces,
        "can_write": page.can(INSTALLED),
    }


async def installed_page(request: Request[Any, Any, Any]) -> Response[str]:
    page = Page(request)
    return page.render("marketplace/installed.html", await _installed_context(page),
                       title="Installed plugins", fragment="marketplace/_installed_panel.html")


async def _act(page: Page, op: str, name: str, form: Any) -> None:
    """One change; refusals are recorded against the field they concern."""
    if op == "unsigned":
        if page.workspace is None:
            page.failed("op", "Unsigned installs: you are in no workspace.")
            return
        allow = form.get("allow") == "1"
        await page.service.set_unsigned_allowed(page.workspace, allow, actor=page.me)
        page.done(f"Unsigned installs are {'allowed' if allow else 'not allowed'} in {page.workspace}.")
        return
    if await page.store.get(name) is None:
        page.failed("name", f"Plugin: no plugin named {name!r} is installed.")
        return
    if op in ("enable", "disable"):
        reason = None if op == "enable" else f"disabled by {page.me} in the UI"
        await page.store.set_enabled(name, op == "enable", reason)
        page.done(f"{name} is {op}d; the gateway follows within a few seconds.")
    elif op == "rollback":
        back = await page.client.rollback(name, installed_by=page.me)
        page.done(f"{name} is rolled back to {back.version}.")
    elif op == "uninstall":
        purge = form.get("purge") == "1"
        _, kept = await page.client.uninstall(name, purge=purge)
        page.done(f"{name} is uninstalled" + (" and its data deleted." if purge else
                  f"; its data ({kept} entr{'y' if kept == 1 else 'ies'}) is kept for a reinstall."))


async def installed_action(request: Request[Any, Any, Any]) -> Response[Any]:
    page = Page(request)
    form = await request.form()
    op, name = str(form.get("op") or ""), str(form.get("name") or "").strip()
    if op not in OPS:
        page.failed("op", f"Action: {op!r} is not one of {', '.join(OPS)}.")
    else:
        try:
            await _act(page, op, name, form)
        except _refusals() as exc:
            page.failed("name", f"{name}: {_why(exc)}")
    if not page.htmx and not page.errors:
        for item in page.flashes:
            flash(request, item.message, item.category)
        return Redirect(INSTALLED, status_code=303)
    return page.render("marketplace/installed.html", await _installed_context(page),
                       title="Installed plugins", fragment="marketplace/_installed_panel.html")
