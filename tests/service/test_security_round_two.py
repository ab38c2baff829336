"""Second-round security review of the running service (a real job service and gateway on loopback, on the
inference twin): each test is the attack that found a hole, run against real servers."""

from __future__ import annotations

import grpc
import pytest

from phonos.v1 import phonos_pb2 as pb
from tests.support import InProcessService, wait_until

# The edge's and the gateway's answers, and the usage counters of one process: no store-specific behaviour.
pytestmark = [pytest.mark.integration, pytest.mark.sqlite_only]

Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def calls(scrape: Scrape, rpc: str, transport: str) -> float:
    """`phonos_rpc_seconds_count` of `rpc` under `transport`, every code."""
    return sum(value for (name, labels), value in scrape.items()
               if name == "phonos_rpc_seconds_count" and ("rpc", rpc) in labels and ("transport", transport) in labels)


def usage_transports(service: InProcessService, api_key_account: int) -> set[str]:
    return {row[0] for row in service.sql("SELECT transport FROM usage_hourly WHERE account_id = ?", api_key_account)}


def account_id(service: InProcessService, username: str) -> int:
    return int(service.sql("SELECT id FROM accounts WHERE username = ?", username)[0][0])


@pytest.mark.parametrize("trusted", [False, True], ids=["direct-caller", "trusted-proxy"])
def test_a_direct_grpc_caller_cannot_book_its_calls_as_rest(twin_factory: type, trusted: bool) -> None:
    """`x-phonos-transport: rest` is the gateway's mark; any gRPC client could send it and have its calls (and its
    429s) counted as REST ones in usage and `phonos_rpc_seconds`. It is believed from a trusted proxy (a separate
    gateway, PHONOS_TRUSTED_PROXIES) and the in-process gateway only."""
    service = twin_factory.start(**({"PHONOS_TRUSTED_PROXIES": "127.0.0.1"} if trusted else {}))
    key = service.new_key(username="transport")
    account = account_id(service, "transport")
    before = service.scrape()
    channel, stub = service.grpc_stub()
    with channel:
        stub.GetAccount(pb.GetAccountRequest(), metadata=[("authorization", f"Bearer {key}"),
                                                          ("x-phonos-transport", "rest")])
        with pytest.raises(grpc.RpcError):  # a refused call is labelled too
            stub.GetJob(pb.GetJobRequest(job_id="0" * 32), metadata=[("authorization", f"Bearer {key}"),
                                                                     ("x-phonos-transport", "rest")])
    after = service.scrape()
    expected, other = ("rest", "grpc") if trusted else ("grpc", "rest")
    for rpc in ("GetAccount", "GetJob"):
        assert calls(after, rpc, expected) - calls(before, rpc, expected) == 1, rpc
        assert calls(after, rpc, other) - calls(before, rpc, other) == 0, rpc
    wait_until(lambda: usage_transports(service, account) == {expected}, 10)
    # The in-process gateway's calls stay REST.
    before = service.scrape()
    assert service.client(key).get("/v1/account").status_code == 200
    assert calls(service.scrape(), "GetAccount", "rest") - calls(before, "GetAccount", "rest") == 1
