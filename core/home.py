"""The state folder ($SWITCHYARD_HOME) and the secrets key kept in it."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

__all__ = ["derive_secret", "pid_file", "prepare_home", "read_pid", "secret_key"]

_KEY_FILE = "secret.key"


def prepare_home(home: str) -> Path:
    """Create the state folder readable by its owner only."""
    path = Path(home)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def secret_key(home: str) -> bytes:
    """The instance's 32-byte secret, created on first use and never rewritten.

    Losing it signs every user out and makes encrypted secrets unreadable, so it
    is written once, atomically, with owner-only permissions.
    """
    path = prepare_home(home) / _KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
    try:
        os.link(tmp, path)  # fails if another worker won the race; keep theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())


def derive_secret(key: bytes, purpose: str) -> bytes:
    """A separate 32-byte key per purpose, so one leaked use does not expose the others."""
    return hmac.new(key, purpose.encode(), hashlib.sha256).digest()


def pid_file(home: str) -> Path:
    """Where ``serve`` records its process id, so CLI commands can signal it."""
    return Path(home) / "switchyard.pid"


def read_pid(home: str) -> int | None:
    try:
        return int(pid_file(home).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
