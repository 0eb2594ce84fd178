"""Making and checking secrets: API keys (sha256) and passwords (argon2id).

Why two different hashes:

* An API key is 32 random bytes from the OS CSPRNG (256 bits). Nobody can guess or
  brute-force that, whatever the hash costs, so a slow hash would buy nothing; what a key
  hash must do is let the gateway find the key on every request without a database round
  trip, which needs a deterministic, unsalted, fast digest: sha256 of the whole key is the
  dictionary key of :class:`plugins.auth.keys.KeyCache`. A stolen table of digests does not
  reveal keys (that would take a sha256 preimage).
* A password is chosen by a person and has little entropy, so it gets a deliberately slow,
  salted, memory-hard hash (argon2id with argon2-cffi's RFC 9106 defaults), checked only at
  sign-in, never on the gateway's hot path.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "KEY_PREFIX",
    "hash_key",
    "hash_password",
    "hash_password_async",
    "looks_like_key",
    "new_key",
    "password_needs_rehash",
    "verify_password",
]

KEY_PREFIX = "sy_"
_PREFIX_CHARS = string.ascii_lowercase + string.digits
_PREFIX_LENGTH = 8  # 36**8, about 2.8e12 prefixes: collisions are rare and retried
_SECRET_BYTES = 32

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile


def new_key() -> tuple[str, str]:
    """A fresh key and its visible prefix: ``("sy_ab12cd34_<43 url-safe chars>", "sy_ab12cd34")``.

    The prefix is random too, chosen apart from the secret, so showing it reveals nothing.
    """
    prefix = KEY_PREFIX + "".join(secrets.choice(_PREFIX_CHARS) for _ in range(_PREFIX_LENGTH))
    return f"{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}", prefix


def hash_key(key: str) -> str:
    """The sha256 hex digest of a whole key, as stored in ``auth_api_keys.secret_hash``."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_key(key: str) -> bool:
    """Cheap shape check (``sy_`` + 8 + ``_`` + secret) to refuse junk before hashing it."""
    return (
        key.startswith(KEY_PREFIX)
        and len(key) > len(KEY_PREFIX) + _PREFIX_LENGTH + 1
        and key[len(KEY_PREFIX) + _PREFIX_LENGTH] == "_"
    )


def hash_password(password: str) -> str:
    """An argon2id PHC string for ``password`` (about 50 ms of CPU and 64 MiB: by design)."""
    return _hasher.hash(password)


async def hash_password_async(password: str) -> str:
    """:func:`hash_password` in a worker thread, so the event loop keeps serving meanwhile."""
    return await asyncio.to_thread(_hasher.hash, password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; False for a wrong password or a malformed hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's (rehash at sign-in)."""
    return _hasher.check_needs_rehash(password_hash)
