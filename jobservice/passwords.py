"""Dashboard passwords: Argon2id (argon2-cffi, RFC 9106 parameters), verified off the event loop.

Argon2id is memory-hard: each guess costs 64 MiB and tens of milliseconds, so a stolen database is
slow to attack. The same cost makes verification a CPU and memory hog, so `jobservice.sessions` runs
it in a worker thread behind a small semaphore (a burst of sign-ins cannot starve the API's event
loop) and throttles attempts per username.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from jobservice.errors import InvalidArgument

MIN_LENGTH = 10
MAX_LENGTH = 1024  # Argon2 accepts more, but a megabyte "password" is only a way to burn CPU

_HASHER = PasswordHasher()  # argon2-cffi's defaults: RFC 9106 "low memory" profile (t=3, m=64 MiB, p=4)


@cache
def _dummy_hash() -> str:
    """Verified when the username does not exist, so a miss takes as long as a wrong password. Made on first
    use, not at import: a hash costs ~0.1 s, which every process importing this module (each operator command)
    paid."""
    return _HASHER.hash("phonos: no such user, same cost")


def check_new_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidArgument(f"the password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidArgument(f"the password must be at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    """An Argon2id PHC string (`$argon2id$v=19$m=65536,t=3,p=4$salt$hash`) of a checked password."""
    check_new_password(password)
    return _HASHER.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; None (no password set, or no such user) never matches.

    Blocking (tens of ms): call it from a worker thread.
    """
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
