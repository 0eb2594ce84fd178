"""Installing by name from indexes over real HTTP: every check of the contract, in order, each
refusal naming its check; upgrade and rollback; uninstall keeping or purging the plugin's data.

The good path runs against a real instance serving its own index (uvicorn); the hostile
packages are served by a plain static file host with a hand-written index, as a CDN would."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from core import migrate
from core.db import Database
from marketplace import MIGRATIONS
from marketplace.cli import _post_form, publish_url
from marketplace.client import InstallRefused, MarketplaceClient
from marketplace.models import metadata as marketplace_metadata
from marketplace.trust import TrustSettings
from sandbox.models import metadata as sandbox_metadata
from sandbox.models import sandbox_kv
from sandbox.package import MAX_ARCHIVE
from sandbox.store import MIGRATIONS as SANDBOX_MIGRATIONS
from sandbox.store import plugin_dir
from tests.core.db_fixtures import pg
from tests.marketplace.index_support import (
    OTHER,
    PUBLISHER,
    build_app,
    package,
    served,
    settings_for,
    sign,
    static_host,
    static_index,
)
from tests.marketplace.sigstore_testing import GITHUB_ISSUER, default_root
from tests.sandbox.wasm_build import example

pg_url = pg.pg_url
db_url = pg.db_url


def trust() -> TrustSettings:
    return TrustSettings(trusted_root=str(default_root().trusted_root_path))


@pytest.fixture
def migrated(db_url: str) -> str:
    migrate.upgrade(
        db_url,
        [
            migrate.kernel_source(),
            migrate.MigrationSource("sandbox", sandbox_metadata, SANDBOX_MIGRATIONS),
            migrate.MigrationSource("marketplace", marketplace_metadata, MIGRATIONS),
        ],
    )
    return db_url


@pytest.fixture
async def database(migrated: str) -> AsyncIterator[Database]:
    db = Database(migrated)
    yield db
    await db.dispose()


def client_for(db: Database, home: Path, index: str, **kwargs: Any) -> MarketplaceClient:
    return MarketplaceClient(db, home, indexes=[index], trust=trust(), **kwargs)


# -- the good path: an instance as its own index -------------------------------------------


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[str]:
    settings = settings_for(tmp_path / "server-home")
    with served(build_app(settings)) as url:
        yield url


def publish(url: str, syp: Path) -> None:
    bundle = sign(syp)
    files = {"package": (syp.name, syp.read_bytes()), "bundle": (bundle.name, bundle.read_bytes())}
    status, answer = _post_form(publish_url(url + "/marketplace/"), "test", {}, files)
    assert status == 201, answer


async def test_install_upgrade_and_rollback_from_an_instance(
    instance: str, database: Database, tmp_path: Path
) -> None:
    publish(instance, package(tmp_path))
    home = tmp_path / "home"
    client = client_for(database, home, f"{instance}/marketplace/index.json")
    [hit] = await client.search("masks")
    assert hit.plugin.name == "pii-redactor" and hit.latest.version == "0.1.0"

    plan = await client.plan_install("pii-redactor")
    assert [c.name for c in plan.checks] == [
        "archive",
        "manifest",
        "sha256",
        "signature",
        "compatibility",
    ]
    assert all(c.passed for c in plan.checks) and plan.signed
    assert plan.identity == hit.plugin.publisher.identity
    installed = await client.install(plan, granted=plan.capabilities, workspace="default")
    assert (installed.version, installed.signed) == ("0.1.0", True)

    publish(instance, package(tmp_path, "0.2.0"))
    plan, upgraded = await client.upgrade("pii-redactor", workspace="default")
    assert plan is not None and upgraded.version == "0.2.0"
    assert (plugin_dir(home, "pii-redactor", "0.1.0") / "plugin.wasm").is_file()  # kept
    assert (await client.upgrade("pii-redactor"))[0] is None  # already the newest

    back = await client.rollback("pii-redactor")
    assert (back.version, back.signed) == ("0.1.0", True)
    forward = await client.rollback("pii-redactor")  # and forward again: 0.2.0 was kept
    assert forward.version == "0.2.0"

    exact = await client.plan_install("pii-redactor", "0.1.0")
    assert exact.version == "0.1.0" and exact.current is not None


async def test_rollback_refuses_kept_files_that_changed(
    instance: str, database: Database, tmp_path: Path
) -> None:
    publish(instance, package(tmp_path))
    publish(instance, package(tmp_path, "0.2.0"))
    home = tmp_path / "home"
    client = client_for(database, home, f"{instance}/marketplace/index.json")
    plan = await client.plan_install("pii-redactor", "0.1.0")
    await client.install(plan, granted=plan.capabilities)
    await client.upgrade("pii-redactor")
    readme = plugin_dir(home, "pii-redactor", "0.1.0") / "plugin.toml"
    readme.write_text(readme.read_text().replace("Masks", "Tampered"))
    with pytest.raises(InstallRefused) as refused:
        await client.rollback("pii-redactor")
    assert refused.value.check == "sha256"
    assert (await client.store.get("pii-redactor")).version == "0.2.0"


# -- hostile indexes on a static host -------------------------------------------------------


async def refusal(
    database: Database, tmp_path: Path, entries: list[Any], **kwargs: Any
) -> InstallRefused:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    static_index(site, entries, **{k: v for k, v in kwargs.items() if k in ("sha256", "size")})
    with static_host(site) as url:
        client = client_for(database, tmp_path / "home", f"{url}/index.json")
        with pytest.raises(InstallRefused) as refused:
            await client.plan_install(
                "pii-redactor", identity=kwargs.get("identity"), issuer=kwargs.get("issuer")
            )
    assert await client.store.get("pii-redactor") is None
    return refused.value


def hand_made(
    tmp_path: Path, entries: dict[str, bytes], name: str = "pii-redactor-0.1.0.syp"
) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, data in entries.items():
            archive.writestr(entry, data)
    path = tmp_path / "hand" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


async def test_a_tampered_package_fails_the_sha256_check(
    database: Database, tmp_path: Path
) -> None:
    real = package(tmp_path)
    listed_sha = __import__("hashlib").sha256(real.read_bytes()).hexdigest()
    swapped = package(tmp_path / "evil", edit=lambda t: t.replace("Masks", "Leaks"))
    refused = await refusal(database, tmp_path, [(swapped, sign(swapped))], sha256=listed_sha)
    assert refused.check == "sha256"
    assert "changed after it was published" in str(refused)


async def test_a_bundle_for_another_file_fails_the_signature_check(
    database: Database, tmp_path: Path
) -> None:
    syp = package(tmp_path)
    other = package(tmp_path / "other", "0.9.0")
    refused = await refusal(database, tmp_path, [(syp, sign(other))])
    assert refused.check == "signature" and refused.reason.startswith("digest:")


async def test_a_signer_other_than_the_publisher_fails(database: Database, tmp_path: Path) -> None:
    syp = package(tmp_path)
    refused = await refusal(database, tmp_path, [(syp, sign(syp, identity=OTHER))])
    assert refused.check == "signature" and refused.reason.startswith("identity:")


async def test_the_admins_identity_and_issuer_replace_the_index(
    database: Database, tmp_path: Path
) -> None:
    syp = package(tmp_path)
    entries = [(syp, sign(syp))]
    wrong_identity = await refusal(
        database, tmp_path, entries, identity=OTHER, issuer=GITHUB_ISSUER
    )
    assert wrong_identity.check == "signature" and wrong_identity.reason.startswith("identity:")
    wrong_issuer = await refusal(database, tmp_path, entries, issuer="https://accounts.example.com")
    assert wrong_issuer.check == "signature" and wrong_issuer.reason.startswith("issuer:")


async def test_unsigned_installs_only_where_the_workspace_allows_and_stays_marked(
    database: Database, tmp_path: Path
) -> None:
    syp = package(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    static_index(site, [(syp, None)])
    with static_host(site) as url:
        client = client_for(database, tmp_path / "home", f"{url}/index.json")
        plan = await client.plan_install("pii-redactor")
        assert not plan.signed and plan.checks[3].detail.startswith("UNSIGNED")
        with pytest.raises(InstallRefused) as refused:
            await client.install(plan, granted=plan.capabilities, workspace="default")
        assert refused.value.check == "signature" and "unsigned" in str(refused.value)
        assert await client.store.get("pii-redactor") is None
        await client.policy.set_unsigned_allowed("team-a", True, actor="admin@example.com")
        with pytest.raises(InstallRefused):
            await client.install(plan, granted=plan.capabilities, workspace="default")
        installed = await client.install(plan, granted=plan.capabilities, workspace="team-a")
        assert installed.signed is False
    configured = client_for(
        database, tmp_path / "home2", "file:///nowhere", unsigned_workspaces=["ops"]
    )
    assert await configured.policy.unsigned_allowed("ops")


async def test_zip_slip_and_oversized_archives_fail_the_archive_check(
    database: Database, tmp_path: Path
) -> None:
    _, wasm = example("pii-redactor")
    slip = hand_made(tmp_path, {"../../plugin.wasm": wasm.read_bytes()})
    refused = await refusal(database, tmp_path, [(slip, sign(slip))])
    assert refused.check == "archive" and "outside the package" in str(refused)

    bomb = hand_made(tmp_path / "b", {"plugin.wasm": b"\0" * (MAX_ARCHIVE + 1)})
    refused = await refusal(database, tmp_path / "b", [(bomb, sign(bomb))])
    assert refused.check == "archive" and "limit" in str(refused)

    big = package(tmp_path / "c")
    refused = await refusal(database, tmp_path / "c", [(big, sign(big))], size=MAX_ARCHIVE + 1)
    assert refused.check == "archive" and "over the" in str(refused)


async def test_an_unknown_capability_fails_the_manifest_check(
    database: Database, tmp_path: Path
) -> None:
    manifest, wasm = example("pii-redactor")
    text = manifest.read_text().replace("capabilities = [", 'capabilities = ["filesystem", ')
    bad = hand_made(tmp_path, {"plugin.toml": text.encode(), "plugin.wasm": wasm.read_bytes()})
    refused = await refusal(database, tmp_path, [(bad, sign(bad))])
    assert refused.check == "manifest" and "filesystem" in str(refused)


@pytest.mark.parametrize(
    "edit,words",
    [
        (lambda t: t.replace("abi = 1", "abi = 2"), "ABI 2"),
        (
            lambda t: t.replace('min_host_version = "0.1.0"', 'min_host_version = "99.0.0"'),
            ">= 99.0.0",
        ),
    ],
    ids=["abi", "host-too-old"],
)
async def test_abi_and_host_version_fail_the_compatibility_check(
    database: Database, tmp_path: Path, edit: Any, words: str
) -> None:
    syp = package(tmp_path, edit=edit)
    refused = await refusal(database, tmp_path, [(syp, sign(syp))])
    assert refused.check == "compatibility" and words in str(refused)


# -- uninstall ------------------------------------------------------------------------------


async def test_uninstall_keeps_data_unless_purged(database: Database, tmp_path: Path) -> None:
    syp = package(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    static_index(site, [(syp, sign(syp))])
    with static_host(site) as url:
        client = client_for(database, tmp_path / "home", f"{url}/index.json")

        async def install_with_data() -> None:
            plan = await client.plan_install("pii-redactor")
            await client.install(plan, granted=plan.capabilities)

        async def kv() -> list[tuple[str, bytes]]:
            async with database.engine.connect() as c:
                rows = await c.execute(
                    select(sandbox_kv.c.key, sandbox_kv.c.value).order_by(sandbox_kv.c.key)
                )
                return [tuple(r) for r in rows]

        await install_with_data()
        async with database.engine.begin() as c:
            await c.execute(
                insert(sandbox_kv).values(
                    plugin="pii-redactor", key="seen", value=b"42", updated_at=datetime.now(UTC)
                )
            )
        _, kept = await client.uninstall("pii-redactor")
        assert kept == 1 and await kv() == [] and await client.store.get("pii-redactor") is None
        await install_with_data()
        assert await kv() == [("seen", b"42")]  # back with the reinstall

        _, kept = await client.uninstall("pii-redactor", purge=True)
        assert kept == 0 and await client.kept_keys("pii-redactor") == 0
        await install_with_data()
        assert await kv() == []


# -- a local file: the same checks, its bundle beside it -------------------------------------


async def test_a_local_file_is_checked_like_a_download(database: Database, tmp_path: Path) -> None:
    client = client_for(database, tmp_path / "home", "http://127.0.0.1:9/unused.json")
    syp = package(tmp_path)
    sign(syp)  # writes pii-redactor-0.1.0.syp.sigstore.json beside it

    with pytest.raises(InstallRefused) as no_signer:
        await client.plan_file(syp)
    assert no_signer.value.check == "signature" and "--identity and --issuer" in str(no_signer.value)
    with pytest.raises(InstallRefused) as wrong:
        await client.plan_file(syp, identity=OTHER, issuer=GITHUB_ISSUER)
    assert wrong.value.check == "signature" and str(wrong.value).startswith("signature: identity")

    plan = await client.plan_file(syp, identity=PUBLISHER, issuer=GITHUB_ISSUER)
    assert [c.name for c in plan.checks] == ["archive", "manifest", "sha256", "signature", "compatibility"]
    assert plan.signed and plan.identity == PUBLISHER
    installed = await client.install(plan, granted=plan.capabilities, workspace="default")
    assert installed.signed

    # The same name and version with one word changed, carrying the original's bundle.
    changed = package(tmp_path / "changed", edit=lambda text: text.replace("Masks", "Hides", 1))
    assert changed.read_bytes() != syp.read_bytes()
    changed.with_name(changed.name + ".sigstore.json").write_bytes(
        syp.with_name(syp.name + ".sigstore.json").read_bytes()
    )
    with pytest.raises(InstallRefused) as refused:
        await client.plan_file(changed, identity=PUBLISHER, issuer=GITHUB_ISSUER)
    assert refused.value.check == "signature" and str(refused.value).startswith("signature: digest")


async def test_an_unsigned_local_file_needs_an_explicit_choice(
    database: Database, tmp_path: Path
) -> None:
    client = client_for(database, tmp_path / "home", "http://127.0.0.1:9/unused.json")
    plan = await client.plan_file(package(tmp_path))
    assert not plan.signed and plan.checks[3].passed is False
    with pytest.raises(InstallRefused) as refused:
        await client.install(plan, granted=plan.capabilities, workspace="default")
    assert refused.value.check == "signature" and "--allow-unsigned" in str(refused.value)
    assert await client.store.get("pii-redactor") is None
    installed = await client.install(
        plan, granted=plan.capabilities, workspace="default", allow_unsigned=True
    )
    assert installed.signed is False  # and it stays marked
