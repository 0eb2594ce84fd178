"""What the auth services raise for bad input: ValueErrors that name the offending field.

The CLI prints them as one line, the management API will turn them into 400/404/409 with
``field`` in the body; ``str(error)`` always starts with the field, e.g.
``email: 'bob' is not an email address``.
"""

from __future__ import annotations

__all__ = ["AlreadyExists", "AuthError", "Conflict", "InvalidValue", "NotFound"]


class AuthError(ValueError):
    """Bad input to an auth service; ``field`` names the input that is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class InvalidValue(AuthError):
    """A value of the wrong shape (a malformed email, an unknown role, a negative duration)."""


class NotFound(AuthError):
    """The named user, workspace, membership or key does not exist."""


class AlreadyExists(AuthError):
    """The value must be unique and is taken (an email, a slug)."""


class Conflict(InvalidValue):
    """The change is well-formed but the current state forbids it (e.g. removing the last
    admin of a workspace, rotating a key that is already rotated)."""
