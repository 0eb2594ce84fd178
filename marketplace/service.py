"""The marketplace an instance serves: publishing, the index, downloads, ratings and reviews.

``MarketplaceService`` is what ``server.py`` (the ``/marketplace/`` routes), the UI pages and
the tests call; it owns no HTTP. A publish is checked completely (archive, manifest, the
Sigstore bundle against the publisher, the version not yet published) before one
transaction stores the package, its bundle and the index entry together, so a refused or
failed publish leaves nothing behind. A plugin name belongs to the identity that first
published it: a later version signed by anyone else is refused, which is what makes the
index's ``publisher`` worth checking at install time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, insert, select, true, update
from sqlalchemy.exc import IntegrityError

from marketplace.models import (
    marketplace_plugins,
    marketplace_reviews,
    marketplace_versions,
    marketplace_workspaces,
)
from sandbox.manifest import ManifestError, from_builtins, parse_version, to_builtins
from sandbox.package import PackageError, open_package

if TYPE_CHECKING:
    from core.db import Database

__all__ = [
    "CATEGORIES",
    "INDEX_SCHEMA",
    "MarketplaceError",
    "MarketplaceService",
    "PluginEntry",
    "Rating",
    "Review",
    "VersionEntry",
    "category_for",
    "signer_of",
]

INDEX_SCHEMA = 1
CATEGORIES = ("providers", "middleware", "analytics", "security", "integrations")
# The manifest's categories (what the plugin does in the gateway) mapped to the
# marketplace's shelves; a publisher may choose another shelf at publish time.
_SHELF = {
    "security": "security",
    "routing": "providers",
    "observability": "analytics",
    "notifications": "integrations",
    "other": "middleware",
}
MAX_REVIEW = 4000


class MarketplaceError(Exception):
    """A refused request; ``check`` names what refused it (``archive``, ``manifest``,
    ``signature``, ``identity``, ``issuer``, ``publisher``, ``duplicate``, ``category``,
    ``rating``, ``text``, ``not_found``, ...). ``status`` is the HTTP status to answer with."""

    def __init__(self, check: str, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.check = check
        self.status = status

    def as_dict(self) -> dict[str, Any]:
        return {"status_code": self.status, "check": self.check, "detail": str(self)}


@dataclass(frozen=True)
class Rating:
    average: float | None  # None until someone rates
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {"average": self.average, "count": self.count}


@dataclass(frozen=True)
class VersionEntry:
    """One published version, as the index lists it."""

    version: str
    sha256: str
    size: int
    abi: int
    min_host_version: str
    capabilities: tuple[str, ...]
    hooks: tuple[str, ...]
    manifest: dict[str, Any]
    readme: str | None
    downloads: int
    published_at: datetime
    published_by: str

    def as_dict(self, name: str, prefix: str = "/marketplace/") -> dict[str, Any]:
        file = f"{name}-{self.version}.syp"
        base = f"{prefix}packages/{name}/{self.version}/{file}"
        return {
            "version": self.version,
            "sha256": self.sha256,
            "size": self.size,
            "abi": self.abi,
            "min_host_version": self.min_host_version,
            "capabilities": list(self.capabilities),
            "hooks": list(self.hooks),
            "limits": self.manifest.get("limits", {}),
            "http": self.manifest.get("http", {}).get("allowed_hosts", []),
            "license": self.manifest.get("license", ""),
            "downloads": self.downloads,
            "published_at": self.published_at.isoformat(),
            "download_url": base,
            "bundle_url": base + ".sigstore.json",
        }


@dataclass(frozen=True)
class PluginEntry:
    """A published plugin with its versions, newest first."""

    name: str
    summary: str
    category: str
    publisher_identity: str
    publisher_issuer: str
    downloads: int
    rating: Rating
    created_at: datetime
    updated_at: datetime
    versions: tuple[VersionEntry, ...] = field(default=())

    @property
    def latest(self) -> VersionEntry | None:
        return self.versions[0] if self.versions else None

    def as_dict(self, prefix: str = "/marketplace/") -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "category": self.category,
            "publisher": {"identity": self.publisher_identity, "issuer": self.publisher_issuer},
            "downloads": self.downloads,
            "rating": self.rating.as_dict(),
            "versions": [v.as_dict(self.name, prefix) for v in self.versions],
        }


@dataclass(frozen=True)
class Review:
    plugin: str
    subject: str
    display_name: str
    rating: int
    text: str
    created_at: datetime
    updated_at: datetime

    @property
    def edited(self) -> bool:
        return self.updated_at != self.created_at

    def as_dict(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "author": self.display_name or self.subject,
            "subject": self.subject,
            "rating": self.rating,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "edited": self.edited,
        }


def category_for(manifest_category: str) -> str:
    """The marketplace shelf for a manifest category (``routing`` -> ``providers``...)."""
    return _SHELF.get(manifest_category, "middleware")


def signer_of(bundle: bytes) -> tuple[str, str]:
    """(identity, issuer) the bundle's certificate claims, unverified: only to pick the policy
    ``marketplace.signing.verify_bytes`` then holds the bundle to."""
    from marketplace.signing import VerificationError, bundle_signer

    try:
        claimed = bundle_signer(bundle)
    except VerificationError as exc:
        raise MarketplaceError("bundle", str(exc)) from None
    if not claimed.identities or not claimed.issuer:
        raise MarketplaceError("bundle", "the bundle's certificate names no identity or issuer")
    return claimed.identities[0], claimed.issuer


class MarketplaceService:
    """Publishing, the index document, downloads, reviews; one database.

    ``trust`` is the signing engineer's ``TrustSettings`` (None: Sigstore's public instance).
    ``unsigned_workspaces`` are the workspaces ``[marketplace] allow_unsigned_workspaces``
    names; the admin's toggle in the UI adds to them (``set_unsigned_allowed``).
    """

    def __init__(
        self,
        db: Database,
        *,
        trust: Any = None,
        name: str = "switchyard",
        prefix: str = "/marketplace/",
        unsigned_workspaces: Iterable[str] = (),
    ) -> None:
        self.db = db
        self.trust = trust
        self.name = name
        self.prefix = prefix
        self.unsigned_workspaces = frozenset(unsigned_workspaces)

    # -- publishing -------------------------------------------------------------------------

    async def publish(
        self,
        package: bytes,
        bundle: bytes,
        *,
        publisher: str,
        identity: str | None = None,
        issuer: str | None = None,
        category: str | None = None,
        filename: str | None = None,
    ) -> PluginEntry:
        """Check and store one new version; returns the plugin's entry as the index shows it.

        ``publisher`` is who uploads (the Casbin subject, recorded). ``identity``/``issuer``
        are who signed; by default read from the bundle, and for a plugin already published
        they must be its publisher's. Raises MarketplaceError naming the check.
        """
        try:
            opened = open_package(filename or "upload.syp", data=package)
        except PackageError as exc:
            check = "manifest" if isinstance(exc.__context__, ManifestError) else "archive"
            raise MarketplaceError(check, str(exc)) from None
        manifest = opened.manifest
        if category is not None and category not in CATEGORIES:
            raise MarketplaceError(
                "category",
                f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}",
            )
        current = await self._plugin_row(manifest.name)
        claimed = signer_of(bundle)
        identity, issuer = identity or claimed[0], issuer or claimed[1]
        if current is not None and (identity, issuer) != (
            current["publisher_identity"],
            current["publisher_issuer"],
        ):
            raise MarketplaceError(
                "publisher",
                f"{manifest.name} is published by {current['publisher_identity']} "
                f"({current['publisher_issuer']}); a version signed by {identity} ({issuer}) "
                "cannot be added to it",
                status=403,
            )
        info = self._verify(package, bundle, identity, issuer)
        if await self._version_exists(manifest.name, manifest.version):
            raise MarketplaceError(
                "duplicate",
                f"{manifest.name} {manifest.version} is already published; publish a new version",
                status=409,
            )
        now = datetime.now(UTC)
        shelf = category or (current["category"] if current else category_for(manifest.category))
        newest = current is None or parse_version(manifest.version) > max(
            (parse_version(v) for v in await self._versions_of(manifest.name)), default=(0, 0, 0)
        )
        try:
            async with self.db.engine.begin() as connection:
                if current is None:
                    await connection.execute(
                        insert(marketplace_plugins).values(
                            name=manifest.name,
                            summary=manifest.summary,
                            category=shelf,
                            publisher_identity=identity,
                            publisher_issuer=issuer,
                            downloads=0,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                else:
                    values: dict[str, Any] = {"updated_at": now, "category": shelf}
                    if newest:
                        values["summary"] = manifest.summary
                    await connection.execute(
                        update(marketplace_plugins)
                        .where(marketplace_plugins.c.name == manifest.name)
                        .values(**values)
                    )
                await connection.execute(
                    insert(marketplace_versions).values(
                        plugin=manifest.name,
                        version=manifest.version,
                        sha256=hashlib.sha256(package).hexdigest(),
                        size=len(package),
                        manifest=to_builtins(manifest),
                        readme=opened.readme,
                        package=package,
                        bundle=bundle,
                        log_index=getattr(info, "log_index", None),
                        downloads=0,
                        published_at=now,
                        published_by=publisher,
                    )
                )
        except IntegrityError:
            raise MarketplaceError(
                "duplicate",
                f"{manifest.name} {manifest.version} was published meanwhile; publish a new version",
                status=409,
            ) from None
        entry = await self.get_plugin(manifest.name)
        assert entry is not None
        return entry

    def _verify(self, package: bytes, bundle: bytes, identity: str, issuer: str) -> Any:
        from marketplace.signing import VerificationError, verify_bytes

        try:
            return verify_bytes(package, bundle, identity=identity, issuer=issuer, trust=self.trust)
        except VerificationError as exc:
            raise MarketplaceError(exc.check, f"signature refused ({exc.check}): {exc}") from None

    # -- reading ----------------------------------------------------------------------------

    async def get_plugin(self, name: str) -> PluginEntry | None:
        found = await self._entries(marketplace_plugins.c.name == name)
        return found[0] if found else None

    async def search(self, query: str = "", category: str | None = None) -> list[PluginEntry]:
        """Plugins whose name or summary contains every word of ``query``, by downloads."""
        condition = []
        if category:
            if category not in CATEGORIES:
                raise MarketplaceError(
                    "category",
                    f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}",
                )
            condition.append(marketplace_plugins.c.category == category)
        for word in query.lower().split():
            pattern = f"%{word}%"
            condition.append(
                func.lower(marketplace_plugins.c.name).like(pattern)
                | func.lower(marketplace_plugins.c.summary).like(pattern)
            )
        found = await self._entries(and_(true(), *condition))
        return sorted(found, key=lambda e: (-e.downloads, e.name))

    async def index_document(self) -> dict[str, Any]:
        """The index as ``GET /marketplace/index.json`` serves it (docs/marketplace.md)."""
        entries = await self._entries(true())
        return {
            "schema": INDEX_SCHEMA,
            "name": self.name,
            "generated_at": datetime.now(UTC).isoformat(),
            "plugins": [e.as_dict(self.prefix) for e in entries],
        }

    async def package_file(self, name: str, version: str, kind: str = "package") -> bytes | None:
        """The stored ``.syp`` (``kind="package"``) or its bundle (``"bundle"``)."""
        column = (
            marketplace_versions.c.package if kind == "package" else marketplace_versions.c.bundle
        )
        async with self.db.engine.connect() as connection:
            return (
                await connection.execute(
                    select(column).where(
                        marketplace_versions.c.plugin == name,
                        marketplace_versions.c.version == version,
                    )
                )
            ).scalar_one_or_none()

    async def record_download(self, name: str, version: str) -> None:
        async with self.db.engine.begin() as connection:
            result = await connection.execute(
                update(marketplace_versions)
                .where(
                    marketplace_versions.c.plugin == name, marketplace_versions.c.version == version
                )
                .values(downloads=marketplace_versions.c.downloads + 1)
            )
            if result.rowcount:
                await connection.execute(
                    update(marketplace_plugins)
                    .where(marketplace_plugins.c.name == name)
                    .values(downloads=marketplace_plugins.c.downloads + 1)
                )

    # -- ratings and reviews ----------------------------------------------------------------

    async def upsert_review(
        self, subject: str, plugin: str, rating: int, text: str = "", *, display_name: str = ""
    ) -> Review:
        """Create or replace ``subject``'s one review of ``plugin``."""
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise MarketplaceError(
                "rating", f"rating: expected a whole number from 1 to 5, got {rating!r}"
            )
        if not isinstance(text, str) or len(text) > MAX_REVIEW:
            raise MarketplaceError("text", f"text: expected at most {MAX_REVIEW} characters")
        if not subject:
            raise MarketplaceError("subject", "sign in to review", status=401)
        if await self._plugin_row(plugin) is None:
            raise MarketplaceError(
                "not_found", f"no plugin named {plugin!r} is published", status=404
            )
        subject = subject.lower()
        now = datetime.now(UTC)
        table = marketplace_reviews
        values = {
            "rating": rating,
            "text": text.strip(),
            "display_name": display_name,
            "updated_at": now,
        }
        async with self.db.engine.begin() as connection:
            result = await connection.execute(
                update(table)
                .where(table.c.plugin == plugin, table.c.subject == subject)
                .values(**values)
            )
            if not result.rowcount:
                try:
                    async with connection.begin_nested():
                        await connection.execute(
                            insert(table).values(
                                plugin=plugin, subject=subject, created_at=now, **values
                            )
                        )
                except IntegrityError:  # written by a concurrent request: edit it instead
                    await connection.execute(
                        update(table)
                        .where(table.c.plugin == plugin, table.c.subject == subject)
                        .values(**values)
                    )
        found = await self.review_of(subject, plugin)
        assert found is not None
        return found

    async def review_of(self, subject: str, plugin: str) -> Review | None:
        reviews = await self._reviews(
            marketplace_reviews.c.plugin == plugin, marketplace_reviews.c.subject == subject.lower()
        )
        return reviews[0] if reviews else None

    async def list_reviews(self, plugin: str) -> list[Review]:
        """Newest first."""
        return await self._reviews(marketplace_reviews.c.plugin == plugin)

    async def delete_review(self, subject: str, plugin: str) -> bool:
        async with self.db.engine.begin() as connection:
            result = await connection.execute(
                delete(marketplace_reviews).where(
                    marketplace_reviews.c.plugin == plugin,
                    marketplace_reviews.c.subject == subject.lower(),
                )
            )
        return bool(result.rowcount)

    async def rating(self, plugin: str) -> Rating:
        return (await self._ratings([plugin])).get(plugin, Rating(None, 0))

    # -- unsigned installs (client side, per workspace) -------------------------------------

    async def unsigned_allowed(self, workspace: str | None) -> bool:
        """Whether the admin allowed unsigned installs for ``workspace`` (settings or toggle)."""
        if workspace is None:
            return False
        if workspace in self.unsigned_workspaces:
            return True
        async with self.db.engine.connect() as connection:
            value = (
                await connection.execute(
                    select(marketplace_workspaces.c.allow_unsigned).where(
                        marketplace_workspaces.c.workspace == workspace
                    )
                )
            ).scalar_one_or_none()
        return bool(value)

    async def set_unsigned_allowed(self, workspace: str, allowed: bool, *, actor: str) -> None:
        """The UI toggle. A workspace named in the settings stays allowed whatever this says."""
        now = datetime.now(UTC)
        table = marketplace_workspaces
        async with self.db.engine.begin() as connection:
            result = await connection.execute(
                update(table)
                .where(table.c.workspace == workspace)
                .values(allow_unsigned=allowed, updated_at=now, updated_by=actor)
            )
            if not result.rowcount:
                await connection.execute(
                    insert(table).values(
                        workspace=workspace,
                        allow_unsigned=allowed,
                        updated_at=now,
                        updated_by=actor,
                    )
                )

    # -- helpers ----------------------------------------------------------------------------

    async def _plugin_row(self, name: str) -> Any:
        async with self.db.engine.connect() as connection:
            return (
                (
                    await connection.execute(
                        select(marketplace_plugins).where(marketplace_plugins.c.name == name)
                    )
                )
                .mappings()
                .first()
            )

    async def _version_exists(self, name: str, version: str) -> bool:
        return version in await self._versions_of(name)

    async def _versions_of(self, name: str) -> list[str]:
        async with self.db.engine.connect() as connection:
            rows = await connection.execute(
                select(marketplace_versions.c.version).where(marketplace_versions.c.plugin == name)
            )
            return [r[0] for r in rows]

    async def _entries(self, condition: Any) -> list[PluginEntry]:
        v = marketplace_versions
        version_columns = [c for c in v.c if c.name not in ("package", "bundle")]
        async with self.db.engine.connect() as connection:
            plugins = (
                (
                    await connection.execute(
                        select(marketplace_plugins)
                        .where(condition)
                        .order_by(marketplace_plugins.c.name)
                    )
                )
                .mappings()
                .all()
            )
            names = [p["name"] for p in plugins]
            versions = (
                (await connection.execute(select(*version_columns).where(v.c.plugin.in_(names))))
                .mappings()
                .all()
                if names
                else []
            )
        ratings = await self._ratings(names)
        by_plugin: dict[str, list[VersionEntry]] = {}
        for row in versions:
            manifest = from_builtins(
                row["manifest"], source=f"published manifest of {row['plugin']}"
            )
            by_plugin.setdefault(row["plugin"], []).append(
                VersionEntry(
                    version=row["version"],
                    sha256=row["sha256"],
                    size=row["size"],
                    abi=manifest.abi,
                    min_host_version=manifest.min_host_version,
                    capabilities=manifest.capabilities,
                    hooks=manifest.hooks,
                    manifest=row["manifest"],
                    readme=row["readme"],
                    downloads=row["downloads"],
                    published_at=row["published_at"],
                    published_by=row["published_by"],
                )
            )
        return [
            PluginEntry(
                name=p["name"],
                summary=p["summary"],
                category=p["category"],
                publisher_identity=p["publisher_identity"],
                publisher_issuer=p["publisher_issuer"],
                downloads=p["downloads"],
                rating=ratings.get(p["name"], Rating(None, 0)),
                created_at=p["created_at"],
                updated_at=p["updated_at"],
                versions=tuple(
                    sorted(
                        by_plugin.get(p["name"], []),
                        key=lambda e: parse_version(e.version),
                        reverse=True,
                    )
                ),
            )
            for p in plugins
        ]

    async def _ratings(self, names: list[str]) -> dict[str, Rating]:
        if not names:
            return {}
        r = marketplace_reviews
        async with self.db.engine.connect() as connection:
            rows = await connection.execute(
                select(r.c.plugin, func.avg(r.c.rating), func.count())
                .where(r.c.plugin.in_(names))
                .group_by(r.c.plugin)
            )
            return {name: Rating(round(float(avg), 2), int(n)) for name, avg, n in rows}

    async def _reviews(self, *conditions: Any) -> list[Review]:
        r = marketplace_reviews
        async with self.db.engine.connect() as connection:
            rows = (
                (
                    await connection.execute(
                        select(r).where(*conditions).order_by(r.c.updated_at.desc())
                    )
                )
                .mappings()
                .all()
            )
        return [
            Review(
                plugin=row["plugin"],
                subject=row["subject"],
                display_name=row["display_name"],
                rating=row["rating"],
                text=row["text"],
                created_at=row["created_at"],
                updated_at=row["updated_at"],
            )
            for row in rows
        ]
