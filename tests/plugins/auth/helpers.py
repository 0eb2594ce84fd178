"""Helpers shared by the auth tests (fixtures live in conftest.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from core import migrate
from core.migrate import MigrationSource
from plugins.auth import MIGRATIONS
from plugins.auth.models import metadata
from plugins.auth.service import AuthService

AUTH = ("auth", "plugins.auth:includeme")
ROUTING = ("routing", "plugins.routing:includeme")


def auth_source() -> MigrationSource:
    return MigrationSource("auth", metadata, MIGRATIONS)


def sources() -> list[MigrationSource]:
    return [migrate.kernel_source(), auth_source()]


class Clock:
    """Wall-clock time that a test moves forward by hand; shared by service and cache.

    It starts on a whole second so that float seconds and microsecond datetimes convert
    exactly and "one second before expiry" means exactly that.
    """

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def member(
    service: AuthService, email: str = "alice@example.com", slug: str = "team-a", role: str = "user"
) -> None:
    """Make ``email`` a member of ``slug`` with ``role``, creating the user or workspace if new."""
    if email not in {u.email for u in await service.list_users()}:
        await service.create_user(email)
    if slug not in {w.slug for w in await service.list_workspaces()}:
        await service.create_workspace(slug)
    await service.add_member(email, slug, role)
