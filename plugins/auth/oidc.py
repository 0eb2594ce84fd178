"""Single sign-on with an OpenID Connect provider (authorization code flow, PKCE, nonce).

``/ui/sign-in/oidc`` sends the browser to the provider with a fresh ``state``, ``nonce`` and
PKCE verifier, kept in the encrypted cookie session. ``/ui/sign-in/oidc/callback`` checks the
state, exchanges the code (authlib's httpx client), and accepts the ID token only when its
signature verifies against the provider's JWKS (asymmetric algorithms only; the keys are
re-fetched once for an unknown ``kid``, so provider key rotation just works) and its issuer,
audience (and ``azp``), nonce, expiry and ``email_verified`` are right. The verified email
then signs in the user who has it; an unknown email is refused unless an invitation for it
is being accepted or ``create_users`` lets it become an account without any role.

Lockout does not apply here (it protects passwords, and the provider proved who this is);
TOTP does: a user with TOTP on still passes the second step.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import msgspec
from litestar import Request, Response
from litestar.response import Redirect
from sqlalchemy import select

if TYPE_CHECKING:  # authlib, joserfc and httpx load on the first single sign-on, not at start
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from joserfc.jwk import KeySet

from plugins.auth.links import INVITE, claim_creating_user, find_link
from plugins.auth.models import users
from plugins.auth.onboarding import grant_with_message
from plugins.auth.signin import accounts_of, render, safe_next

__all__ = ["OidcClient", "OidcError", "OidcSettings", "callback", "start"]

CALLBACK_PATH = "/ui/sign-in/oidc/callback"
_PENDING_KEY = "oidc"
_PENDING_TTL = 600  # seconds a user may spend at the provider
_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class OidcSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[auth.oidc]``: the provider. ``client_secret`` may be written ``env:NAME``."""

    issuer: str
    client_id: Annotated[str, msgspec.Meta(min_length=1)]
    client_secret: str = ""
    scopes: list[str] = msgspec.field(default_factory=lambda: ["openid", "email", "profile"])
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=60)] = "Single sign-on"
    # A verified email nobody has yet becomes an account without any role (an admin then
    # gives it one); off: only existing users and invited people get in.
    create_users: bool = False
    # The full callback URL the provider knows, when the server sits behind a proxy;
    # otherwise it is built from the request (…/ui/sign-in/oidc/callback).
    redirect_url: str | None = None
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 10.0

    def __post_init__(self) -> None:
        issuer = urlsplit(self.issuer)
        local = issuer.hostname in _LOCAL_HOSTS
        if issuer.scheme != "https" and not (issuer.scheme == "http" and local):
            raise ValueError(
                f"issuer must be an https:// URL (http only for localhost), got {self.issuer!r}"
            )
        if "openid" not in self.scopes:
            raise ValueError(f"scopes must include 'openid', got {self.scopes!r}")


class OidcError(Exception):
    """Sign-in with the provider failed; the message is for the person signing in."""


