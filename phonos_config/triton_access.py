"""PHONOS_TRITON_API_SECRET: the header that unlocks Triton's internal APIs, and the flags that lock them.

Triton's HTTP and gRPC ports have no authentication of their own: anyone who can reach them (any local user on
loopback; any account through a webhook URL when PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK is on) could unload a model,
map shared memory or run inference without credits. tritonserver (2.51, `tritonserver --help`) can refuse a group
of APIs unless a request carries a header of a given value:

    --http-restricted-api=<apis>:<key>=<value>  --grpc-restricted-protocol=<apis>:<key>=<value>

(the help text shows a comma before <key>; the 2.51 parser wants a colon). Everything but `health` and `metadata`
is locked (RESTRICTED_APIS): readiness probes and the model metadata stay open. Over HTTP the header is `<key>`;
over gRPC Triton expects the metadata key `triton-grpc-protocol-<key>` (measured: the bare key is refused).

`phonos serve` makes a fresh secret at each start (launcher/serve.py) and hands it to its job service as
PHONOS_TRITON_API_SECRET. An operator of a separately run Triton (a fleet: deploy/) locks it the same way: start
every tritonserver with `restriction_flags(secret)`'s two flags (key `phonos-triton-secret`) and set
PHONOS_TRITON_API_SECRET to the same secret for the job services. Unset, no header is sent: an unlocked Triton
works as before.

The value sits in tritonserver's command line, which /proc/<pid>/cmdline shows to every local user unless /proc is
mounted with hidepid=2 (or `invisible`): tritonserver 2.51 takes these settings from no other place. It keeps API
accounts (webhooks) out everywhere; against other local users it needs that /proc option, or a host or container
of Triton's own.
"""

from __future__ import annotations

import re

# The HTTP header; gRPC requests carry it as GRPC_HEADER.
HEADER = "phonos-triton-secret"
GRPC_HEADER = f"triton-grpc-protocol-{HEADER}"
# Every API group tritonserver 2.51 can restrict except `health` and `metadata`.
RESTRICTED_APIS = ("inference", "shared-memory", "model-config", "model-repository", "statistics", "trace", "logging")
# What a generated secret is made of (secrets.token_urlsafe) and the least length worth calling a secret. Neither
# ':' nor '=' nor ',' (the flags' separators), and header-safe in HTTP and gRPC metadata.
_SECRET_TEXT = re.compile(r"[A-Za-z0-9_.~-]+")
MIN_SECRET_LENGTH = 16
# The Kubernetes manifest's placeholder begins so (deploy/kubernetes/triton.yaml): refused, not run with.
PLACEHOLDER_PREFIX = "change-me"


def check_api_secret(secret: str) -> None:
    """PHONOS_TRITON_API_SECRET is empty (no header) or a secret the flags and headers can carry; a ValueError
    that never quotes it otherwise."""
    if not secret:
        return
    if secret.lower().startswith(PLACEHOLDER_PREFIX):  # deploy/kubernetes/triton.yaml's, applied as it is
        raise ValueError("PHONOS_TRITON_API_SECRET is the example manifest's placeholder (change-me...): anyone who "
                         "read the manifest could use Triton's locked APIs; set a secret of your own (e.g. python -c "
                         "'import secrets; print(secrets.token_urlsafe(32))') for the Tritons and the job services")
    if len(secret) < MIN_SECRET_LENGTH or not _SECRET_TEXT.fullmatch(secret):
        raise ValueError(f"PHONOS_TRITON_API_SECRET must be at least {MIN_SECRET_LENGTH} characters of A-Z a-z 0-9 "
                         "_ . ~ - (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'), or empty when "
                         "Triton's APIs are not locked")


def restriction_flags(secret: str) -> list[str]:
    """tritonserver's flags locking every API but health and metadata to `secret` ([] for no secret)."""
    if not secret:
        return []
    check_api_secret(secret)
    apis = ",".join(RESTRICTED_APIS)
    return [f"--http-restricted-api={apis}:{HEADER}={secret}", f"--grpc-restricted-protocol={apis}:{HEADER}={secret}"]


def grpc_headers(secret: str) -> dict[str, str]:
    """The gRPC metadata a call to a Triton locked with `secret` carries ({} for no secret)."""
    return {GRPC_HEADER: secret} if secret else {}


def http_headers(secret: str) -> dict[str, str]:
    """The HTTP headers a request to a Triton locked with `secret` carries ({} for no secret)."""
    return {HEADER: secret} if secret else {}


def is_locked_out(message: str) -> bool:
    """Triton's refusal of a call without the right header ("This protocol is restricted, expecting header ...",
    "This API is restricted, ...")."""
    return "is restricted, expecting header" in message
