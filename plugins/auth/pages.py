"""The management pages: ``/ui/keys``, ``/ui/members``, ``/ui/me/keys``, ``/ui/workspaces`` and
the workspace switcher (``POST /ui/workspace``).

Each page is one URL: ``GET`` shows it, ``POST`` with an ``op`` field changes something and
answers with the page again (or, for htmx, just the page's panel plus the flash messages out
of band), so forms work without JavaScript and the policy's path patterns cover every write.
The guard decided before a view runs; views only hide controls the caller cannot use (asking
the policy the same question the guard would) and keep "my keys" to the caller's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Request, Response, route
from litestar.response import Redirect

from core.templating import Flash, flash
from plugins.auth.errors import AuthError, InvalidValue, NotFound
from plugins.auth.records import ApiKey
from plugins.auth.service import AuthService

__all__ = [
    "includeme",
    "keys_page",
    "members_page",
    "my_keys_page",
    "switch_workspace",
    "switcher_context",
    "workspaces_create",
    "workspaces_page",
]

DEFAULT_GRACE = 3600
GRACE_CHOICES = (
    (0, "stop the old key now"),
    (3600, "1 hour"),
    (86400, "1 day"),
    (604800, "7 days"),
)


# -- shared ------------------------------------------------------------------------------


class _Page:
    """What every view needs: the caller, the workspace, the service and the policy."""

    def __init__(self, request: Request[Any, Any, Any]) -> None:
        from core.security import identity_of, workspace_of

        self.request = request
        self.registry = request.app.state.registry
        identity = identity_of(request)
        if identity is None:  # the guard lets nobody anonymous through
            raise NotFound("user", "not signed in")
        self.email: str = identity.subject
        self.workspace: str | None = workspace_of(request)
        self.service: AuthService = self.registry.state["auth.service"]
        self.flashes: list[Flash] = []
        self.errors: dict[str, str] = {}

    async def check_workspace(self) -> None:
        """A workspace the policy names but nobody created (policy edited by hand) is shown
        as a warning rather than an error page; the page then works on no workspace."""
        if self.workspace is None:
            self.flashes.append(Flash("You belong to no workspace yet.", "info"))
            return
        try:
            await self.service.get_workspace(self.workspace)
        except NotFound:
            self.flashes.append(
                Flash(
                    f"Workspace {self.workspace!r} has roles in the policy but does not exist; "
                    f"create it with `switchyard workspaces create {self.workspace}`.",
                    "warning",
                )
            )
            self.workspace = None

    def can(self, path: str, action: str = "write") -> bool:
        permissions = self.registry.permissions
        return bool(
            self.workspace
            and permissions is not None
            and permissions.enforce(self.email, self.workspace, path, action)
        )

    def failed(self, exc: AuthError) -> None:
        self.errors[exc.field.split("[")[0]] = str(exc)
        self.flashes.append(Flash(str(exc), "error"))

    def done(self, message: str) -> None:
        self.flashes.append(Flash(message, "success"))

    @property
    def htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"

    def render(
        self, page: str, panel: str, context: Mapping[str, Any], *, title: str
    ) -> Response[Any]:
        """The whole page, or for an htmx form just its panel with the flashes out of band.

        A refused plain form answers 422; htmx gets 200, since it swaps only 2xx answers in.
        """
        templates = self.registry.state["templates"]
        full = {**templates.base_context(self.request), **context, "page_title": title}
        full.update(workspace=self.workspace, me=self.email, errors=self.errors)
        if self.htmx and self.request.method == "POST":
            full.update(flashes=self.flashes, flashes_oob=True)
            html, status = templates.render_string(panel, full), 200
        else:
            full["flashes"] = [*full["flashes"], *self.flashes]
            html = templates.render_string(page, full)
            status = 422 if self.errors and self.request.method == "POST" else 200
        return Response(html, status_code=status, media_type="text/html; charset=utf-8")


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _scopes(text: str) -> list[str]:
    """One pattern per line (or separated by commas or spaces: patterns contain none)."""
    return [part for part in text.replace(",", " ").split() if part]


def _expires_in(text: str) -> timedelta | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 3650:
        raise InvalidValue("expires_days", f"{text!r}: give a whole number of days from 1 to 3650")
    return timedelta(days=int(text))


def _grace(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_GRACE
    if not text.isdigit():
        raise InvalidValue("grace_seconds", f"{text!r} is not a whole number of seconds")
    return int(text)


def _now() -> datetime:
    return datetime.now(UTC)


async def _key_here(page: _Page, prefix: str, *, mine: bool) -> ApiKey:
    """A key in the current workspace (and the caller's own for "my keys"); else not found."""
    try:
        key = await page.service.get_key(prefix)
    except NotFound:
        key = None
    if key is None or key.workspace != page.workspace or (mine and key.user != page.email):
        raise NotFound(
            "prefix", f"no key with prefix {prefix!r} {'among your keys' if mine else 'here'}"
        )
    return key


async def _key_action(page: _Page, form: dict[str, str], *, mine: bool) -> dict[str, Any] | None:
    """Create, rotate or revoke from a form; the new secret (shown once) if one was made."""
    op = form.get("op", "")
    owner = page.email if mine else form.get("user", "").strip() or page.email
    assert page.workspace is not None
    if op == "create":
        plaintext, key = await page.service.create_key(
            owner,
            page.workspace,
            form.get("name"),
            _scopes(form.get("scopes", "")),
            _expires_in(form.get("expires_days", "")),
        )
        page.done(f"Created key {key.prefix} for {key.user}.")
        return {"secret": plaintext, "key": key}
    prefix = form.get("prefix", "").strip()
    if op == "rotate":
        await _key_here(page, prefix, mine=mine)
        plaintext, key = await page.service.rotate_key(
            prefix, grace_seconds=_grace(form.get("grace_seconds"))
        )
        page.done(f"Key {prefix} is replaced by {key.prefix}.")
        return {"secret": plaintext, "key": key}
    if op == "revoke":
        await _key_here(page, prefix, mine=mine)
        await page.service.revoke_key(prefix)
        page.done(f"Key {prefix} is revoked: it stops working at once.")
        return None
    raise InvalidValue("op", f"{op!r} is not something this page does (create, rotate, revoke)")


def _key_rows(keys: list[ApiKey]) -> list[dict[str, Any]]:
    """Usable keys first, newest first within each group."""
    now = _now()
    order = {"active": 0, "grace": 1, "expired": 2, "rotated": 3, "revoked": 4}
    rows = [{"key": k, "status": k.status(now)} for k in keys]
    rows.sort(key=lambda r: (order[r["status"]], -r["key"].created_at.timestamp()))
    return rows


# -- /ui/keys (admin) ----------------------------------------------------------------------


async def keys_page(request: Request[Any, Any, Any]) -> Response[Any]:
    page = _Page(request)
    await page.check_workspace()
    new_key = form = None
    if request.method == "POST" and page.workspace:
        form = await _form(request)
        try:
            new_key = await _key_action(page, form, mine=False)
        except AuthError as exc:
            page.failed(exc)
    keys = await page.service.list_keys(workspace=page.workspace) if page.workspace else []
    members = await page.service.list_members(page.workspace) if page.workspace else []
    context = {
        "rows": _key_rows(keys),
        "members": members,
        "new_key": new_key,
        "values": form if page.errors and form else {},
        "can_write": page.can("/ui/keys"),
        "action_url": "/ui/keys",
        "mine": False,
        "grace_choices": GRACE_CHOICES,
    }
    return page.render("auth/keys.html", "auth/_keys_panel.html", context, title="Keys")


# -- /ui/me/keys (any user who may use the router) -----------------------------------------


@route(
    "/ui/me/keys",
    http_method=["GET", "POST"],
    name="auth:my_keys",
    include_in_schema=False,
    opt={"action": "use"},  # docs/security.md: handing yourself a key is using the router
)
async def my_keys_page(request: Request[Any, Any, Any]) -> Response[Any]:
    page = _Page(request)
    await page.check_workspace()
    new_key = form = None
    if request.method == "POST" and page.workspace:
        form = await _form(request)
        try:
            new_key = await _key_action(page, form, mine=True)
        except AuthError as exc:
            page.failed(exc)
    keys = (
        await page.service.list_keys(user=page.email, workspace=page.workspace)
        if page.workspace
        else []
    )
    context = {
        "rows": _key_rows(keys),
        "members": [],
        "new_key": new_key,
        "values": form if page.errors and form else {},
        "can_write": page.can("/ui/me/keys", "use"),
        "action_url": "/ui/me/keys",
        "mine": True,
        "grace_choices": GRACE_CHOICES,
    }
    return page.render("auth/my_keys.html", "auth/_keys_panel.html", context, title="My keys")


# -- /ui/members ---------------------------------------------------------------------------


async def _member_action(page: _Page, form: dict[str, str]) -> dict[str, Any] | None:
    from plugins.auth.api.members import send_invite
    from plugins.auth.links import invite_path, revoke_invite

    op = form.get("op", "")
    email = form.get("email", "")
    assert page.workspace is not None
    if op == "invite":
        token, new_user = await send_invite(
            page.service, email, page.workspace, form.get("role", ""), page.email
        )
        link = f"{str(page.request.base_url).rstrip('/')}{invite_path(token)}"
        page.done(f"Invitation for {email.strip().lower()} is ready: send them the link.")
        return {"link": link, "email": email.strip().lower(), "new_user": new_user}
    if op == "role":
        member = await page.service.set_member_role(
            email, page.workspace, form.get("role", ""), actor=page.email
        )
        page.done(f"{member.user} is now {member.role}.")
        return None
    if op == "remove":
        revoked = await page.service.remove_member(email, page.workspace, actor=page.email)
        extra = f" and {len(revoked)} key(s) revoked" if revoked else ""
        page.done(f"{email.strip().lower()} was removed{extra}.")
        return None
    if op == "cancel-invite":
        invite_id = form.get("invite", "")
        if not invite_id.isdigit() or not await revoke_invite(page.service.db, int(invite_id)):
            raise NotFound("invite", "that invitation is no longer pending")
        page.done("The invitation is cancelled.")
        return None
    raise InvalidValue("op", f"{op!r} is not something this page does (invite, role, remove)")


async def members_page(request: Request[Any, Any, Any]) -> Response[Any]:
    from plugins.auth.links import list_invites

    page = _Page(request)
    invited = form = None
    await page.check_workspace()
    if request.method == "POST" and page.workspace:
        form = await _form(request)
        try:
            invited = await _member_action(page, form)
        except AuthError as exc:
            page.failed(exc)
    can_write = page.can("/ui/members")
    members = await page.service.list_members(page.workspace) if page.workspace else []
    invites = (
        await list_invites(page.service.db, page.workspace) if page.workspace and can_write else []
    )
    context = {
        "members": members,
        "invites": invites,
        "invited": invited,
        "roles": page.service.known_roles(),
        "values": form if page.errors and form else {},
        "can_write": can_write,
    }
    return page.render("auth/members.html", "auth/_members_panel.html", context, title="Members")


# -- /ui/workspaces and the switcher -------------------------------------------------------


async def _workspaces_context(page: _Page) -> dict[str, Any]:
    mine = await page.service.workspaces_of(page.email)
    return {
        "workspaces": [
            {"ws": w, "roles": roles, "current": w.slug == page.workspace} for w, roles in mine
        ],
        "can_create": page.can("/ui/workspaces"),
    }


async def workspaces_page(request: Request[Any, Any, Any]) -> Response[Any]:
    page = _Page(request)
    context = await _workspaces_context(page)
    return page.render("auth/workspaces.html", "auth/_workspaces_panel.html",
                       {**context, "values": {}}, title="Workspaces")  # fmt: skip


async def workspaces_create(request: Request[Any, Any, Any]) -> Response[Any]:
    """Create a workspace; the creator becomes its admin (the guard asked for admin here)."""
    page = _Page(request)
    form = await _form(request)
    try:
        created = await page.service.create_workspace(
            form.get("slug", "").strip(), name=form.get("name"), owner=page.email, actor=page.email
        )
    except AuthError as exc:
        page.failed(exc)
        values = form
    else:
        page.done(f"Created {created.slug}; you are its admin. Switch to it to add people.")
        values = {}
    context = await _workspaces_context(page)
    return page.render("auth/workspaces.html", "auth/_workspaces_panel.html",
                       {**context, "values": values}, title="Workspaces")  # fmt: skip


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no //host) is a place to go back to."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"


async def switch_workspace(request: Request[Any, Any, Any]) -> Response[Any]:
    """Remember the workspace the caller works in (only one where they hold a role)."""
    page = _Page(request)
    form = await _form(request)
    slug = form.get("workspace", "").strip()
    target = _safe_next(form.get("next"))
    permissions = page.registry.permissions
    if permissions is not None and slug and permissions.roles_for(page.email, slug):
        request.session["workspace"] = slug
        flash(request, f"You are working in {slug}.", "success")
    else:
        flash(request, f"You hold no role in {slug!r}; the workspace did not change.", "error")
    if page.htmx:  # the whole page depends on the workspace: have htmx load it again
        return Response(b"", status_code=200, headers={"hx-redirect": target})
    return Redirect(target, status_code=303)


def switcher_context(request: Request[Any, Any, Any], **_: Any) -> dict[str, Any] | None:
    """``template_context`` hook: the signed-in person's workspaces for the layout's switcher.

    Memory only (the policy's g lines), since it runs on every page.
    """
    from core.security import identity_of, workspace_of

    identity = identity_of(request)
    permissions = request.app.state.registry.permissions
    if identity is None or permissions is None or identity.kind != "session":
        return None
    held = permissions.workspaces_for(identity.subject)
    if not held:
        return None
    return {"workspace_switcher": {"current": workspace_of(request), "choices": held}}


def includeme(config: Any) -> None:
    """Pages, nav items and the switcher's context; paths as docs/security.md lists them."""
    config.add_view("/keys", keys_page, methods=("GET", "POST"), title="Keys")
    config.add_route(my_keys_page)  # a route, not a view: it needs opt={"action": "use"}
    config.add_view("/members", members_page, methods=("GET", "POST"), title="Members")
    # Listing your own workspaces is self-service; creating one is an admin's write.
    config.add_view("/workspaces", workspaces_page, access="signed_in", title="Workspaces")
    config.add_view("/workspaces", workspaces_create, methods=("POST",), name="auth:new_workspace")
    config.add_view("/workspace", switch_workspace, methods=("POST",), access="signed_in")
    config.add_hook("template_context", switcher_context, name="auth.workspace_switcher")
    config.add_nav_item("My keys", "/ui/me/keys", icon="key", order=30)
    config.add_nav_item("Keys", "/ui/keys", icon="key", order=40)
    config.add_nav_item("Members", "/ui/members", icon="users", order=50)
    config.add_nav_item("Workspaces", "/ui/workspaces", icon="server", order=60)