class OidcClient:
    """Discovery, JWKS, the authorization URL, and the code exchange with token checks."""

    def __init__(self, settings: OidcSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.label = settings.label
        self.clock = clock
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None

    def _oauth(self, **kwargs: Any) -> AsyncOAuth2Client:
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        return AsyncOAuth2Client(timeout=self.settings.timeout_seconds, **kwargs)

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (cached for an hour); its issuer must match."""
        if self._metadata is not None and self.clock() - self._metadata_at < 3600:
            return self._metadata
        url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        data = await self._get_json(url, "discovery document")
        if data.get("issuer") != self.settings.issuer:
            raise OidcError(
                f"the provider says its issuer is {data.get('issuer')!r}, not "
                f"{self.settings.issuer!r}; check [auth.oidc] issuer"
            )
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(field), str):
                raise OidcError(f"the provider's discovery document has no {field}")
        self._metadata, self._metadata_at = data, self.clock()
        return data

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        import httpx

        try:
            async with httpx.AsyncClient(timeout=self.settings.timeout_seconds) as client:
                response = await client.get(url)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(f"could not read the provider's {what} ({exc})") from exc
        if not isinstance(data, dict):
            raise OidcError(f"the provider's {what} is not a JSON object")
        return data

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        if self._keys is None or refresh:
            meta = await self.metadata()
            try:
                self._keys = KeySet.import_key_set(await self._get_json(meta["jwks_uri"], "JWKS"))
            except (JoseError, ValueError, KeyError, TypeError) as exc:
                raise OidcError(f"the provider's JWKS could not be read ({exc})") from exc
        return self._keys

    async def authorization_url(self, redirect_uri: str) -> tuple[str, dict[str, str]]:
        """Where to send the browser, and what to remember until the callback."""
        from authlib.common.security import generate_token

        meta = await self.metadata()
        pending = {
            "state": secrets.token_urlsafe(24),
            "nonce": secrets.token_urlsafe(24),
            "verifier": generate_token(64),
        }
        client = self._oauth(
            client_id=self.settings.client_id,
            scope=" ".join(self.settings.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"],
            state=pending["state"],
            code_verifier=pending["verifier"],
            nonce=pending["nonce"],
        )
        await client.aclose()
        return url, pending

    async def finish(
        self, params: dict[str, str], pending: dict[str, str], redirect_uri: str
    ) -> dict[str, Any]:
        """Check the callback, exchange the code, verify the ID token; its claims."""
        if "error" in params:
            detail = params.get("error_description") or params["error"]
            raise OidcError(f"the provider refused the sign-in: {detail}")
        if not hmac.compare_digest(params.get("state", ""), pending.get("state", "")):
            raise OidcError("the sign-in answer does not belong to this browser (state mismatch)")
        if not params.get("code"):
            raise OidcError("the provider sent no authorization code")
        meta = await self.metadata()
        methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
        async with self._oauth(
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            token_endpoint_auth_method=method,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        ) as client:
            try:
                token = await client.fetch_token(
                    meta["token_endpoint"],
                    code=params["code"],
                    code_verifier=pending["verifier"],
                    grant_type="authorization_code",
                )
            except Exception as exc:  # authlib raises OAuthError, httpx its own errors
                raise OidcError(f"the code exchange with the provider failed ({exc})") from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("the provider's answer has no ID token")
        return await self.verify_id_token(id_token, pending["nonce"])

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.errors import (
            BadSignatureError,
            ExpiredTokenError,
            InvalidClaimError,
            InvalidKeyIdError,
            JoseError,
            MissingClaimError,
        )

        try:
            try:
                decoded = jwt.decode(id_token, await self._key_set(), algorithms=_ALGORITHMS)
            except InvalidKeyIdError:
                # A key id we do not know: the provider may have rotated keys; fetch them once.
                decoded = jwt.decode(
                    id_token, await self._key_set(refresh=True), algorithms=_ALGORITHMS
                )
        except BadSignatureError as exc:
            raise OidcError("the ID token's signature does not verify") from exc
        except (JoseError, ValueError) as exc:
            raise OidcError(f"the ID token is not valid ({exc})") from exc
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self.clock()),
            leeway=60,
            iss={"essential": True, "value": self.settings.issuer},
            aud={"essential": True, "value": self.settings.client_id},
            sub={"essential": True},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError as exc:
            raise OidcError("the ID token has expired") from exc
        except (InvalidClaimError, MissingClaimError) as exc:
            claim = getattr(exc, "claim", "") or str(exc)
            raise OidcError(f"the ID token's {claim} claim is wrong or missing") from exc
        except JoseError as exc:
            raise OidcError(f"the ID token is not valid ({exc})") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.settings.client_id:
            raise OidcError("the ID token's azp claim is wrong or missing")
        return claims


def _client(request: Any) -> OidcClient | None:
    return request.app.state.registry.state.get("auth.oidc")


def _redirect_uri(request: Any, client: OidcClient) -> str:
    if client.settings.redirect_url:
        return client.settings.redirect_url
    return str(request.base_url).rstrip("/") + CALLBACK_PATH


def _failed(request: Any, message: str, status: int = 400) -> Response[Any]:
    return render(
        request,
        "auth/sign_in_oidc_error.html",
        {"message": message},
        title="Sign-in did not work",
        status=status,
    )


async def start(request: Request[Any, Any, Any]) -> Response[Any]:
    """``/ui/sign-in/oidc``: off to the provider (``?next=``, ``?invite=`` are kept)."""
    client = _client(request)
    if client is None:
        return _failed(request, "Single sign-on is not configured on this server.", 404)
    try:
        url, pending = await client.authorization_url(_redirect_uri(request, client))
    except OidcError as exc:
        return _failed(request, f"Single sign-on is unavailable: {exc}.", 502)
    pending["next"] = safe_next(request.query_params.get("next"))
    pending["invite"] = request.query_params.get("invite", "")[:200]
    pending["at"] = str(int(time.time()))
    request.session[_PENDING_KEY] = pending
    return Redirect(url, status_code=303)


async def callback(request: Request[Any, Any, Any]) -> Response[Any]:
    """``/ui/sign-in/oidc/callback``: checks, then signs in the user with the verified email."""
    client = _client(request)
    if client is None:
        return _failed(request, "Single sign-on is not configured on this server.", 404)
    pending = request.session.pop(_PENDING_KEY, None)
    if not isinstance(pending, dict) or time.time() - int(pending.get("at", 0)) > _PENDING_TTL:
        return _failed(
            request, "This sign-in was not started in this browser, or took too long. Start again."
        )
    params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
    try:
        claims = await client.finish(params, pending, _redirect_uri(request, client))
    except OidcError as exc:
        return _failed(request, f"Signing in with {client.label} did not work: {exc}.")
    email = claims.get("email")
    if not isinstance(email, str) or not email:
        return _failed(request, f"{client.label} did not tell us your email address.", 403)
    if claims.get("email_verified") not in (True, "true"):
        return _failed(
            request, f"{client.label} has not verified {email}; verify it there first.", 403
        )
    return await _sign_in(request, client, email.strip().lower(), claims, pending)


async def _sign_in(
    request: Request[Any, Any, Any],
    client: OidcClient,
    email: str,
    claims: dict[str, Any],
    pending: dict[str, str],
) -> Response[Any]:
    accounts = accounts_of(request)
    async with accounts.db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(users.c.id, users.c.is_active, users.c.totp_enabled_at).where(
                    users.c.email == email
                )
            )
        ).one_or_none()
    next_path = pending.get("next") or "/ui/"
    if row is not None:
        if not row.is_active:
            return _failed(request, f"The account {email} is deactivated.", 403)
        target = await accounts.start(
            request, row.id, totp=row.totp_enabled_at is not None, next_path=next_path
        )
        return Redirect(target, status_code=303)
    name = str(claims.get("name") or "")[:200]
    user_id = await _new_user(request, client, email, name, pending.get("invite", ""))
    if user_id is None:
        return _failed(request, f"No account uses {email}. Ask an admin to invite you.", 403)
    return Redirect(
        await accounts.start(request, user_id, totp=False, next_path=next_path), status_code=303
    )


async def _new_user(
    request: Any, client: OidcClient, email: str, name: str, invite_token: str
) -> int | None:
    """An account for an invited email, or (``create_users``) one without any role."""
    accounts = accounts_of(request)
    registry = request.app.state.registry
    link = await find_link(accounts.db, invite_token, INVITE) if invite_token else None
    if link is not None and link.email == email:
        user_id = await claim_creating_user(
            accounts.db, invite_token, INVITE, email=email, display_name=name, password_hash=None
        )
        if user_id is not None:
            await grant_with_message(request, registry, link, email)
        return user_id
    if not client.settings.create_users:
        return None
    user = await registry.state["auth.service"].create_user(email, display_name=name)
    return int(user.id)
