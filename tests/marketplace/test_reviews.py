"""Ratings and reviews: one per user per plugin, editable, refused input names the field and
stores nothing; the index and the plugin page show the average. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.core.db_fixtures import pg
from tests.identity_plugin import WORKSPACE, as_user
from tests.marketplace.index_support import API, VIEWER, build_app, package, settings_for, sign

pg_url = pg.pg_url
db_url = pg.db_url


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient[Any]]:
    settings = settings_for(tmp_path / "home", db_url)
    with TestClient(build_app(settings, [(VIEWER, "viewer", WORKSPACE)])) as client:
        syp = package(tmp_path)
        bundle = sign(syp)
        files = {
            "package": (syp.name, syp.read_bytes()),
            "bundle": (bundle.name, bundle.read_bytes()),
        }
        assert client.post("/marketplace/publish", files=files, headers=API).status_code == 201
        yield client


def review(client: TestClient[Any], user: str, body: Any) -> Any:
    return client.put(
        "/marketplace/plugins/pii-redactor/review", json=body, headers={**API, **as_user(user)}
    )


def test_one_editable_review_per_user_and_the_average(client: TestClient[Any]) -> None:
    assert review(client, VIEWER, {"rating": 2, "text": "misses phone numbers"}).status_code == 200
    edited = review(client, VIEWER, {"rating": 4, "text": "fixed in 0.1.0"})
    assert edited.json()["edited"] is True and edited.json()["rating"] == 4
    assert review(client, "admin@example.com", {"rating": 5}).status_code == 200
    page = client.get("/marketplace/plugins/pii-redactor", headers=as_user("anonymous")).json()
    assert [r["rating"] for r in page["reviews"]] == [5, 4]  # newest first, one each
    assert page["rating"] == {"average": 4.5, "count": 2}
    [entry] = client.get("/marketplace/index.json").json()["plugins"]
    assert entry["rating"] == {"average": 4.5, "count": 2}


@pytest.mark.parametrize(
    "body,field",
    [
        ({"rating": 6}, "rating"),
        ({"rating": "5"}, "rating"),
        ({"rating": 3, "text": "x" * 4001}, "text"),
        ([1], "body"),
    ],
)
def test_bad_reviews_name_the_field_and_store_nothing(
    client: TestClient[Any], body: Any, field: str
) -> None:
    answer = review(client, VIEWER, body)
    assert answer.status_code in (400, 422) and answer.json()["check"] == field
    assert answer.json()["detail"].startswith(f"{field}:")
    assert client.get("/marketplace/plugins/pii-redactor").json()["reviews"] == []


def test_reviewing_needs_a_signed_in_user_and_a_published_plugin(client: TestClient[Any]) -> None:
    assert review(client, "anonymous", {"rating": 5}).status_code == 401
    missing = client.put("/marketplace/plugins/nope/review", json={"rating": 5}, headers=API)
    assert missing.status_code == 404
    assert client.delete("/marketplace/plugins/pii-redactor/review", headers=API).status_code == 404
    review(client, "admin@example.com", {"rating": 3})
    assert client.delete("/marketplace/plugins/pii-redactor/review", headers=API).status_code == 200
