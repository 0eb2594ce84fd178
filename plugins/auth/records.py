"""Plain, frozen records the auth services return (never rows or ORM objects).

They carry emails and slugs rather than bare ids, because that is what the CLI, the UI and
usage events show; ``as_dict()`` gives JSON-ready values (ISO 8601 times).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = ["ApiKey", "KeyStatus", "Membership", "User", "Workspace"]

KeyStatus = Literal["active", "grace", "rotated", "expired", "revoked"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass(frozen=True, slots=True)
class _Record:
    def as_dict(self) -> dict[str, Any]:
        return {name: _jsonable(value) for name, value in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class User(_Record):
    id: int
    email: str
    display_name: str
    is_active: bool
    has_password: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Workspace(_Record):
    id: int
    slug: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Membership(_Record):
    """A user's place in a workspace; ``roles`` are read from the policy (Casbin ``g`` lines),
    ``role`` is the first of them (or "" when the policy gives them none)."""

    user: str  # email
    workspace: str  # slug
    role: str
    created_at: datetime
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ApiKey(_Record):
    """One key as stored: never the secret, which only its creator saw once."""

    id: int
    prefix: str
    user: str  # email
    workspace: str  # slug
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_from: str | None  # prefix of the key this one replaced
    grace_until: datetime | None

    def status(self, now: datetime) -> KeyStatus:
        """revoked > expired > rotated (grace over) > grace (rotated, still valid) > active."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        if self.grace_until is not None:
            return "rotated" if now >= self.grace_until else "grace"
        return "active"
