"""API keys: `pk_` + 32 random url-safe bytes, stored only as a SHA-256 hash, listed by a random `key_…` id."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "pk_"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(api_key: str) -> str:
    # A fast hash is right here: keys are 256-bit random, so there is nothing to brute-force.
    return hashlib.sha256(api_key.encode()).hexdigest()


def display_prefix(api_key: str) -> str:
    return api_key[:10]


def new_key_id() -> str:
    """The public id of a key (listings, revoke, update): not derived from the secret."""
    return "key_" + secrets.token_hex(8)
