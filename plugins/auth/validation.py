"""Checks on what people type: each returns the clean value or raises InvalidValue naming the field.

Kept apart from the service so the CLI, the future management API and the UI forms all
refuse the same things with the same words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta

from plugins.auth.errors import InvalidValue
from plugins.auth.models import ROLES

__all__ = [
    "MAX_GRACE_SECONDS",
    "check_expires_in",
    "check_grace_seconds",
    "check_password",
    "check_role",
    "check_scopes",
    "check_slug",
    "check_text",
    "normalize_email",
]

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
# [a-z0-9-]{2,40}, not starting with "-": a leading dash would read as an option on the CLI.
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,39}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_SCOPES = 50
MAX_GRACE_SECONDS = 30 * 24 * 3600
_MAX_EXPIRY = timedelta(days=10 * 366)


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased, so Alice@Example.com and alice@example.com are one user."""
    value = str(email).strip().lower()
    if not _EMAIL.fullmatch(value) or len(value) > 254:
        raise InvalidValue("email", f"{email!r} is not an email address (expected name@domain)")
    return value


def check_slug(slug: str) -> str:
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        hint = (
            f"; did you mean {slug.lower()!r}?"
            if isinstance(slug, str) and _SLUG.fullmatch(slug.lower())
            else ""
        )
        raise InvalidValue(
            "slug",
            f"{slug!r} is not a workspace slug: use 2 to 40 lower-case letters, digits and "
            f"dashes, not starting with a dash (e.g. 'team-a'){hint}",
        )
    return slug


def check_text(value: str | None, field: str, *, max_length: int = 200) -> str:
    """A short single-line label (display name, workspace name, key name); None becomes ''."""
    text = "" if value is None else str(value).strip()
    if len(text) > max_length:
        raise InvalidValue(field, f"is {len(text)} characters long; at most {max_length} allowed")
    if _CONTROL.search(text):
        raise InvalidValue(field, "must be one line without control characters")
    return text


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidValue("role", f"{role!r} is not a role; choose one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if not isinstance(password, str) or not 8 <= len(password) <= 1024:
        raise InvalidValue("password", "must be 8 to 1024 characters long")
    return password


def check_scopes(scopes: Iterable[str] | None) -> list[str]:
    """Endpoint or model patterns, e.g. ``/v1/messages`` or ``model:claude-*``; [] means all.

    Only the shape is checked here (non-empty, no spaces, deduplicated); what a pattern
    means is decided where scopes are enforced.
    """
    if scopes is None:
        return []
    if isinstance(scopes, str):
        raise InvalidValue("scopes", f"must be a list of patterns, not the string {scopes!r}")
    clean: list[str] = []
    for scope in scopes:
        if not isinstance(scope, str) or not scope.strip():
            raise InvalidValue(
                "scopes", f"{scope!r} is not a pattern (expected a non-empty string)"
            )
        scope = scope.strip()
        if any(ch.isspace() for ch in scope) or len(scope) > 200:
            raise InvalidValue(
                "scopes", f"{scope!r}: a pattern has no spaces and at most 200 characters"
            )
        if scope not in clean:
            clean.append(scope)
    if len(clean) > MAX_SCOPES:
        raise InvalidValue("scopes", f"{len(clean)} patterns given; at most {MAX_SCOPES} allowed")
    return clean


def check_expires_in(expires_in: timedelta | None) -> timedelta | None:
    if expires_in is None:
        return None
    if not isinstance(expires_in, timedelta) or expires_in <= timedelta(0):
        raise InvalidValue("expires_in", f"must be a positive duration, got {expires_in!r}")
    if expires_in > _MAX_EXPIRY:
        raise InvalidValue("expires_in", "must be at most 10 years; leave it out for no expiry")
    return expires_in


def check_grace_seconds(seconds: int) -> int:
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not 0 <= seconds <= MAX_GRACE_SECONDS
    ):
        raise InvalidValue(
            "grace_seconds",
            f"must be a whole number from 0 to {MAX_GRACE_SECONDS} (30 days), got {seconds!r}",
        )
    return seconds
