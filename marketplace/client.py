"""Installing from indexes: search, plan (every check, in order), install, upgrade, rollback.

The checks run in the order the contract gives, and the first that fails refuses with
:class:`InstallRefused` naming it (``check``) and saying why:

1. ``archive``   the download stays under the size limit and the zip is safe
                 (``sandbox.package.open_package``: no absolute or ``..`` paths, links, bombs);
2. ``manifest``  ``plugin.toml`` validates (an unknown capability is refused here) and is the
                 plugin and version the index lists;
3. ``sha256``    the package's sha256 is the one the index lists;
4. ``signature`` the Sigstore bundle verifies for these bytes against the publisher's
                 identity and OIDC issuer (the index's, or the admin's ``identity``/``issuer``);
                 no bundle: unsigned, installed only where the workspace allows it, and marked;
5. ``compatibility`` the ABI is the sandbox's and this switchyard is new enough.

A plan carries the verified bytes, so ``install(plan, ...)`` stores exactly what was checked.
Rollback reinstalls the previous version's files the store keeps, after checking that they
re-pack to the sha256 verified when they were installed. Uninstall keeps the plugin's kv data
(restored on the next install) unless ``purge=True``.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from marketplace.index import (
    MAX_INDEX,
    IndexDocument,
    IndexError_,
    IndexPlugin,
    IndexVersion,
    TooLarge,
    fetch,
    parse_index,
    resolve,
)
from marketplace.models import marketplace_installs, marketplace_kept_kv
from marketplace.service import MarketplaceService
from sandbox.abi import ABI_VERSION
from sandbox.manifest import Manifest, ManifestError, parse_version
from sandbox.models import sandbox_kv
from sandbox.package import (
    MAX_ARCHIVE,
    Package,
    PackageError,
    open_package,
    pack,
    read_package_file,
)
from sandbox.store import InstalledPlugin, PluginStore, StoreError, plugin_dir

if TYPE_CHECKING:
    from core.db import Database
    from sandbox.manifest import Manifest

__all__ = [
    "CHECKS",
    "Check",
    "InstallPlan",
    "InstallRefused",
    "MarketplaceClient",
    "SearchHit",
    "host_version",
    "parse_requirement",
]

CHECKS = ("archive", "manifest", "sha256", "signature", "compatibility")
MAX_BUNDLE = 1024 * 1024


class InstallRefused(Exception):
    """An install, upgrade or rollback was refused; ``check`` names what refused it."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check
        self.reason = message


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class SearchHit:
    index_url: str
    plugin: IndexPlugin

    @property
    def latest(self) -> IndexVersion | None:
        return self.plugin.release()


@dataclass
class InstallPlan:
    """What installing would do, after every check passed (the UI's confirm page shows it)."""

    name: str
    version: str
    index_url: str | None
    entry: IndexPlugin | None
    package: Package
    signed: bool
    identity: str | None  # who signed, as verified; None when unsigned
    issuer: str | None
    checks: list[Check] = field(default_factory=list)
    current: InstalledPlugin | None = None

    @property
    def manifest(self) -> Manifest:
        return self.package.manifest

    @property
    def capabilities(self) -> tuple[str, ...]:
        return self.package.manifest.capabilities

    @property
    def new_capabilities(self) -> tuple[str, ...]:
        """What must be granted now: asked for and not already granted to the current version."""
        kept = set(self.current.granted) if self.current else set()
        return tuple(c for c in self.capabilities if c not in kept)

    @property
    def limits(self) -> dict[str, int]:
        limits = self.package.manifest.limits
        return {k: v for k in ("fuel", "memory_mb", "timeout_ms") if (v := getattr(limits, k))}

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        http = self.package.manifest.http
        return http.allowed_hosts if http else ()

    def as_dict(self) -> dict[str, Any]:
        m = self.package.manifest
        return {
            "name": self.name,
            "version": self.version,
            "index": self.index_url,
            "summary": m.summary,
            "license": m.license,
            "hooks": list(m.hooks),
            "capabilities": list(self.capabilities),
            "new_capabilities": list(self.new_capabilities),
            "allowed_hosts": list(self.allowed_hosts),
            "limits": self.limits,
            "sha256": self.package.sha256,
            "signed": self.signed,
            "identity": self.identity,
            "issuer": self.issuer,
            "replaces": self.current.version if self.current else None,
            "checks": [
                {"check": c.name, "passed": c.passed, "detail": c.detail} for c in self.checks
            ],
        }


