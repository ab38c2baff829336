"""Cursor paging (`starting_after`, `pagination.next_starting_after`) on the three paged lists, over REST and
gRPC, on SQLite and PostgreSQL: a reader who pages with the cursor sees every entry that was there when it
began exactly once while jobs are submitted and deleted between its pages (the same reader paging by offset
sees one twice), the filters keep applying, and a cursor that names nothing of the list is a 400 saying to
start again; the SDK's walkers (iter_jobs and the others) follow the cursor."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from phonos_client import AsyncClient, Client

from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, ApiClient, InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration

STORES = ALL_STORES  # state: every test runs on SQLite and on PostgreSQL
JOBS = "/v1/jobs"
CREDITS = "/v1/account/credits"


@pytest.fixture(scope="module")
def service(twin_service: InProcessService) -> InProcessService:
    return twin_service


def submit(client: ApiClient, n: int, name: str = "job") -> list[str]:
    """`n` finished jobs (a delete needs a finished one), newest first as the list shows them."""
    ids = [client.predict(name=f"{name} {i}").json()["job_id"] for i in range(n)]
    for job_id in ids:
        client.wait_for(job_id)
    return ids[::-1]


def page(client: ApiClient, path: str, items: str, **params: Any) -> tuple[list[Any], dict[str, Any]]:
    answer = client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    key = "id" if items == "entries" else "delivery_id" if items == "deliveries" else "job_id"
    return [item[key] for item in body[items]], body["pagination"]


def refused(client: ApiClient, path: str, **params: Any) -> str:
    answer = client.get(path, params=params)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert set(body) == {"error", "message"} and body["error"] == "Invalid request"
    return str(body["message"])


def test_a_cursor_reader_sees_each_job_once_while_jobs_come_and_go_and_an_offset_reader_does_not(
        service: InProcessService) -> None:
    client = service.client(service.new_key())
    old = submit(client, 7)  # old[0] newest
    first, info = page(client, JOBS, "jobs", limit=3)
    assert first == old[:3] and info == {"total": 7, "limit": 3, "offset": 0, "has_more": True,
                                         "next_starting_after": old[2]}
    submit(client, 2, "late")  # two jobs at the head of the list...
    assert client.delete(f"{JOBS}/{old[2]}").status_code == 200  # ...and the cursor's own job deleted

    by_offset, _ = page(client, JOBS, "jobs", limit=3, offset=3)
    assert by_offset[0] == old[1]  # offsets: the list moved down by one, an entry comes twice

    second, info = page(client, JOBS, "jobs", limit=3, starting_after=info["next_starting_after"])
    assert second == old[3:6]  # a deleted job still marks its place
    assert info == {"total": 8, "limit": 3, "offset": 0, "has_more": True, "next_starting_after": old[5]}
    third, info = page(client, JOBS, "jobs", limit=3, starting_after=old[5], offset=0)  # offset 0 is no offset
    assert third == old[6:] and info == {"total": 8, "limit": 3, "offset": 0, "has_more": False}
    assert page(client, JOBS, "jobs", limit=3, starting_after="")[0][2:] == old[:1]  # empty: the first page
    # A job id in capitals names the same job, as on its own routes (a pipeline's ids from a spreadsheet). Was: 400.
    assert page(client, JOBS, "jobs", limit=3, starting_after=old[5].upper())[0] == old[6:]

    channel, stub = service.grpc_stub()  # the same walk over gRPC
    auth = (("authorization", client.session.headers["Authorization"]),)
    with channel:
        answer = stub.ListJobs(pb.ListJobsRequest(limit=3, starting_after=old[2]), metadata=auth)
        assert [j.job_id for j in answer.jobs] == old[3:6]
        assert (answer.pagination.has_more, answer.pagination.next_starting_after) == (True, old[5])
        last = stub.ListJobs(pb.ListJobsRequest(limit=3, starting_after=old[5].upper()), metadata=auth).pagination
        assert not last.has_more and not last.HasField("next_starting_after")
        with pytest.raises(grpc.RpcError) as bad:
            stub.ListJobs(pb.ListJobsRequest(starting_after="no-such-job"), metadata=auth)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_the_filters_keep_applying_after_the_cursor(service: InProcessService) -> None:
    client = service.client(service.new_key())
    mixed = submit(client, 6, "keep")
    other = submit(client, 2, "other")
    names = {"name": "KEEP", "status": "completed", "model": "esmfold"}
    first, info = page(client, JOBS, "jobs", limit=4, **names)
    assert first == mixed[:4] and info["total"] == 6
    rest, info = page(client, JOBS, "jobs", limit=4, starting_after=info["next_starting_after"], **names)
    assert rest == mixed[4:] and info["has_more"] is False
    # a cursor is a place in the whole list: a job the filter leaves out still marks one
    assert page(client, JOBS, "jobs", limit=4, starting_after=other[-1], **names)[0] == mixed[:4]
    assert page(client, JOBS, "jobs", starting_after=mixed[0], status="failed")[0] == []


def test_cursors_that_name_nothing_of_the_list_are_a_400_saying_to_start_again(service: InProcessService) -> None:
    mine, theirs = service.client(service.new_key()), service.client(service.new_key())
    [job] = submit(mine, 1)
    [their_job] = submit(theirs, 1)
    message = refused(mine, JOBS, starting_after=job, offset=2)
    assert "starting_after" in message and "offset" in message
    for cursor in (their_job, "no-such-job", "x" * 5000):
        message = refused(mine, JOBS, starting_after=cursor)
        assert "start again without starting_after" in message and len(message) < 400
    their_entry = page(theirs, CREDITS, "entries")[0][0]
    for cursor in (str(their_entry), "abc", "-1", "99999999999999999999"):
        assert "start again" in refused(mine, CREDITS, starting_after=cursor)
    assert "offset" in refused(mine, CREDITS, starting_after=str(page(mine, CREDITS, "entries")[0][0]), offset=1)


def test_the_credit_history_pages_by_cursor_while_the_balance_changes(service: InProcessService) -> None:
    client = service.client(service.new_key())
    submit(client, 3)
    ledger, _ = page(client, CREDITS, "entries", limit=100)  # 3 charges and the opening grant, newest first
    first, info = page(client, CREDITS, "entries", limit=2)
    assert first == ledger[:2] and info["next_starting_after"] == str(ledger[1])
    submit(client, 1, "late")  # a charge at the head
    assert page(client, CREDITS, "entries", limit=2, offset=2)[0][0] == ledger[1]  # offsets repeat it
    rest, info = page(client, CREDITS, "entries", limit=2, starting_after=info["next_starting_after"])
    assert rest == ledger[2:] and info == {"total": 5, "limit": 2, "offset": 0, "has_more": False}
    channel, stub = service.grpc_stub()
    auth = (("authorization", client.session.headers["Authorization"]),)
    with channel:
        answer = stub.ListCreditEntries(pb.ListCreditEntriesRequest(limit=1, starting_after=str(ledger[1])),
                                        metadata=auth)
    assert [e.id for e in answer.entries] == ledger[2:3] and answer.pagination.next_starting_after == str(ledger[2])


def test_a_webhooks_deliveries_page_by_cursor(service: InProcessService) -> None:
    key = service.new_key()
    client = service.client(key)
    with WebhookReceiver() as receiver, Client(service.base_url, key) as sdk:
        hook = sdk.create_webhook(receiver.url, ["job.started", "job.completed"]).webhook_id
        other = sdk.create_webhook(receiver.url, ["job.completed"]).webhook_id
        jobs = submit(client, 2)
        route = f"/v1/webhooks/{hook}/deliveries"
        wait_until(lambda: page(client, route, "deliveries", status="delivered")[1]["total"] == 4, 15)
        wait_until(lambda: page(client, f"/v1/webhooks/{other}/deliveries", "deliveries",
                                status="delivered")[1]["total"] == 2, 15)
        log, _ = page(client, route, "deliveries")
        first, info = page(client, route, "deliveries", limit=2)
        assert first == log[:2] and info["next_starting_after"] == log[1]
        sdk.redeliver(hook, log[-1])  # a fifth delivery at the head of the log
        rest, info = page(client, route, "deliveries", limit=2, starting_after=log[1], status="all")
        assert rest == log[2:] and info == {"total": 5, "limit": 2, "offset": 0, "has_more": False}
        assert page(client, route, "deliveries", starting_after=log[1], status="failed")[0] == []
        # "" is "all" too, as the OpenAPI document lists it beside "all"; a status not in the list is still a 400
        assert page(client, route, "deliveries", limit=2, starting_after=log[1], status="") == (rest, info)
        assert refused(client, route, status="done") == ('status must be one of pending, delivered, failed or all, '
                                                         'got "done"')
        theirs = page(client, f"/v1/webhooks/{other}/deliveries", "deliveries")[0][0]
        for cursor in (theirs, "123456789", "abc"):
            assert "start again" in refused(client, route, starting_after=cursor)
        wait_until(lambda: len(receiver.requests) == 7, 15)  # the redelivery sent before the receiver stops
        # a delivery goes with its deleted job: its id no longer marks a place
        assert client.delete(f"{JOBS}/{jobs[-1]}").status_code == 200
        assert "start again" in refused(client, route, starting_after=log[-1])


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_the_sdk_walkers_see_every_job_once_while_the_list_grows_and_shrinks(service: InProcessService,
                                                                             transport: str) -> None:
    """Between two pages a job arrives and two already seen are deleted: the list moves up by one, so an
    offset walk (even one skipping repeats) would miss the job that crossed the page boundary."""
    key = service.new_key()
    client = service.client(key)
    old = submit(client, 6)

    def shake() -> None:
        submit(client, 1, "late")
        for job_id in old[:2]:
            assert client.delete(f"{JOBS}/{job_id}").status_code == 200

    with Client(service.url_for(transport), key) as sdk:
        walk = sdk.iter_jobs(page_size=2)
        seen = [next(walk).job_id, next(walk).job_id]
        shake()
        assert seen + [job.job_id for job in walk] == old

    async def walk_async() -> list[str]:
        async with AsyncClient(service.url_for(transport), key) as sdk:
            walk = sdk.iter_jobs(page_size=2)
            seen = [(await anext(walk)).job_id, (await anext(walk)).job_id]
            shake()
            return seen + [job.job_id async for job in walk]

    old = page(client, JOBS, "jobs", limit=100)[0]
    assert asyncio.run(walk_async()) == old
