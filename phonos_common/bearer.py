"""The `WWW-Authenticate` challenge of a 401 (RFC 6750), one wording for the job service and the edge."""

from __future__ import annotations

CHALLENGE_KEY = "www-authenticate"  # the gRPC trailing metadata key; the edge sends it as the HTTP header


def bearer_challenge(error: str | None = None) -> str:
    """`Bearer realm="phonos"`, with RFC 6750's error code when a credential was given and refused ("invalid_token")
    or could not be read ("invalid_request"); none when no credential was sent."""
    return 'Bearer realm="phonos"' + (f', error="{error}"' if error else "")
