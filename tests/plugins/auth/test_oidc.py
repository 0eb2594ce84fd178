"""Single sign-on against a real local OpenID Connect provider (tests/plugins/auth/oidc_provider.py):
the browser goes app -> provider -> app over HTTP, the app exchanges the code and checks the
ID token itself."""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from core.settings import SettingsError, validate_section
from plugins.auth import AuthSettings, links
from tests.plugins.auth.oidc_provider import REMOVE, OidcProvider, new_key
from tests.plugins.auth.signin_support import (
    add_user,
    app,
    enable_totp,
    on_app_loop,
    post_form,
    service_of,
    sign_in,
    signed_in,
)

CALLBACK = "/ui/sign-in/oidc/callback"


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with OidcProvider() as running:
        yield running


def settings_toml(provider: OidcProvider, **extra: str) -> str:
    lines = [
        "[auth.oidc]",
        f'issuer = "{provider.issuer}"',
        f'client_id = "{provider.client_id}"',
        f'client_secret = "{provider.client_secret}"',
        'label = "Example ID"',
        *(f"{k} = {v}" for k, v in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def sso_app(client_for: Any, provider: OidcProvider, **extra: str) -> Any:
    client = app(client_for, toml=settings_toml(provider, **extra))
    add_user(client, "alice@example.com", password=None, workspace="team-a")
    return client


def to_provider(client: Any, start: str = "/ui/sign-in/oidc") -> str:
    """Start at the app; the URL of the provider's authorization page it sends us to."""
    began = client.get(start, follow_redirects=False)
    assert began.status_code == 303, began.text
    return began.headers["location"]


def back_from_provider(authorize_url: str) -> str:
    """Visit the provider (really, over HTTP); the app path + query it sends us back to."""
    answer = httpx.get(authorize_url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    assert back.path == CALLBACK
    return f"{back.path}?{back.query}"


def sso(client: Any, start: str = "/ui/sign-in/oidc") -> Any:
    """The whole round trip; the app's answer to the callback."""
    return client.get(back_from_provider(to_provider(client, start)), follow_redirects=False)


def failure(response: Any) -> str:
    assert "You are not signed in" in response.text
    start = response.text.index("<strong>Error:</strong>") + len("<strong>Error:</strong>")
    return html.unescape(response.text[start : response.text.index("</p>", start)].strip())


def test_signing_in_with_the_provider(client_for: Any, provider: OidcProvider) -> None:
    client = sso_app(client_for, provider)
    page = client.get("/ui/sign-in?next=/ui/plugins")
    assert 'href="/ui/sign-in/oidc?next=/ui/plugins">Sign in with Example ID</a>' in page.text

    authorize = urlsplit(to_provider(client, "/ui/sign-in/oidc?next=/ui/plugins"))
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert (
        f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == f"{provider.issuer}/authorize"
    )
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["scope"] == "openid email profile"
    assert query["redirect_uri"] == "http://testserver.local" + CALLBACK
    assert query["state"] and query["nonce"]

    done = client.get(back_from_provider(authorize.geturl()), follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/ui/plugins"
    assert signed_in(client)
    assert client.get("/api/v1/me").json()["email"] == "alice@example.com"
    [exchange] = provider.token_requests
    assert exchange["auth_method"] == "client_secret_basic"
    assert len(exchange["code_verifier"]) >= 43  # PKCE verifier sent (and checked there)


def test_a_forged_state_is_refused(client_for: Any, provider: OidcProvider) -> None:
    client = sso_app(client_for, provider)
    path, _, query = back_from_provider(to_provider(client)).partition("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    params["state"] = "attacker-state"
    refused = client.get(f"{path}?{urlencode(params)}", follow_redirects=False)
    assert refused.status_code == 400
    assert "state mismatch" in failure(refused)
    assert provider.token_requests == []  # the code was never exchanged
    assert not signed_in(client)


def test_a_callback_nobody_started_is_refused(client_for: Any, provider: OidcProvider) -> None:
    client = sso_app(client_for, provider)
    other_browser = app(client_for, toml=settings_toml(provider))
    callback = back_from_provider(to_provider(other_browser))
    refused = client.get(callback, follow_redirects=False)
    assert refused.status_code == 400
    assert "was not started in this browser" in failure(refused)
    assert not signed_in(client)


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ({"nonce": "someone-elses-nonce"}, "the ID token's nonce claim is wrong or missing"),
        ({"nonce": REMOVE}, "the ID token's nonce claim is wrong or missing"),
        ({"aud": "another-client"}, "the ID token's aud claim is wrong or missing"),
        ({"aud": ["switchyard", "another-client"]}, "the ID token's azp claim is wrong"),
        ({"iss": "https://impostor.example"}, "the ID token's iss claim is wrong or missing"),
        (
            {"exp": int(time.time()) - 300, "iat": int(time.time()) - 900},
            "the ID token has expired",
        ),
    ],
    ids=["wrong-nonce", "no-nonce", "wrong-audience", "extra-audience", "wrong-issuer", "expired"],
)
def test_bad_id_tokens_are_refused(
    client_for: Any, provider: OidcProvider, tamper: dict[str, Any], expected: str
) -> None:
    client = sso_app(client_for, provider)
    provider.tamper = tamper
    refused = sso(client)
    assert refused.status_code == 400
    assert expected in failure(refused)
    assert not signed_in(client)


def test_a_token_signed_with_an_unpublished_key_is_refused(
    client_for: Any, provider: OidcProvider
) -> None:
    client = sso_app(client_for, provider)
    provider.sign_with = new_key(provider.keys[0].kid)  # same kid, different key
    refused = sso(client)
    assert refused.status_code == 400
    assert "signature does not verify" in failure(refused)
    assert not signed_in(client)


def test_rotated_provider_keys_are_fetched_again(client_for: Any, provider: OidcProvider) -> None:
    client = sso_app(client_for, provider)
    assert sso(client).status_code == 303
    fetched = provider.jwks_fetches
    provider.rotate_keys()
    client.cookies.clear()
    assert sso(client).status_code == 303
    assert provider.jwks_fetches == fetched + 1


def test_an_unverified_email_is_refused(client_for: Any, provider: OidcProvider) -> None:
    client = sso_app(client_for, provider)
    provider.user["email_verified"] = False
    refused = sso(client)
    assert refused.status_code == 403
    assert (
        failure(refused) == "Example ID has not verified alice@example.com; verify it there first."
    )
    assert not signed_in(client)


def test_the_provider_saying_no_is_shown(client_for: Any, provider: OidcProvider) -> None:
    client = sso_app(client_for, provider)
    provider.deny = True
    refused = sso(client)
    assert "the provider refused the sign-in: the user said no" in failure(refused)


def test_unknown_emails_need_an_invitation(client_for: Any, provider: OidcProvider) -> None:
    client = sso_app(client_for, provider)
    provider.user.update(email="bob@example.com", sub="user-2")
    refused = sso(client)
    assert refused.status_code == 403
    assert failure(refused) == "No account uses bob@example.com. Ask an admin to invite you."

    db = service_of(client).db
    token = on_app_loop(
        client, lambda: links.create_invite(db, "bob@example.com", "team-a", "viewer", "alice")
    )
    page = client.get(links.invite_path(token))
    assert f'href="/ui/sign-in/oidc?invite={token}">Join with Example ID</a>' in page.text
    joined = sso(client, f"/ui/sign-in/oidc?invite={token}")
    assert joined.status_code == 303
    assert signed_in(client)
    assert client.app.state.registry.permissions.roles_for("bob@example.com", "team-a") == [
        "viewer"
    ]
    assert client.get(links.invite_path(token)).status_code == 404


def test_create_users_makes_an_account_without_any_role(
    client_for: Any, provider: OidcProvider
) -> None:
    client = sso_app(client_for, provider, create_users="true")
    provider.user.update(email="Carol@Example.com", sub="user-3", name="Carol")
    assert sso(client).status_code == 303
    me = client.get("/api/v1/me").json()
    assert (me["email"], me["display_name"], me["roles"]) == ("carol@example.com", "Carol", [])


def test_two_step_sign_in_still_applies(client_for: Any, provider: OidcProvider) -> None:
    client = sso_app(client_for, provider)
    add_user(client, "dave@example.com")
    sign_in(client, "dave@example.com")
    enable_totp(client)
    post_form(client, "/ui/sign-out", {})
    provider.user.update(email="dave@example.com", sub="user-4")
    step = sso(client)
    assert step.headers["location"] == "/ui/sign-in/mfa"
    assert not signed_in(client)


def test_without_settings_there_is_no_sso(client_for: Any) -> None:
    client = app(client_for)
    assert "Sign in with" not in client.get("/ui/sign-in").text
    assert client.get("/ui/sign-in/oidc", follow_redirects=False).status_code == 404


def test_an_unreachable_provider_is_reported(client_for: Any) -> None:
    toml = '[auth.oidc]\nissuer = "http://127.0.0.1:1"\nclient_id = "x"\n'
    refused = app(client_for, toml=toml).get("/ui/sign-in/oidc", follow_redirects=False)
    assert refused.status_code == 502
    assert "Single sign-on is unavailable: could not read the provider's discovery document" in (
        failure(refused)
    )


@pytest.mark.parametrize(
    ("toml", "where", "says"),
    [
        (
            'issuer = "http://idp.example.com"\nclient_id = "x"',
            "auth.oidc",
            "issuer must be an https:// URL",
        ),
        (
            'issuer = "https://idp.example.com"\nclient_id = "x"\nscopes = ["email"]',
            "auth.oidc",
            "scopes must include 'openid'",
        ),
        ('issuer = "https://idp.example.com"\nclient_id = ""', "auth.oidc.client_id", ""),
        ('issuer = "https://idp.example.com"', "auth.oidc", "client_id"),
    ],
    ids=["plain-http", "no-openid", "empty-client-id", "no-client-id"],
)
def test_settings_errors_name_the_key(settings_for: Any, toml: str, where: str, says: str) -> None:
    settings = settings_for(f"[auth.oidc]\n{toml}\n")
    with pytest.raises(SettingsError) as refused:
        validate_section(settings, "auth", AuthSettings)
    assert where in str(refused.value) and says in str(refused.value)


def test_the_client_secret_may_come_from_the_environment(
    settings_for: Any, provider: OidcProvider
) -> None:
    toml = settings_toml(provider).replace(f'"{provider.client_secret}"', '"env:SSO_SECRET"')
    settings = settings_for(toml, env={"SSO_SECRET": provider.client_secret})
    oidc = validate_section(settings, "auth", AuthSettings).oidc
    assert oidc is not None and oidc.client_secret == provider.client_secret
