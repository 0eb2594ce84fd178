"""TOTP second factor (RFC 6238, pyotp) and single-use recovery codes.

* The TOTP secret is stored encrypted (AES-GCM, key derived from ``secret.key`` for the
  purpose ``auth.totp``), with the user id as associated data, so a ciphertext copied into
  another user's row does not decrypt. It stays *pending* until the user proves their
  authenticator app works by entering a code; only then is ``totp_enabled_at`` set.
* A code is accepted one step either side of now (clock drift) and never twice: the step of
  the last accepted code is stored and a guarded update refuses any step not after it, so
  two instances cannot both accept the same code.
* Recovery codes are 80 random bits each, shown once, stored as HMAC-SHA256 keyed from
  ``secret.key`` (``auth.recovery``), so a stolen table cannot be brute-forced offline
  without the key; each is used at most once (guarded update).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database
from plugins.auth.models import recovery_codes, users

__all__ = [
    "RECOVERY_CODE_COUNT",
    "Mfa",
    "SecretBox",
    "TotpState",
    "qr_svg",
]

RECOVERY_CODE_COUNT = 10
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud, typed by hand
_CODE_GROUPS, _GROUP_LENGTH = 4, 4  # 16 characters of 31 symbols: about 79 bits
_TOTP_CODE = re.compile(r"\d{6}")
ISSUER = "Switchyard"


class SecretBox:
    """AES-GCM sealing of short secrets, bound to a context string (the row they belong to)."""

    _VERSION = "v1."

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return self._VERSION + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, token: str, context: str) -> str | None:
        """The plaintext, or None when the value was tampered with or moved to another row."""
        if not token.startswith(self._VERSION):
            return None
        try:
            raw = base64.urlsafe_b64decode(token[len(self._VERSION) :])
            return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (InvalidTag, ValueError):
            return None


def qr_svg(uri: str, *, title: str) -> str:
    """The ``otpauth://`` URI as an inline SVG QR code (no script, fine under a strict CSP)."""
    return segno.make(uri, error="m").svg_inline(
        scale=5, border=2, title=title, dark="#000", light="#fff", omitsize=True
    )


def _normal_recovery(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


def _new_recovery_code() -> str:
    chars = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_GROUPS * _GROUP_LENGTH))
    return "-".join(chars[i : i + _GROUP_LENGTH] for i in range(0, len(chars), _GROUP_LENGTH))


class TotpState:
    """What the security page shows: off, pending (being set up) or on."""

    OFF, PENDING, ON = "off", "pending", "on"


