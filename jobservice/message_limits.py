"""The largest request each rpc accepts, in bytes: one table for the gRPC server and the REST gateway.

Sized to the real inputs. Only job submissions carry big inputs: an AlphaFold2 A3M (up to
`MAX_A3M_CHARS`) or a DiffDock protein PDB (up to `MAX_PDB_BYTES`); everything else is ids, small
query values and a webhook URL. A batch carries at most as much as one job: batches are for many
small jobs, a big MSA goes in a request of its own.

gRPC: the server's `max_receive_message_length` is the largest entry (grpc core refuses longer
messages from their length prefix, before buffering them); the edge interceptor applies the
per-method number before parsing. REST: the gateway refuses longer bodies (after inflating) with 413.
"""

from __future__ import annotations

from collections.abc import Mapping

from jobservice.modelspecs.alphafold2 import MAX_A3M_CHARS
from phonos.v1 import phonos_pb2
from phonos_config.diffdock import MAX_PDB_BYTES

MIB = 1024 * 1024
SERVICE = phonos_pb2.DESCRIPTOR.services_by_name["PhonosService"]

# The biggest job input, plus a quarter for JSON escaping of its line breaks (REST; an A3M of short
# sequences is up to ~1/5 newlines) and 1 MiB for the sequence, name and other params.
JOB_REQUEST_BYTES = max(MAX_A3M_CHARS, MAX_PDB_BYTES) * 5 // 4 + MIB
# Ids, query values, a webhook URL (2048 characters) and its events.
SMALL_REQUEST_BYTES = 64 * 1024

BY_METHOD: Mapping[str, int] = {
    "Predict": JOB_REQUEST_BYTES,
    "SubmitBatch": JOB_REQUEST_BYTES,
}

# Responses can be bigger than requests (an AlphaFold2 result with its PAE matrix); the limit on
# what this server sends only protects its own clients.
MAX_RESPONSE_BYTES = 256 * MIB


def full_method(name: str) -> str:
    return f"/{SERVICE.full_name}/{name}"


def request_limit(full_method_name: str) -> int:
    """The limit for a "/pkg.Service/Method" path; small for every rpc not listed (health included)."""
    service, _, method = full_method_name.lstrip("/").rpartition("/")
    if service == SERVICE.full_name:
        return BY_METHOD.get(method, SMALL_REQUEST_BYTES)
    return SMALL_REQUEST_BYTES


def by_full_method() -> dict[str, int]:
    """Every PhonosService rpc with its limit, keyed "/phonos.v1.PhonosService/Method"."""
    return {full_method(m.name): request_limit(full_method(m.name)) for m in SERVICE.methods}


MAX_REQUEST_BYTES = max(JOB_REQUEST_BYTES, SMALL_REQUEST_BYTES)
