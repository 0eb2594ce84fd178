"""Publishing to an instance's marketplace: the bundle is verified, a version is published
once, the package is stored and served byte for byte, the index lists it, and only someone
holding ``publish_plugins`` (admin, the ``publisher`` role) may publish. A refusal names its
check and stores nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.core.db_fixtures import pg
from tests.identity_plugin import WORKSPACE, as_user
from tests.marketplace.index_support import (
    API,
    OTHER,
    PUBLISHER,
    PUBLISHER_USER,
    VIEWER,
    build_app,
    package,
    settings_for,
    sign,
)
from tests.marketplace.sigstore_testing import GITHUB_ISSUER

pg_url = pg.pg_url
db_url = pg.db_url


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient[Any]]:
    settings = settings_for(tmp_path / "home", db_url)
    grants = [(VIEWER, "viewer", WORKSPACE), (PUBLISHER_USER, "publisher", WORKSPACE)]
    with TestClient(build_app(settings, grants)) as client:
        yield client


def publish(client: TestClient[Any], syp: Path, bundle: Path | None = None, **headers: str) -> Any:
    bundle = bundle or syp.with_name(syp.name + ".sigstore.json")
    files = {"package": (syp.name, syp.read_bytes()), "bundle": (bundle.name, bundle.read_bytes())}
    return client.post("/marketplace/publish", files=files, headers={**API, **headers})


def listed(client: TestClient[Any]) -> dict[str, Any]:
    return {p["name"]: p for p in client.get("/marketplace/index.json").json()["plugins"]}


def test_a_signed_package_is_verified_stored_and_listed(
    client: TestClient[Any], tmp_path: Path
) -> None:
    syp = package(tmp_path)
    bundle = sign(syp)
    answer = publish(client, syp)
    assert answer.status_code == 201, answer.text
    [entry] = listed(client).values()
    assert entry["publisher"] == {"identity": PUBLISHER, "issuer": GITHUB_ISSUER}
    assert entry["category"] == "security"
    [version] = entry["versions"]
    assert version["version"] == "0.1.0"
    assert version["sha256"] == hashlib.sha256(syp.read_bytes()).hexdigest()
    assert version["size"] == syp.stat().st_size
    assert version["capabilities"] == ["config"] and version["abi"] == 1
    stored = client.get(version["download_url"])
    assert stored.status_code == 200 and stored.content == syp.read_bytes()
    assert client.get(version["bundle_url"]).content == bundle.read_bytes()
    assert listed(client)["pii-redactor"]["downloads"] == 1  # the download above counted


def test_the_same_version_is_refused_and_a_new_one_is_added(
    client: TestClient[Any], tmp_path: Path
) -> None:
    first = package(tmp_path)
    sign(first)
    assert publish(client, first).status_code == 201
    rebuilt = package(tmp_path / "again", edit=lambda t: t.replace("Masks", "Hides"))
    sign(rebuilt)
    again = publish(client, rebuilt)
    assert again.status_code == 409
    assert again.json()["check"] == "duplicate"
    assert "0.1.0 is already published" in again.json()["detail"]
    newer = package(tmp_path, "0.2.0")
    sign(newer)
    assert publish(client, newer).status_code == 201
    versions = [v["version"] for v in listed(client)["pii-redactor"]["versions"]]
    assert versions == ["0.2.0", "0.1.0"]
    served = client.get("/marketplace/packages/pii-redactor/0.1.0/pii-redactor-0.1.0.syp")
    assert served.content == first.read_bytes()  # the duplicate did not replace it


def test_a_bundle_for_another_file_is_refused_and_nothing_is_stored(
    client: TestClient[Any], tmp_path: Path
) -> None:
    syp = package(tmp_path)
    other = package(tmp_path / "other", "0.3.0")
    answer = publish(client, syp, sign(other))
    assert answer.status_code == 422
    assert answer.json()["check"] == "digest", answer.json()
    assert listed(client) == {}


def test_a_bundle_that_is_not_sigstore_is_refused(client: TestClient[Any], tmp_path: Path) -> None:
    syp = package(tmp_path)
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": "world"}')
    answer = publish(client, syp, junk)
    assert (answer.status_code, answer.json()["check"]) == (422, "bundle")
    assert listed(client) == {}


def test_a_new_version_signed_by_someone_else_is_refused(
    client: TestClient[Any], tmp_path: Path
) -> None:
    first = package(tmp_path)
    sign(first)
    assert publish(client, first).status_code == 201
    hijack = package(tmp_path, "0.2.0")
    sign(hijack, identity=OTHER)
    answer = publish(client, hijack)
    assert answer.status_code == 403
    assert answer.json()["check"] == "publisher"
    assert PUBLISHER in answer.json()["detail"] and OTHER in answer.json()["detail"]
    assert [v["version"] for v in listed(client)["pii-redactor"]["versions"]] == ["0.1.0"]


def test_an_unsafe_archive_is_refused_by_name(client: TestClient[Any], tmp_path: Path) -> None:
    import zipfile

    evil = tmp_path / "pii-redactor-0.1.0.syp"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../../etc/cron.d/evil", "* * * * * root sh")
    sign(evil)
    answer = publish(client, evil)
    assert answer.status_code == 422
    assert answer.json()["check"] == "archive"
    assert "outside the package" in answer.json()["detail"]


def test_only_holders_of_publish_plugins_may_publish(
    client: TestClient[Any], tmp_path: Path
) -> None:
    syp = package(tmp_path)
    sign(syp)
    refused = publish(client, syp, **as_user(VIEWER))
    assert refused.status_code == 403
    assert "/marketplace/publish" in refused.json()["detail"]
    assert publish(client, syp, **as_user("anonymous")).status_code == 401
    assert listed(client) == {}
    allowed = publish(client, syp, **as_user(PUBLISHER_USER))  # the publisher role
    assert allowed.status_code == 201, allowed.text
    assert client.get("/marketplace/index.json", headers=as_user("anonymous")).status_code == 200


def test_search_by_words_and_category(client: TestClient[Any], tmp_path: Path) -> None:
    syp = package(tmp_path)
    sign(syp)
    assert publish(client, syp).status_code == 201
    service = client.app.state.registry.state["marketplace.service"]
    with client.portal() as portal:
        found = portal.call(service.search, "masks email", None)
        assert [e.name for e in found] == ["pii-redactor"]
        assert portal.call(service.search, "", "providers") == []
        assert portal.call(service.search, "nothing-like-it", None) == []
