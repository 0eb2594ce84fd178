"""``switchyard plugin sign`` and ``switchyard plugin verify``: Sigstore bundles for packages.

The ``plugin`` group belongs to the sandbox; the marketplace plugin calls ``register(group)``
to add these two. Errors are one line on stderr with exit code 2, like the rest of the group;
``verify`` failures start with the name of the check that refused (``identity: ...``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import click

__all__ = ["register", "sign_command", "verify_command"]

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


class SigningCommandError(click.ClickException):
    """One line on stderr, exit code 2 (the ``plugin`` group's convention)."""

    exit_code = 2


def register(group: click.Group) -> None:
    """Add ``sign`` and ``verify`` to the ``plugin`` group."""
    group.add_command(sign_command)
    group.add_command(verify_command)


def _trust(ctx: click.Context, trust_file: str | None, key: str, offline: bool = False) -> Any:
    """``--trust-root``/``--trust-config`` if given, else ``[marketplace.trust]`` from settings.

    Either option takes either kind of file (its mediaType says which); ``key`` only names it.
    """
    import msgspec

    from marketplace.trust import TrustError, TrustSettings, trust_from_settings

    if trust_file:
        return TrustSettings(**{key: str(Path(trust_file).resolve())})
    from core.settings import load_settings

    try:
        trust = trust_from_settings(load_settings(ctx.find_root().params.get("config")))
    except TrustError as exc:
        raise SigningCommandError(str(exc)) from None
    return msgspec.structs.replace(trust, offline=True) if offline else trust


@click.command("sign")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--identity-token",
    envvar="SIGSTORE_IDENTITY_TOKEN",
    help="OIDC token (also SIGSTORE_IDENTITY_TOKEN). Without it: ambient CI credentials, "
    "then the browser sign-in.",
)
@click.option(
    "--trust-config",
    "trust_file",
    type=click.Path(dir_okay=False),
    help="ClientTrustConfig JSON naming your Fulcio and Rekor (default: [marketplace.trust], "
    "else Sigstore's public-good instance).",
)
@click.option("--staging", is_flag=True, help="Use Sigstore's staging instance.")
@_JSON
@click.pass_context
def sign_command(
    ctx: click.Context,
    file: str,
    identity_token: str | None,
    trust_file: str | None,
    staging: bool,
    as_json: bool,
) -> None:
    """Sign FILE keylessly with Sigstore; writes FILE.sigstore.json beside it."""
    from marketplace.signing import SigningError, bundle_signer, sign_file

    trust = _trust(ctx, trust_file, "trust_config")
    try:
        bundle = sign_file(file, identity_token=identity_token, trust=trust, staging=staging)
    except SigningError as exc:
        raise SigningCommandError(str(exc)) from None
    signer = bundle_signer(bundle.read_bytes())
    identity = signer.identities[0] if signer.identities else ""
    digest = hashlib.sha256(Path(file).read_bytes()).hexdigest()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "path": file,
                    "bundle": str(bundle),
                    "sha256": digest,
                    "identity": identity,
                    "issuer": signer.issuer,
                }
            )
        )
        return
    click.echo(f"signed {file}\nbundle {bundle}\nsigner {identity} (issuer {signer.issuer})")
    click.echo(
        f"check: switchyard plugin verify {file} --identity '{identity}' --issuer '{signer.issuer}'"
    )


@click.command("verify")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--identity", required=True, help="Who must have signed: the certificate's email or URI."
)
@click.option("--issuer", required=True, help="The OIDC issuer that identity must come from.")
@click.option(
    "--bundle", type=click.Path(dir_okay=False), help="Bundle (default: FILE.sigstore.json)."
)
@click.option(
    "--trust-root",
    "trust_file",
    type=click.Path(dir_okay=False),
    help="TrustedRoot or ClientTrustConfig JSON (default: [marketplace.trust], else Sigstore's "
    "public-good instance).",
)
@click.option("--offline", is_flag=True, help="Public-good instance: use the cached trust root.")
@_JSON
@click.pass_context
def verify_command(
    ctx: click.Context,
    file: str,
    identity: str,
    issuer: str,
    bundle: str | None,
    trust_file: str | None,
    offline: bool,
    as_json: bool,
) -> None:
    """Check FILE against its Sigstore bundle: signed by IDENTITY through ISSUER, unchanged."""
    from marketplace.signing import VerificationError, verify_file

    trust = _trust(ctx, trust_file, "trusted_root", offline)
    try:
        info = verify_file(file, bundle, identity=identity, issuer=issuer, trust=trust)
    except VerificationError as exc:
        if as_json:
            click.echo(json.dumps(exc.as_dict()))
        raise SigningCommandError(f"{exc.check}: {exc}") from None
    if as_json:
        click.echo(json.dumps(info.as_dict()))
    else:
        click.echo(f"verified: {info.identity}, {info.issuer}")
