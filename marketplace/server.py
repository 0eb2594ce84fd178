"""``/marketplace/...``: the index, the package files, publishing, reviews.

Reading is public, as it would be on a static file host serving the same index (``GET
index.json``, ``packages/...``, ``plugins/{name}``). Publishing is a policy decision on
``/marketplace/publish`` (permission ``publish_plugins``: admin, and the ``publisher`` role),
with an API key or a session. Writing a review needs only a signed-in identity. Refusals are
answered by the handler as JSON ``{"status_code", "check", "detail"}``, ``detail`` naming the
check or field, never raised through Litestar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, delete, get, post, put
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect

from core.security import identity_of
from marketplace.service import MarketplaceError, MarketplaceService
from sandbox.package import MAX_ARCHIVE

if TYPE_CHECKING:
    from core.configurator import Configurator

__all__ = ["PUBLIC_ROUTES", "includeme"]

SERVICE = "marketplace.service"
_MAX_BUNDLE = 1024 * 1024
_MAX_BODY = MAX_ARCHIVE + _MAX_BUNDLE + 64 * 1024  # a package, its bundle, the form's framing


def service_of(request: Request[Any, Any, Any]) -> MarketplaceService:
    found = request.app.state.registry.state.get(SERVICE)
    if found is None:  # pragma: no cover - started with the app
        raise RuntimeError("the marketplace service has not started")
    return found


def _refused(exc: MarketplaceError) -> Response[dict[str, Any]]:
    return Response(exc.as_dict(), status_code=exc.status)


def _json(data: Any, status: int = 200) -> Response[Any]:
    return Response(data, status_code=status, headers={"cache-control": "no-cache"})


@get("/marketplace/", include_in_schema=False)
async def marketplace_root() -> Redirect:
    return Redirect("/marketplace/index.json")


@get("/marketplace/index.json", summary="The marketplace index")
async def index_json(request: Request[Any, Any, Any]) -> Response[Any]:
    return _json(await service_of(request).index_document())


@get("/marketplace/plugins/{name:str}", summary="One published plugin with its reviews")
async def plugin_detail(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[Any]:
    svc = service_of(request)
    entry = await svc.get_plugin(name)
    if entry is None:
        return _refused(
            MarketplaceError("not_found", f"no plugin named {name!r} is published", status=404)
        )
    data = entry.as_dict(svc.prefix)
    data["reviews"] = [r.as_dict() for r in await svc.list_reviews(name)]
    return _json(data)


@get("/marketplace/packages/{name:str}/{version:str}/{file:str}", summary="A package or its bundle")
async def package_file(
    request: Request[Any, Any, Any],
    name: FromPath[str],
    version: FromPath[str],
    file: FromPath[str],
) -> Response[Any]:
    svc = service_of(request)
    stem = f"{name}-{version}.syp"
    kind = {stem: "package", f"{stem}.sigstore.json": "bundle"}.get(file)
    data = await svc.package_file(name, version, kind) if kind else None
    if data is None:
        return _refused(
            MarketplaceError("not_found", f"no file {name}/{version}/{file}", status=404)
        )
    if kind == "package":
        await svc.record_download(name, version)
    media = "application/zip" if kind == "package" else "application/json"
    return Response(
        data,
        media_type=media,
        headers={
            "content-disposition": f'attachment; filename="{file}"',
            "cache-control": "public, max-age=300",
        },
    )


@post("/marketplace/publish", summary="Publish a signed package", request_max_body_size=_MAX_BODY)
async def publish(request: Request[Any, Any, Any]) -> Response[Any]:
    """multipart/form-data: ``package`` (the .syp), ``bundle`` (its .sigstore.json), and
    optionally ``identity``, ``issuer`` (who signed; default: the bundle's certificate) and
    ``category``."""
    identity = identity_of(request)
    form = await request.form()
    files: dict[str, tuple[str, bytes]] = {}
    for field, limit in (("package", MAX_ARCHIVE), ("bundle", _MAX_BUNDLE)):
        upload = form.get(field)
        if not isinstance(upload, UploadFile):
            return _refused(
                MarketplaceError(
                    field, f"{field}: missing; send it as a file in the form", status=400
                )
            )
        data = await upload.read(limit + 1)
        if len(data) > limit:
            return _refused(
                MarketplaceError(field, f"{field}: over the {limit} byte limit", status=413)
            )
        files[field] = (upload.filename or f"{field}", data)
    text = {k: form.get(k) for k in ("identity", "issuer", "category")}
    try:
        entry = await service_of(request).publish(
            files["package"][1],
            files["bundle"][1],
            publisher=identity.subject if identity else "anonymous",
            identity=text["identity"]
            if isinstance(text["identity"], str) and text["identity"]
            else None,
            issuer=text["issuer"] if isinstance(text["issuer"], str) and text["issuer"] else None,
            category=text["category"]
            if isinstance(text["category"], str) and text["category"]
            else None,
            filename=files["package"][0],
        )
    except MarketplaceError as exc:
        return _refused(exc)
    return _json(entry.as_dict(service_of(request).prefix), 201)


@put("/marketplace/plugins/{name:str}/review", summary="Rate and review a plugin (yours, editable)")
async def put_review(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[Any]:
    """JSON ``{"rating": 1-5, "text": "..."}``; one review per user per plugin."""
    identity = identity_of(request)
    try:
        body = await request.json()
    except Exception:  # noqa: BLE001 - any unreadable body is the same refusal
        body = None
    if not isinstance(body, dict):
        return _refused(
            MarketplaceError(
                "body", 'body: expected JSON {"rating": 1-5, "text": "..."}', status=400
            )
        )
    try:
        review = await service_of(request).upsert_review(
            identity.subject if identity else "",
            name,
            body.get("rating"),  # type: ignore[arg-type]
            body.get("text", ""),
            display_name=identity.display_name if identity else "",
        )
    except MarketplaceError as exc:
        return _refused(exc)
    return _json(review.as_dict())


@delete("/marketplace/plugins/{name:str}/review", status_code=200, summary="Delete your review")
async def delete_review(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[Any]:
    identity = identity_of(request)
    removed = await service_of(request).delete_review(identity.subject if identity else "", name)
    if not removed:
        return _refused(
            MarketplaceError("not_found", f"you have not reviewed {name!r}", status=404)
        )
    return _json({"deleted": True})


PUBLIC_ROUTES = (marketplace_root, index_json, plugin_detail, package_file)
SIGNED_IN_ROUTES = (put_review, delete_review)


def includeme(config: Configurator) -> None:
    for handler in PUBLIC_ROUTES:
        config.add_route(handler, public=True)
    for handler in SIGNED_IN_ROUTES:
        config.add_route(handler, access="signed_in")
    config.add_route(publish)  # the guard asks for publish_plugins (policies/default_policy.csv)
