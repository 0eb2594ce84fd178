"""The marketplace pages over HTTP on a real app: browse with filters and htmx fragments, a
plugin's page with its README rendered safely, reviews (one per user, editable), the install
confirmation (capabilities must all be granted) and the installed-plugins page."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from sandbox.package import pack
from tests.identity_plugin import USER_HEADER, identity_plugin
from tests.sandbox.wasm_build import EXAMPLES, built

ADA, VIC, UMA = "ada@example.com", "vic@example.com", "uma@example.com"
GRANTS = [(ADA, "admin", "team-a"), (VIC, "viewer", "team-a"), (UMA, "user", "team-a")]
PLUGINS = [("web", "web:includeme"), ("routing", "plugins.routing:includeme"), ("sandbox", "sandbox:includeme"), ("marketplace", "marketplace:includeme")]
HTMX = {"hx-request": "true"}
HOSTILE_README = """# pii-redactor

Masks emails. <script>alert("readme")</script>

[click me](javascript:alert(1)) [data](data:text/html,<b>x</b>) [docs](https://example.com/docs)
![tracker](https://tracker.example/pixel.png)

<img src=x onerror="alert(2)">
"""


def as_(who: str, **extra: str) -> dict[str, str]:
    return {USER_HEADER: who, **extra}


@pytest.fixture
def package(tmp_path: Path, sign_package: Callable[..., Path]) -> tuple[Path, Path]:
    """pii-redactor built from source, with a hostile README, packed and signed."""
    folder = tmp_path / "src" / "pii-redactor"
    shutil.copytree(EXAMPLES / "pii-redactor", folder)
    (folder / "README.md").write_text(HOSTILE_README)
    shutil.copy(built(EXAMPLES / "pii-redactor"), folder / "plugin.wasm")
    syp = pack(folder, tmp_path / "dist")
    return syp, sign_package(syp)


@pytest.fixture
def client(client_for: Any, sigstore_toml: str) -> TestClient[Any]:
    # No index to download from: the confirmation shows the refusal; installs run in the browser tests.
    return client_for([*PLUGINS, identity_plugin(None, GRANTS)], toml="[marketplace]\nindexes = []\n" + sigstore_toml)


def token(client: TestClient[Any], who: str = ADA, path: str = "/ui/marketplace") -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', client.get(path, headers=as_(who)).text)
    assert found, "the page's forms carry the CSRF token"
    return found.group(1)


def publish(client: TestClient[Any], package: tuple[Path, Path]) -> None:
    syp, bundle = package
    answer = client.post(
        "/marketplace/publish",
        files={"package": (syp.name, syp.read_bytes()), "bundle": (bundle.name, bundle.read_bytes())},
        data={"_csrf_token": token(client)},
        headers=as_(ADA),
    )
    assert answer.status_code == 201, answer.text


def post(client: TestClient[Any], path: str, data: dict[str, Any], *, who: str = ADA, htmx: bool = False) -> Any:
    headers = as_(who, **(HTMX if htmx else {}))
    return client.post(path, data={**data, "_csrf_token": token(client, who)}, headers=headers,
                       follow_redirects=False)


@pytest.fixture
def published(client: TestClient[Any], package: tuple[Path, Path]) -> TestClient[Any]:
    publish(client, package)
    return client


def test_browse_lists_searches_and_filters(published: TestClient[Any]) -> None:
    page = published.get("/ui/marketplace", headers=as_(VIC))
    html = page.text
    assert page.status_code == 200 and "<title>Marketplace · Switchyard</title>" in html
    assert 'href="/ui/marketplace/pii-redactor"' in html and "Signed" in html
    assert 'aria-live="polite"' in html and html.count('name="_csrf_token"') >= 1
    assert re.search(r'href="/ui/marketplace"\s+aria-current="page"', html)
    fragment = published.get("/ui/marketplace?q=redact&category=security", headers=as_(VIC, **HTMX)).text
    assert "<html" not in fragment and "pii-redactor" in fragment and "1 plugin matching" in fragment
    none = published.get("/ui/marketplace?q=nothing-like-this", headers=as_(VIC, **HTMX)).text
    assert "0 plugins" in none and "No plugin matches" in none
    bad = published.get("/ui/marketplace?category=toys&sort=price", headers=as_(VIC))
    assert bad.status_code == 422
    assert 'aria-invalid="true" aria-describedby="category-error"' in bad.text
    assert "Category: &#39;toys&#39; is not one of" in bad.text and "Sort by: &#39;price&#39;" in bad.text


def test_the_plugin_page_shows_readme_safely_versions_publisher_capabilities_and_limits(
    published: TestClient[Any],
) -> None:
    html = published.get("/ui/marketplace/pii-redactor", headers=as_(VIC)).text
    readme = html[html.index('<div class="readme">'):html.index("</div>", html.index('<div class="readme">'))]
    assert "<script" not in readme and "&lt;script&gt;" in readme
    hrefs = re.findall(r'href="([^"]*)"', readme)
    assert hrefs == ["https://example.com/docs", "https://tracker.example/pixel.png"]  # no javascript:, data:
    assert "[click me](javascript:alert(1))" in readme  # shown as the text it is
    assert 'href="https://example.com/docs" rel="nofollow noopener noreferrer"' in readme
    assert "<img" not in readme and "Image: tracker" in readme
    assert "<h3>pii-redactor</h3>" in readme  # renumbered under the page's own headings
    assert "https://github.com/acme/pii-redactor" in html and "Sigstore bundle" in html
    assert "Read its own settings" in html and "read its own settings" in html
    assert "20,000,000" in html and "16 MB" in html and "50 ms" in html
    assert "0.1.0" in html and "Only an admin of this workspace can install" in html
    assert published.get("/ui/marketplace/no-such-plugin", headers=as_(VIC)).status_code == 404


def test_one_review_per_user_editable(published: TestClient[Any]) -> None:
    first = post(published, "/ui/marketplace/pii-redactor/review", {"rating": "4", "text": "Works <b>well</b>"},
                 who=VIC, htmx=True)
    assert first.status_code == 200 and "<html" not in first.text
    assert "4.0 of 5 (1 rating)" in first.text and "Works &lt;b&gt;well&lt;/b&gt;" in first.text
    assert "Edit your review" in first.text and 'hx-swap-oob="innerHTML"' in first.text
    again = post(published, "/ui/marketplace/pii-redactor/review", {"rating": "2", "text": "Changed my mind"}, who=VIC)
    assert again.status_code == 303
    html = published.get("/ui/marketplace/pii-redactor", headers=as_(VIC)).text
    assert "2.0 of 5 (1 rating)" in html and "Changed my mind" in html and "Works" not in html
    post(published, "/ui/marketplace/pii-redactor/review", {"rating": "5"}, who=UMA)
    assert "3.5 of 5 (2 ratings)" in published.get("/ui/marketplace/pii-redactor", headers=as_(UMA)).text
    refused = post(published, "/ui/marketplace/pii-redactor/review", {"rating": "9", "text": "x"}, who=UMA)
    assert refused.status_code == 422
    assert 'id="rating-error"' in refused.text and "Rating: &#39;9&#39; is not 1 to 5 stars." in refused.text


def test_install_needs_every_capability_and_lands_on_the_installed_page(published: TestClient[Any]) -> None:
    confirm = published.get("/ui/marketplace/pii-redactor/install", headers=as_(ADA))
    assert confirm.status_code == 200 and 'id="grant-config"' in confirm.text
    assert published.get("/ui/marketplace/pii-redactor/install", headers=as_(VIC)).status_code == 200
    assert post(published, "/ui/marketplace/pii-redactor/install", {"version": "0.1.0", "grant": "config"},
                who=VIC).status_code == 403
    refused = post(published, "/ui/marketplace/pii-redactor/install", {"version": "0.1.0"})
    assert refused.status_code == 422 and "not granted: config" in refused.text
    assert 'aria-describedby="grant-error"' in refused.text
    installed = published.get("/ui/plugins/installed", headers=as_(ADA)).text
    assert "No marketplace plugin is installed" in installed


def test_the_installed_page_is_read_only_for_viewers_and_has_the_unsigned_toggle(published: TestClient[Any]) -> None:
    html = published.get("/ui/plugins/installed", headers=as_(VIC)).text
    assert "Not allowed" in html and 'id="allow-unsigned"' not in html
    assert post(published, "/ui/plugins/installed", {"op": "unsigned", "allow": "1"}, who=VIC).status_code == 403
    answer = post(published, "/ui/plugins/installed", {"op": "unsigned", "allow": "1"}, htmx=True)
    assert answer.status_code == 200 and answer.text.startswith('<div id="installed-panel"')
    assert "Unsigned installs are allowed in team-a." in answer.text and 'id="allow-unsigned" name="allow" value="1" checked' in answer.text
    bad = post(published, "/ui/plugins/installed", {"op": "explode", "name": "x"})
    assert bad.status_code == 422 and "Action: &#39;explode&#39; is not one of" in bad.text
    missing = post(published, "/ui/plugins/installed", {"op": "disable", "name": "ghost"})
    assert missing.status_code == 422 and "no plugin named &#39;ghost&#39; is installed" in missing.text