class Mfa:
    """TOTP set-up and checks and recovery codes for users in one database."""

    def __init__(
        self,
        db: Database,
        *,
        totp_key: bytes,
        recovery_key: bytes,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.box = SecretBox(totp_key)
        self._recovery_key = recovery_key
        self.clock = clock

    # -- set-up ---------------------------------------------------------------------------

    async def state(self, user_id: int) -> str:
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(users.c.totp_secret, users.c.totp_enabled_at).where(
                        users.c.id == user_id
                    )
                )
            ).one_or_none()
        if row is None or row.totp_secret is None:
            return TotpState.OFF
        return TotpState.ON if row.totp_enabled_at is not None else TotpState.PENDING

    async def begin_setup(self, user_id: int) -> str:
        """A fresh pending secret (replacing an earlier pending one); refused while TOTP is on."""
        secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                update(users)
                .where(users.c.id == user_id, users.c.totp_enabled_at.is_(None))
                .values(totp_secret=self.box.seal(secret, _context(user_id)), totp_last_step=None)
            )
        if result.rowcount != 1:
            raise ValueError("two-step sign-in is already on; turn it off first")
        return secret

    async def pending_secret(self, user_id: int) -> str | None:
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(users.c.totp_secret).where(
                        users.c.id == user_id, users.c.totp_enabled_at.is_(None)
                    )
                )
            ).one_or_none()
        if row is None or row.totp_secret is None:
            return None
        return self.box.open(row.totp_secret, _context(user_id))

    @staticmethod
    def provisioning_uri(secret: str, email: str) -> str:
        return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)

    async def confirm_setup(self, user_id: int, code: str) -> list[str] | None:
        """Turn TOTP on if ``code`` matches the pending secret; the new recovery codes, or None."""
        secret = await self.pending_secret(user_id)
        if secret is None:
            return None
        step = _matching_step(secret, code, self.clock(), after=None)
        if step is None:
            return None
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        now = self.clock()
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                update(users)
                .where(users.c.id == user_id, users.c.totp_enabled_at.is_(None))
                .values(totp_enabled_at=now, totp_last_step=step)
            )
            if result.rowcount != 1:
                return None
            await self._store_codes(conn, user_id, codes, now)
        return codes

    async def disable(self, user_id: int) -> None:
        """Turn TOTP off and drop the recovery codes (the caller checked the password)."""
        await reset_mfa(self.db, user_id)

    # -- checking -------------------------------------------------------------------------

    async def verify(self, user_id: int, code: str) -> str | None:
        """``"totp"`` or ``"recovery"`` when ``code`` passes (and is used up), else None."""
        code = code.strip()
        if _TOTP_CODE.fullmatch(code.replace(" ", "")):
            return "totp" if await self._verify_totp(user_id, code.replace(" ", "")) else None
        return "recovery" if await self._use_recovery_code(user_id, code) else None

    async def _verify_totp(self, user_id: int, code: str) -> bool:
        async with self.db.engine.begin() as conn:
            row = (
                await conn.execute(
                    select(users.c.totp_secret, users.c.totp_last_step).where(
                        users.c.id == user_id, users.c.totp_enabled_at.is_not(None)
                    )
                )
            ).one_or_none()
            if row is None:
                return False
            secret = self.box.open(row.totp_secret, _context(user_id))
            if secret is None:
                return False
            step = _matching_step(secret, code, self.clock(), after=row.totp_last_step)
            if step is None:
                return False
            claimed = await conn.execute(
                update(users)
                .where(
                    users.c.id == user_id,
                    or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step),
                )
                .values(totp_last_step=step)
            )
            return claimed.rowcount == 1

    async def _use_recovery_code(self, user_id: int, code: str) -> bool:
        digest = self._hash(code)
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                update(recovery_codes)
                .where(
                    recovery_codes.c.user_id == user_id,
                    recovery_codes.c.code_hash == digest,
                    recovery_codes.c.used_at.is_(None),
                )
                .values(used_at=self.clock())
            )
            return result.rowcount == 1

    # -- recovery codes -------------------------------------------------------------------

    async def regenerate_codes(self, user_id: int) -> list[str]:
        """Replace every recovery code (old ones stop working); shown to the user once."""
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        async with self.db.engine.begin() as conn:
            await self._store_codes(conn, user_id, codes, self.clock())
        return codes

    async def codes_left(self, user_id: int) -> int:
        async with self.db.engine.connect() as conn:
            return int(
                (
                    await conn.execute(
                        select(func.count()).where(
                            recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None)
                        )
                    )
                ).scalar_one()
            )

    async def _store_codes(
        self, conn: AsyncConnection, user_id: int, codes: list[str], now: datetime
    ) -> None:
        await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
        await conn.execute(
            insert(recovery_codes),
            [{"user_id": user_id, "code_hash": self._hash(c), "created_at": now} for c in codes],
        )

    def _hash(self, code: str) -> str:
        return hmac.new(
            self._recovery_key, _normal_recovery(code).encode(), hashlib.sha256
        ).hexdigest()


def _context(user_id: int) -> str:
    return f"auth_users.totp_secret:{user_id}"


def _matching_step(secret: str, code: str, now: datetime, *, after: int | None) -> int | None:
    """The time step (previous, current or next) whose code is ``code``, if not used before."""
    code = code.strip().replace(" ", "")
    if not _TOTP_CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def reset_mfa(db: Database, user_id: int) -> tuple[bool, int]:
    """Turn TOTP off and delete the recovery codes (needs no keys: ``switchyard users
    reset-mfa`` runs it). Whether TOTP was on, and how many unused recovery codes went."""
    async with db.engine.begin() as conn:
        was_on = (
            await conn.execute(
                select(users.c.totp_enabled_at.is_not(None)).where(users.c.id == user_id)
            )
        ).scalar()
        await conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(totp_secret=None, totp_enabled_at=None, totp_last_step=None)
        )
        unused = (
            await conn.execute(
                delete(recovery_codes).where(
                    recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None)
                )
            )
        ).rowcount
        await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    return bool(was_on), int(unused or 0)
