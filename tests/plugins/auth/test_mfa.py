"""TOTP and recovery codes on /ui/me/security, and the second sign-in step they add."""

from __future__ import annotations

import time
from typing import Any

import pyotp
from sqlalchemy import select

from plugins.auth.models import recovery_codes, users
from tests.plugins.auth import signin_support
from tests.plugins.auth.signin_support import (
    PASSWORD,
    add_user,
    alert_text,
    assert_unique_ids,
    enable_totp,
    error_text,
    on_app_loop,
    post_form,
    recovery_codes_on_page,
    service_of,
    sign_in,
    signed_in,
    totp_secret_on_page,
)

MFA = "/ui/sign-in/mfa"
both_databases = signin_support.both_databases  # the fixture: SQLite, then PostgreSQL


def _signed_in_user(new_app: Any, toml: str | None = None) -> Any:
    client = new_app(toml)
    add_user(client)
    assert sign_in(client).status_code == 303
    return client


def _sign_out(client: Any) -> None:
    post_form(client, "/ui/sign-out", {})
    client.cookies.clear()


def _next_code(secret: str) -> str:
    """The code of the next 30-second step: valid now (drift window) and not used yet."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def _stored(client: Any) -> Any:
    async def read() -> Any:
        async with service_of(client).db.engine.connect() as conn:
            user = (await conn.execute(select(users))).one()
            codes = (await conn.execute(select(recovery_codes))).all()
            return user, codes

    return on_app_loop(client, read)


def test_setting_up_shows_a_qr_code_and_asks_for_a_code_first(both_databases: Any) -> None:
    client = _signed_in_user(both_databases)
    page = client.get("/ui/me/security")
    assert "Set up two-step sign-in" in page.text
    assert post_form(client, "/ui/me/security/totp/setup", {}).status_code == 303

    pending = client.get("/ui/me/security")
    assert "<svg" in pending.text and "<title>QR code to add Switchyard" in pending.text
    secret = totp_secret_on_page(pending.text)
    assert len(secret) == 32

    wrong = post_form(client, "/ui/me/security/totp/confirm", {"code": "000000"})
    assert wrong.status_code == 400
    assert error_text(wrong.text, "code").startswith("That code does not match.")
    _sign_out(client)
    assert sign_in(client).headers["location"] == "/ui/", "TOTP must stay off until confirmed"

    shown = post_form(client, "/ui/me/security/totp/confirm", {"code": pyotp.TOTP(secret).now()})
    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store"
    codes = recovery_codes_on_page(shown.text)
    assert len(codes) == len(set(codes)) == 10
    on = client.get("/ui/me/security")
    assert "10 recovery codes left." in on.text
    assert "auth-secret" not in on.text  # the key is not shown again
    for html in (page.text, pending.text, on.text):
        assert_unique_ids(html)


def test_secrets_and_codes_are_not_stored_in_the_clear(both_databases: Any) -> None:
    client = _signed_in_user(both_databases)
    secret, codes = enable_totp(client)
    user, rows = _stored(client)
    assert user.totp_secret.startswith("v1.") and secret not in user.totp_secret
    assert len(rows) == 10
    stored = " ".join(r.code_hash for r in rows)
    assert all(code not in stored and code.replace("-", "") not in stored for code in codes)


def test_sign_in_asks_for_the_code_before_the_session_counts(both_databases: Any) -> None:
    client = _signed_in_user(both_databases)
    secret, _ = enable_totp(client)
    _sign_out(client)

    step = sign_in(client, next="/ui/plugins")
    assert step.status_code == 303 and step.headers["location"] == MFA
    assert not signed_in(client)
    form = client.get(MFA)
    assert form.status_code == 200 and 'autocomplete="one-time-code"' in form.text

    wrong = post_form(client, MFA, {"code": "123456"})
    assert wrong.status_code == 401
    assert error_text(wrong.text, "code") == (
        "That code is not valid. Codes change every 30 seconds."
    )
    done = post_form(client, MFA, {"code": _next_code(secret)})
    assert done.status_code == 303 and done.headers["location"] == "/ui/plugins"
    assert signed_in(client)


def test_a_code_works_only_once(both_databases: Any) -> None:
    client = _signed_in_user(both_databases)
    secret, _ = enable_totp(client)
    _sign_out(client)
    code = _next_code(secret)
    sign_in(client)
    assert post_form(client, MFA, {"code": code}).status_code == 303
    _sign_out(client)
    sign_in(client)
    replay = post_form(client, MFA, {"code": code})
    assert replay.status_code == 401
    assert not signed_in(client)


def test_recovery_codes_work_once_each(both_databases: Any) -> None:
    client = _signed_in_user(both_databases)
    _, codes = enable_totp(client)
    _sign_out(client)
    sign_in(client)
    used = post_form(client, MFA, {"code": codes[3].upper().replace("-", " ")})
    assert used.status_code == 303
    page = client.get(used.headers["location"])
    assert "You used a recovery code; 9 left." in page.text
    _sign_out(client)
    sign_in(client)
    assert post_form(client, MFA, {"code": codes[3]}).status_code == 401


def test_wrong_codes_count_towards_the_lockout(both_databases: Any) -> None:
    toml = "[auth]\nlockout_threshold = 3\nsignin_attempts_per_minute = 100\n"
    client = _signed_in_user(both_databases, toml)
    enable_totp(client)
    _sign_out(client)
    sign_in(client)
    for code in ("111111", "222222"):
        assert post_form(client, MFA, {"code": code}).status_code == 401
    locked = post_form(client, MFA, {"code": "333333"})
    assert locked.status_code == 303 and locked.headers["location"] == "/ui/sign-in"
    page = client.get("/ui/sign-in")
    assert "This account is locked for 15 minutes" in page.text
    refused = sign_in(client)
    assert refused.status_code == 429
    assert "locked" in alert_text(refused.text)


def test_the_step_without_a_password_first_goes_back_to_sign_in(both_databases: Any) -> None:
    client = both_databases()
    asked = client.get(MFA, follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"] == "/ui/sign-in"
    assert post_form(client, MFA, {"code": "123456"}).headers["location"] == "/ui/sign-in"


def test_turning_off_needs_the_password(both_databases: Any) -> None:
    client = _signed_in_user(both_databases)
    enable_totp(client)
    refused = post_form(client, "/ui/me/security/totp/disable", {"password": "not it at all"})
    assert refused.status_code == 400
    assert error_text(refused.text, "disable-password") == "That is not your password."
    assert "10 recovery codes left." in refused.text

    done = post_form(client, "/ui/me/security/totp/disable", {"password": PASSWORD})
    assert done.status_code == 303
    assert "Two-step sign-in is off." in client.get("/ui/me/security").text
    user, rows = _stored(client)
    assert (user.totp_secret, user.totp_enabled_at, rows) == (None, None, [])
    _sign_out(client)
    assert sign_in(client).headers["location"] == "/ui/"


def test_new_recovery_codes_replace_the_old_ones(both_databases: Any) -> None:
    client = _signed_in_user(both_databases)
    _, old = enable_totp(client)
    refused = post_form(client, "/ui/me/security/recovery-codes", {"password": "wrong one!"})
    assert refused.status_code == 400
    assert error_text(refused.text, "codes-password") == "That is not your password."
    shown = post_form(client, "/ui/me/security/recovery-codes", {"password": PASSWORD})
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    new = recovery_codes_on_page(shown.text)
    assert len(new) == 10 and not set(new) & set(old)
    _sign_out(client)
    sign_in(client)
    assert post_form(client, MFA, {"code": old[0]}).status_code == 401
    assert post_form(client, MFA, {"code": new[0]}).status_code == 303


def test_setup_cannot_replace_a_working_secret(both_databases: Any) -> None:
    client = _signed_in_user(both_databases)
    enable_totp(client)
    before = _stored(client)[0].totp_secret
    again = post_form(client, "/ui/me/security/totp/setup", {})
    assert again.status_code == 303
    assert "already on" in client.get("/ui/me/security").text
    assert _stored(client)[0].totp_secret == before


# -- changing the password ------------------------------------------------------------------


def test_changing_the_password_checks_everything_and_signs_out_other_sessions(
    both_databases: Any,
) -> None:
    client = _signed_in_user(both_databases)
    other = client.cookies["sy_session"]
    client.cookies.clear()
    sign_in(client)
    path = "/ui/me/security/password"

    wrong = post_form(
        client,
        path,
        {
            "current_password": "nope nope",
            "new_password": "n" * 12,
            "new_password_confirm": "n" * 12,
        },
    )
    assert wrong.status_code == 400
    assert error_text(wrong.text, "current_password") == "That is not your password."
    short = post_form(
        client,
        path,
        {"current_password": PASSWORD, "new_password": "short", "new_password_confirm": "short"},
    )
    assert error_text(short.text, "new_password") == (
        "The new password must be 8 to 1024 characters long."
    )
    differ = post_form(
        client,
        path,
        {"current_password": PASSWORD, "new_password": "n" * 12, "new_password_confirm": "m" * 12},
    )
    assert error_text(differ.text, "new_password_confirm") == (
        "The two new passwords are not the same."
    )

    done = post_form(
        client,
        path,
        {"current_password": PASSWORD, "new_password": "n" * 12, "new_password_confirm": "n" * 12},
    )
    assert done.status_code == 303
    assert (
        "Your password is changed. 1 other session signed out."
        in client.get("/ui/me/security").text
    )
    assert signed_in(client)  # this session stays
    mine = client.cookies["sy_session"]
    client.cookies.set("sy_session", other)
    assert not signed_in(client)
    client.cookies.set("sy_session", mine)
    _sign_out(client)
    assert sign_in(client).status_code == 401
    assert sign_in(client, password="n" * 12).status_code == 303
