"""The API's messages built from the service's records where more than the servicer writes them: the operator's
`phonos accounts activity --json` prints an activity entry as GET /v1/account/activity returns it, from the same
message and the gateway's encoder, so the two cannot drift apart. Light to import (the operator CLI's start-up)."""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from jobservice.activity import ActivityEntry
from phonos.v1 import phonos_pb2 as pb
from phonos_common.json_encode import encode_message


def timestamp(epoch_s: float) -> timestamp_pb2.Timestamp:
    """Millisecond precision: RFC 3339 with a fraction ("2025-12-17T10:30:00.125Z"), which every RFC 3339
    parser reads (JavaScript's Date, Python's fromisoformat); a whole second is written without one."""
    millis = round(epoch_s * 1000)
    return timestamp_pb2.Timestamp(seconds=millis // 1000, nanos=(millis % 1000) * 1_000_000)


def struct(values: dict[str, Any] | None) -> struct_pb2.Struct | None:
    if not values:
        return None
    message = struct_pb2.Struct()
    message.update(values)
    return message


def activity_message(entry: ActivityEntry) -> pb.ActivityEntry:
    actor, target = entry.actor, entry.target
    return pb.ActivityEntry(
        id=entry.id, created_at=timestamp(entry.created_at), action=entry.action,
        actor=pb.ActivityActor(kind=str(actor.kind), key_id=actor.key_id, key_name=actor.key_name),
        client_address=actor.client_address, user_agent=actor.user_agent,
        target=pb.ActivityTarget(key_id=target.key_id, webhook_id=target.webhook_id, job_id=target.job_id,
                                 share_id=target.share_id),
        details=struct(entry.details),
    )


def activity_json(entry: ActivityEntry) -> dict[str, Any]:
    """An entry as the API's JSON writes it (unset fields left out)."""
    return dict(encode_message(activity_message(entry)))