def host_version() -> str:
    try:
        return importlib.metadata.version("switchyard")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0.0.0"


def parse_requirement(text: str) -> tuple[str, str | None]:
    """``name`` or ``name==1.2.3`` -> (name, version or None)."""
    name, sep, version = text.partition("==")
    name, version = name.strip(), version.strip()
    if not name or (sep and not version):
        raise ValueError(f"{text!r}: expected NAME or NAME==VERSION")
    if version:
        parse_version(version)
    return name, version or None


class MarketplaceClient:
    """Search the configured indexes and install, upgrade, roll back and uninstall from them."""

    def __init__(
        self,
        db: Database,
        home: str | Path,
        *,
        indexes: Iterable[str] = (),
        trust: Any = None,
        unsigned_workspaces: Iterable[str] = (),
        host: str | None = None,
    ) -> None:
        self.db = db
        self.store = PluginStore(db, home)
        self.indexes = list(indexes)
        self.trust = trust
        self.policy = MarketplaceService(db, trust=trust, unsigned_workspaces=unsigned_workspaces)
        self.host_version = host or host_version()

    # -- indexes ----------------------------------------------------------------------------

    async def fetch_index(self, url: str) -> IndexDocument:
        try:
            data = await asyncio.to_thread(fetch, url, MAX_INDEX, what="index")
        except TooLarge as exc:
            raise IndexError_(str(exc)) from None
        return parse_index(data, url)

    async def search(self, query: str = "", category: str | None = None) -> list[SearchHit]:
        """Plugins of every index whose name or summary holds every word; first index wins a name."""
        if not self.indexes:
            raise IndexError_("no marketplace index is configured ([marketplace] indexes)")
        words = query.lower().split()
        hits: dict[str, SearchHit] = {}
        for url in self.indexes:
            document = await self.fetch_index(url)
            for plugin in document.plugins:
                text = f"{plugin.name} {plugin.summary}".lower()
                if plugin.name in hits or (category and plugin.category != category):
                    continue
                if all(w in text for w in words):
                    hits[plugin.name] = SearchHit(url, plugin)
        return list(hits.values())

    async def find(
        self, name: str, version: str | None = None
    ) -> tuple[str, IndexPlugin, IndexVersion]:
        """The first index listing ``name`` (at ``version``, or its newest)."""
        if not self.indexes:
            raise IndexError_("no marketplace index is configured ([marketplace] indexes)")
        listed_without = None
        for url in self.indexes:
            document = await self.fetch_index(url)
            for plugin in document.plugins:
                if plugin.name != name:
                    continue
                release = plugin.release(version)
                if release is not None:
                    return url, plugin, release
                listed_without = url
        if listed_without and version:
            raise IndexError_(f"{name} {version} is not in {listed_without}")
        raise IndexError_(f"no plugin named {name!r} in {', '.join(self.indexes)}")

    # -- planning: every check, in order ----------------------------------------------------

    async def plan_install(
        self,
        name: str,
        version: str | None = None,
        *,
        identity: str | None = None,
        issuer: str | None = None,
    ) -> InstallPlan:
        """Download ``name`` and run checks 1-5; raises InstallRefused naming the failed check.

        ``identity``/``issuer`` (the admin's) replace the publisher the index names.
        """
        index_url, entry, release = await self.find(name, version)
        checks: list[Check] = []

        # 1. archive
        if release.size > MAX_ARCHIVE:
            raise InstallRefused(
                "archive",
                f"{name} {release.version} is {release.size} bytes, over the {MAX_ARCHIVE} byte limit",
            )
        url = resolve(index_url, release.download_url)
        try:
            data = await asyncio.to_thread(fetch, url, MAX_ARCHIVE, what="package")
        except TooLarge:
            raise InstallRefused(
                "archive", f"{url}: more than {MAX_ARCHIVE} bytes; not downloaded"
            ) from None
        file_name = f"{name}-{release.version}.syp"
        try:
            package = open_package(file_name, data=data)
        except PackageError as exc:
            check = "manifest" if isinstance(exc.__context__, ManifestError) else "archive"
            if check == "archive":
                raise InstallRefused("archive", str(exc)) from None
            checks.append(Check("archive", True, f"{len(data)} bytes, safe entries"))
            raise InstallRefused("manifest", str(exc)) from None
        checks.append(Check("archive", True, f"{len(data)} bytes, safe entries"))

        # 2. manifest
        manifest = package.manifest
        if (manifest.name, manifest.version) != (name, release.version):
            raise InstallRefused(
                "manifest",
                f"the package is {manifest.name} {manifest.version} but the index lists "
                f"{name} {release.version}",
            )
        checks.append(Check("manifest", True, f"{manifest.name} {manifest.version}"))

        # 3. sha256
        digest = hashlib.sha256(data).hexdigest()
        if digest != release.sha256.lower():
            raise InstallRefused(
                "sha256",
                f"the downloaded package's sha256 is {digest}, the index lists {release.sha256}; "
                "it was changed after it was published",
            )
        checks.append(Check("sha256", True, digest))

        # 4. signature
        signed, who, via = False, None, None
        if release.bundle_url:
            who = identity or (entry.publisher.identity if entry.publisher else None)
            via = issuer or (entry.publisher.issuer if entry.publisher else None)
            if not who or not via:
                raise InstallRefused(
                    "signature",
                    f"the index names no publisher for {name}; give the expected identity and issuer",
                )
            bundle_url = resolve(index_url, release.bundle_url)
            try:
                bundle = await asyncio.to_thread(fetch, bundle_url, MAX_BUNDLE, what="bundle")
            except IndexError_ as exc:
                raise InstallRefused("signature", str(exc)) from None
            checks.append(await self._verified(data, bundle, who, via))
            signed = True
        else:
            checks.append(Check("signature", False, "UNSIGNED: the index lists no Sigstore bundle"))

        # 5. compatibility
        checks.append(self._compatible(manifest))
        return InstallPlan(
            name=name,
            version=manifest.version,
            index_url=index_url,
            entry=entry,
            package=package,
            signed=signed,
            identity=who if signed else None,
            issuer=via if signed else None,
            checks=checks,
            current=await self.store.get(name),
        )

    async def plan_file(
        self,
        path: str | os.PathLike[str],
        *,
        identity: str | None = None,
        issuer: str | None = None,
        bundle: str | os.PathLike[str] | None = None,
    ) -> InstallPlan:
        """A local package through the same checks as a download. There is no index, so the
        sha256 is reported, not compared; a Sigstore bundle beside the file (or ``bundle``) is
        verified against ``identity``/``issuer``; without one the package is unsigned."""
        source = Path(path)
        checks: list[Check] = []
        try:
            data = read_package_file(source)  # read once: what is verified is what installs
            package = open_package(source, data=data)
        except PackageError as exc:
            check = "manifest" if isinstance(exc.__context__, ManifestError) else "archive"
            raise InstallRefused(check, str(exc)) from None
        manifest = package.manifest
        checks.append(Check("archive", True, f"{len(data)} bytes, safe entries"))
        checks.append(Check("manifest", True, f"{manifest.name} {manifest.version}"))
        checks.append(Check("sha256", True, f"{package.sha256} (a local file: no index to compare)"))
        bundle_path = Path(bundle) if bundle else source.with_name(source.name + ".sigstore.json")
        signed = False
        if bundle_path.is_file():
            if not identity or not issuer:
                raise InstallRefused(
                    "signature",
                    f"{bundle_path.name} is beside the package: name its expected signer with "
                    "--identity and --issuer",
                )
            checks.append(await self._verified(data, bundle_path.read_bytes(), identity, issuer))
            signed = True
        elif bundle:
            raise InstallRefused("signature", f"{bundle_path}: no such bundle")
        else:
            checks.append(Check("signature", False, f"UNSIGNED: no {bundle_path.name} beside it"))
        checks.append(self._compatible(manifest))
        return InstallPlan(
            name=manifest.name, version=manifest.version, index_url=None, entry=None,
            package=package, signed=signed, identity=identity if signed else None,
            issuer=issuer if signed else None, checks=checks,
            current=await self.store.get(manifest.name),
        )

    async def _verified(self, data: bytes, bundle: bytes, identity: str, issuer: str) -> Check:
        """Check 4: the Sigstore bundle over ``data``, signed by ``identity`` from ``issuer``."""
        from marketplace.signing import VerificationError, verify_bytes

        try:
            await asyncio.to_thread(
                verify_bytes, data, bundle, identity=identity, issuer=issuer, trust=self.trust
            )
        except VerificationError as exc:
            raise InstallRefused(
                "signature", f"{exc.check}: {exc} (expected {identity} from {issuer})"
            ) from None
        return Check("signature", True, f"signed by {identity} ({issuer})")

    def _compatible(self, manifest: Manifest) -> Check:
        """Check 5: the ABI this sandbox runs and the host version the plugin needs."""
        if manifest.abi != ABI_VERSION:
            raise InstallRefused(
                "compatibility",
                f"{manifest.name} {manifest.version} is built for ABI {manifest.abi}; "
                f"this sandbox runs ABI {ABI_VERSION}",
            )
        if parse_version(manifest.min_host_version) > parse_version(self.host_version):
            raise InstallRefused(
                "compatibility",
                f"{manifest.name} {manifest.version} needs switchyard >= "
                f"{manifest.min_host_version}; this is {self.host_version}",
            )
        return Check(
            "compatibility", True, f"ABI {manifest.abi}, switchyard >= {manifest.min_host_version}"
        )

    # -- changing ---------------------------------------------------------------------------

    async def install(
        self,
        plan: InstallPlan,
        *,
        granted: Iterable[str] = (),
        workspace: str | None = None,
        required: bool | None = None,
        installed_by: str = "marketplace",
        allow_unsigned: bool = False,
    ) -> InstalledPlugin:
        """Install what ``plan`` checked. Unsigned only where ``workspace`` allows it, or when
        the admin says so for this one install (``allow_unsigned``: the CLI's flag)."""
        if not plan.signed and not allow_unsigned and not await self.policy.unsigned_allowed(workspace):
            raise InstallRefused(
                "signature",
                f"{plan.name} {plan.version} is unsigned and unsigned installs are not allowed in "
                f"workspace {workspace!r} (an admin can allow them: [marketplace] "
                "allow_unsigned_workspaces, the installed-plugins page's toggle, or the CLI's "
                "--allow-unsigned for this one install)",
            )
        current = await self.store.get(plan.name)
        try:
            installed = await self.store.install(
                plan.package,
                granted=granted,
                required=required,
                signed=plan.signed,
                installed_by=installed_by,
            )
        except StoreError as exc:
            raise InstallRefused("grant", str(exc)) from None
        await self._record(plan, current, workspace)
        if current is None:
            await self._restore_kept(plan.name)
        return installed

    async def upgrade(
        self,
        name: str,
        *,
        granted: Iterable[str] = (),
        workspace: str | None = None,
        installed_by: str = "marketplace",
    ) -> tuple[InstallPlan | None, InstalledPlugin]:
        """Install the newest version if it is newer; (None, current) when already up to date."""
        current = await self.store.get(name)
        if current is None:
            raise InstallRefused("installed", f"{name} is not installed; install it first")
        plan = await self.plan_upgrade(name)
        if plan is None:
            return None, current
        return plan, await self.install(
            plan, granted=granted, workspace=workspace, installed_by=installed_by
        )

    async def plan_upgrade(self, name: str) -> InstallPlan | None:
        current = await self.store.get(name)
        if current is None:
            raise InstallRefused("installed", f"{name} is not installed; install it first")
        _, _, release = await self.find(name)
        if parse_version(release.version) <= parse_version(current.version):
            return None
        record = await self._install_row(name)
        return await self.plan_install(
            name,
            release.version,
            identity=record["identity"] if record and record["identity"] else None,
            issuer=record["issuer"] if record and record["issuer"] else None,
        )

    async def rollback(self, name: str, *, installed_by: str = "marketplace") -> InstalledPlugin:
        """Go back to the version installed before the current one (its files are kept)."""
        current = await self.store.get(name)
        record = await self._install_row(name)
        if current is None or record is None or not record["previous_version"]:
            raise InstallRefused("rollback", f"{name}: no previous version to roll back to")
        previous = record["previous_version"]
        folder = plugin_dir(self.store.home, name, previous)
        if not folder.is_dir():
            raise InstallRefused("rollback", f"{name} {previous}: its files are no longer kept")
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = await asyncio.to_thread(pack, folder, Path(tmp) / f"{name}-{previous}.syp")
                package = open_package(path)
            except PackageError as exc:
                raise InstallRefused(
                    "archive", f"the kept files of {name} {previous}: {exc}"
                ) from None
        if package.sha256 != record["previous_sha256"]:
            raise InstallRefused(
                "sha256",
                f"the kept files of {name} {previous} changed since they were installed "
                f"(sha256 {package.sha256}, installed {record['previous_sha256']})",
            )
        granted = set(current.granted) & set(package.manifest.capabilities)
        try:
            installed = await self.store.install(
                package,
                granted=granted,
                signed=bool(record["previous_signed"]),
                installed_by=installed_by,
            )
        except StoreError as exc:
            raise InstallRefused("grant", str(exc)) from None
        async with self.db.engine.begin() as connection:
            await connection.execute(
                update(marketplace_installs)
                .where(marketplace_installs.c.name == name)
                .values(
                    version=previous,
                    sha256=package.sha256,
                    signed=bool(record["previous_signed"]),
                    previous_version=current.version,
                    previous_sha256=current.sha256,
                    previous_signed=current.signed,
                    installed_at=datetime.now(UTC),
                )
            )
        return installed

    async def uninstall(self, name: str, *, purge: bool = False) -> tuple[InstalledPlugin, int]:
        """Remove ``name``; its kv data is kept for a later install unless ``purge``.

        Returns what was removed and how many kv entries were kept (0 with ``purge``).
        """
        kept = 0
        if not await self.store.get(name):
            await self.store.uninstall(name)  # the store's "not installed" error
        async with self.db.engine.begin() as connection:
            await connection.execute(
                delete(marketplace_kept_kv).where(marketplace_kept_kv.c.plugin == name)
            )
            if not purge:
                rows = (
                    await connection.execute(
                        select(sandbox_kv.c.key, sandbox_kv.c.value, sandbox_kv.c.updated_at).where(
                            sandbox_kv.c.plugin == name
                        )
                    )
                ).all()
                if rows:
                    await connection.execute(
                        insert(marketplace_kept_kv),
                        [
                            {"plugin": name, "key": k, "value": v, "updated_at": t}
                            for k, v, t in rows
                        ],
                    )
                kept = len(rows)
            await connection.execute(
                delete(marketplace_installs).where(marketplace_installs.c.name == name)
            )
        removed = await self.store.uninstall(name)
        return removed, kept

    async def kept_keys(self, name: str) -> int:
        async with self.db.engine.connect() as connection:
            rows = await connection.execute(
                select(marketplace_kept_kv.c.key).where(marketplace_kept_kv.c.plugin == name)
            )
            return len(rows.all())

    # -- helpers ----------------------------------------------------------------------------

    async def _install_row(self, name: str) -> Any:
        async with self.db.engine.connect() as connection:
            return (
                (
                    await connection.execute(
                        select(marketplace_installs).where(marketplace_installs.c.name == name)
                    )
                )
                .mappings()
                .first()
            )

    async def _record(
        self, plan: InstallPlan, replaced: InstalledPlugin | None, workspace: str | None
    ) -> None:
        """Where the installed version came from, and what it replaced (for rollback)."""
        same = replaced is not None and replaced.version == plan.version
        previous = await self._install_row(plan.name) if same else None
        values = {
            "version": plan.version,
            "sha256": plan.package.sha256,
            "index_url": plan.index_url,
            "signed": plan.signed,
            "identity": plan.identity,
            "issuer": plan.issuer,
            "workspace": None if plan.signed else workspace,
            "previous_version": previous["previous_version"]
            if previous
            else (replaced.version if replaced else None),
            "previous_sha256": previous["previous_sha256"]
            if previous
            else (replaced.sha256 if replaced else None),
            "previous_signed": previous["previous_signed"]
            if previous
            else (replaced.signed if replaced else None),
            "installed_at": datetime.now(UTC),
        }
        async with self.db.engine.begin() as connection:
            result = await connection.execute(
                update(marketplace_installs)
                .where(marketplace_installs.c.name == plan.name)
                .values(**values)
            )
            if not result.rowcount:
                await connection.execute(
                    insert(marketplace_installs).values(name=plan.name, **values)
                )

    async def _restore_kept(self, name: str) -> None:
        """A fresh install of a plugin uninstalled without ``purge`` gets its data back."""
        async with self.db.engine.begin() as connection:
            rows = (
                await connection.execute(
                    select(
                        marketplace_kept_kv.c.key,
                        marketplace_kept_kv.c.value,
                        marketplace_kept_kv.c.updated_at,
                    ).where(marketplace_kept_kv.c.plugin == name)
                )
            ).all()
            if rows:
                await connection.execute(
                    insert(sandbox_kv),
                    [{"plugin": name, "key": k, "value": v, "updated_at": t} for k, v, t in rows],
                )
                await connection.execute(
                    delete(marketplace_kept_kv).where(marketplace_kept_kv.c.plugin == name)
                )
