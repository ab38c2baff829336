"""The client's real address behind proxies, over real HTTP and gRPC against a real job service (in process, on the
inference twin) and a real separate gateway (`python -m gateway`): with the gateway trusted
(PHONOS_TRUSTED_PROXIES) the failed-auth throttle and the share links' limit count per client, not per gateway;
an ingress's X-Forwarded-For names the client only when the ingress is trusted; an untrusted peer's
X-Forwarded-For and a direct gRPC caller's `x-phonos-client-address` are ignored (the spoofer is throttled by its
own address). Distinct clients are distinct loopback source addresses (127.0.0.2, 127.0.0.3, ...)."""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from phonos.v1 import phonos_pb2 as pb
from phonos_common.forwarded import CLIENT_ADDRESS_METADATA
from tests.serve_process import separate_gateway
from tests.support import InProcessService

pytestmark = pytest.mark.integration

INGRESS = "127.0.0.4"  # a reverse proxy in front of the gateway, trusted where a test says so


def get(base_url: str, path: str, *, source: str, key: str | None = None, forwarded_for: str | None = None,
        accept: str = "application/json", forwarded: tuple[str, ...] = ()) -> tuple[int, Any]:
    """GET from the loopback address `source` (as a client on that host would); (status, JSON body or text).
    `forwarded`: RFC 7239 Forwarded header lines, each sent as a line of its own."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    headers = [("Accept", accept)] + [("Forwarded", line) for line in forwarded]
    if key is not None:
        headers.append(("Authorization", f"Bearer {key}"))
    if forwarded_for is not None:
        headers.append(("X-Forwarded-For", forwarded_for))
    try:
        connection.putrequest("GET", path)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.getheader("Content-Type", "").startswith("application/json"):
        return response.status, json.loads(body)
    return response.status, body.decode()


def statuses(base_url: str, n: int, **kwargs: Any) -> list[int]:
    return [get(base_url, "/v1/account", **kwargs)[0] for _ in range(n)]


def throttled_address(base_url: str, **kwargs: Any) -> str:
    """The address a 429 of the failed-auth throttle names ("... attempts from <address>; try again ...")."""
    status, body = get(base_url, "/v1/account", **kwargs)
    assert status == 429 and "failed authentication attempts" in body["message"], body
    return str(body["message"].split(" from ", 1)[1].split(";", 1)[0])


@pytest.fixture
def behind_gateway(twin_factory: type, tmp_path: Path) -> Iterator[tuple[InProcessService, str]]:
    """A job service that trusts its gateway (127.0.0.1, the source of the gateway's gRPC connection), and a
    separate gateway that trusts the ingress."""
    service = twin_factory.start(data_dir=tmp_path / "var", PHONOS_AUTH_FAILURES_PER_MINUTE="3",
                                 PHONOS_SHARED_REQUESTS_PER_MINUTE="3", PHONOS_TRUSTED_PROXIES="127.0.0.1")
    with separate_gateway(service.grpc_target, PHONOS_TRUSTED_PROXIES=INGRESS) as base_url:
        yield service, base_url


def test_behind_a_separate_gateway_bad_keys_throttle_their_client_only(
        behind_gateway: tuple[InProcessService, str], caplog: pytest.LogCaptureFixture) -> None:
    service, gateway = behind_gateway
    caplog.set_level(logging.INFO, logger="jobservice.edge")
    newcomer = service.new_key()  # never used yet: the throttle does not know it worked
    assert statuses(gateway, 3, source="127.0.0.2", key="pk_wrong") == [401, 401, 401]
    assert throttled_address(gateway, source="127.0.0.2", key="pk_wrong") == "127.0.0.2"
    # Another client's first request through the same gateway is its own business (it was a 429 "from
    # 127.0.0.1", the gateway's address, when the job service saw only its peer).
    status, body = get(gateway, "/v1/account", source="127.0.0.3", key=newcomer)
    assert status == 200, body
    assert get(gateway, "/v1/account", source="127.0.0.2", key="pk_wrong")[0] == 429
    refused = [r for r in caplog.records if getattr(r, "action", "") == "grpc.refused"
               and getattr(r, "client_address", "") == "127.0.0.2"]
    assert refused and "from 127.0.0.2 via ipv4:127.0.0.1:" in refused[-1].getMessage()


@pytest.mark.parametrize("placement", ["separate", "in-process"])
def test_an_ingress_names_the_client_only_when_trusted(twin_factory: type, tmp_path: Path, placement: str) -> None:
    if placement == "separate":
        service = twin_factory.start(data_dir=tmp_path / "var", PHONOS_AUTH_FAILURES_PER_MINUTE="3",
                                     PHONOS_TRUSTED_PROXIES="127.0.0.1")
        gateway_context = separate_gateway(service.grpc_target, PHONOS_TRUSTED_PROXIES=f"{INGRESS},10.0.0.0/8")
    else:  # the job service's own gateway; its gRPC edge has nothing to do with this
        service = twin_factory.start(data_dir=tmp_path / "var", PHONOS_AUTH_FAILURES_PER_MINUTE="3",
                                     PHONOS_TRUSTED_PROXIES=f"{INGRESS},10.0.0.0/8")
        gateway_context = _already(service.base_url)
    with gateway_context as gateway:
        # Through the trusted ingress: the client it appended is throttled, another client behind it is not.
        assert statuses(gateway, 3, source=INGRESS, key="pk_wrong", forwarded_for="203.0.113.1") == [401] * 3
        assert throttled_address(gateway, source=INGRESS, key="pk_x", forwarded_for="203.0.113.1") == "203.0.113.1"
        # A client that prepends an address of its own is still the address the ingress appended; trusted hops
        # (10.0.0.0/8: a second proxy) are walked past.
        assert throttled_address(gateway, source=INGRESS, key="pk_x",
                                 forwarded_for="198.51.100.9, 203.0.113.1, 10.1.2.3") == "203.0.113.1"
        status, body = get(gateway, "/v1/account", source=INGRESS, key=service.new_key(), forwarded_for="203.0.113.2")
        assert status == 200, body
        # An untrusted peer's X-Forwarded-For is ignored: a new address per request does not escape the throttle.
        spoofed = [get(gateway, "/v1/account", source="127.0.0.5", key="pk_wrong",
                       forwarded_for=f"198.51.100.{i}")[0] for i in range(4)]
        assert spoofed == [401, 401, 401, 429]
        assert throttled_address(gateway, source="127.0.0.5", key="pk_x", forwarded_for="198.51.100.77") == "127.0.0.5"
        # A header that is not an address chain names nobody: the ingress is the client (never a 500).
        for malformed in ("unknown", "203.0.113.3, , 10.1.2.3", "203.0.113.3:http", "[2001:db8::1", "x" * 300):
            status, body = get(gateway, "/v1/account", source=INGRESS, key="pk_wrong", forwarded_for=malformed)
            assert status in (401, 429) and set(body) == {"error", "message"}, (malformed, body)
        assert throttled_address(gateway, source=INGRESS, key="pk_x", forwarded_for="nonsense") == INGRESS
        # By default (PHONOS_FORWARDED_HEADER=X-Forwarded-For) a Forwarded header is the client's to write: ignored.
        assert throttled_address(gateway, source=INGRESS, key="pk_x", forwarded_for="203.0.113.1",
                                 forwarded=("for=198.51.100.200",)) == "203.0.113.1"


@pytest.mark.parametrize("placement", ["separate", "in-process"])
def test_the_rfc7239_forwarded_header_names_the_client_when_chosen(twin_factory: type, tmp_path: Path,
                                                                   placement: str) -> None:
    """PHONOS_FORWARDED_HEADER=Forwarded: the same trust rule over `Forwarded: for=...`, X-Forwarded-For ignored."""
    edge = {"PHONOS_TRUSTED_PROXIES": f"{INGRESS},10.0.0.0/8", "PHONOS_FORWARDED_HEADER": "forwarded"}
    if placement == "separate":
        service = twin_factory.start(data_dir=tmp_path / "var", PHONOS_AUTH_FAILURES_PER_MINUTE="3",
                                     PHONOS_TRUSTED_PROXIES="127.0.0.1")
        gateway_context = separate_gateway(service.grpc_target, **edge)
    else:
        service = twin_factory.start(data_dir=tmp_path / "var", PHONOS_AUTH_FAILURES_PER_MINUTE="3", **edge)
        gateway_context = _already(service.base_url)
    with gateway_context as gateway:
        ipv4 = ("for=203.0.113.1;proto=https;by=10.0.0.1",)
        assert statuses(gateway, 3, source=INGRESS, key="pk_wrong", forwarded=ipv4) == [401] * 3
        assert throttled_address(gateway, source=INGRESS, key="pk_x", forwarded=ipv4) == "203.0.113.1"
        # Several lines are one list; what the client wrote (the first line, a first element) is left of what the
        # ingress appended; a quoted IPv6 node with a port; trusted hops walked past; names in any case.
        ipv6 = ('for=198.51.100.9', 'for=198.51.100.10, For="[2001:db8:1:2::7]:4711";Proto=https, FOR=10.1.2.3')
        assert statuses(gateway, 3, source=INGRESS, key="pk_wrong", forwarded=ipv6) == [401] * 3
        assert throttled_address(gateway, source=INGRESS, key="pk_x", forwarded=ipv6) == "2001:db8:1:2::/64"
        # Another client behind the ingress is its own business.
        status, body = get(gateway, "/v1/account", source=INGRESS, key=service.new_key(),
                           forwarded=('for="203.0.113.2:_obfuscated-port"',))
        assert status == 200, body
        # X-Forwarded-For is not read in this mode: the ingress itself is the client, whatever it names.
        assert [get(gateway, "/v1/account", source=INGRESS, key="pk_wrong", forwarded_for=f"198.51.100.{i}")[0]
                for i in range(4)] == [401, 401, 401, 429]
        # Nodes that are no address (unknown, obfuscated) and malformed lines name nobody: the ingress is the client
        # (already throttled, so each is a 429 naming it; never a 400 or a 500).
        for malformed in (("for=unknown",), ("for=_hidden",), ('for="[2001:db8::1',), ("for=203.0.113.3;for=10.1.1.1",),
                          ("proto=https",), ("for=203.0.113.3 junk",), (";;,,=",), ("x" * 300,),
                          ("for=203.0.113.3", "for=unknown")):
            assert throttled_address(gateway, source=INGRESS, key="pk_x", forwarded=malformed) == INGRESS, malformed
        # An untrusted peer's Forwarded is ignored.
        spoofed = [get(gateway, "/v1/account", source="127.0.0.5", key="pk_wrong",
                       forwarded=(f"for=198.51.100.{i}",))[0] for i in range(4)]
        assert spoofed == [401, 401, 401, 429]


@contextmanager
def _already(base_url: str) -> Iterator[str]:
    yield base_url


def test_a_direct_grpc_caller_cannot_name_another_client(twin_factory: type, tmp_path: Path) -> None:
    """The job service trusts only 127.0.0.9 (a gateway elsewhere): a caller on 127.0.0.1 is not believed."""
    service = twin_factory.start(data_dir=tmp_path / "var", PHONOS_AUTH_FAILURES_PER_MINUTE="3",
                                 PHONOS_TRUSTED_PROXIES="127.0.0.9")
    channel, stub = service.grpc_stub()
    codes = []
    with channel:
        for i in range(4):
            metadata = (("authorization", "Bearer pk_wrong"), (CLIENT_ADDRESS_METADATA, f"198.51.100.{i}"))
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetAccount(pb.GetAccountRequest(), metadata=metadata)
            codes.append(refused.value.code())
    assert codes == [grpc.StatusCode.UNAUTHENTICATED] * 3 + [grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert "attempts from 127.0.0.1;" in (refused.value.details() or "")
    # The same through a gateway the job service does not trust: its own address, as before.
    with separate_gateway(service.grpc_target) as gateway:
        assert throttled_address(gateway, source="127.0.0.3", key="pk_x") == "127.0.0.1"


def test_the_share_link_limit_counts_per_client_behind_a_gateway(behind_gateway: tuple[InProcessService, str]) -> None:
    service, gateway = behind_gateway
    owner = service.client(service.new_key(username="own"))
    job = owner.predict(name="shared")
    assert job.status_code == 200, job.text
    job_id = job.json()["job_id"]
    assert owner.wait_for(job_id)["status"] == "completed"
    link = owner.post(f"/v1/jobs/{job_id}/shares", json={}).json()["url"]
    assert [get(gateway, link + "/job", source="127.0.0.2")[0] for _ in range(3)] == [200, 200, 200]
    status, body = get(gateway, link + "/job", source="127.0.0.2")
    assert status == 429 and body["error"] == "Rate limit exceeded"
    # Another visitor through the same gateway has a budget of its own: the JSON, and the page (whose check
    # the gateway's dashboard route makes through the job service).
    assert get(gateway, link + "/job", source="127.0.0.3")[0] == 200
    assert get(gateway, link, source="127.0.0.3", accept="text/html")[0] == 200
    assert get(gateway, link, source="127.0.0.2", accept="text/html")[0] == 429
