"""Share links from the Python SDK (both transports, sync and async) and the `phonos jobs share / shares / unshare`
commands, against the real service (in process, on the inference twin)."""

from __future__ import annotations

import asyncio
import json

import pytest
import requests
from phonos_client import AsyncClient, Client, NotFoundError, PermissionDeniedError, cli

from tests.support import InProcessService

pytestmark = pytest.mark.integration
SEQUENCE = "MKTVRQERLKSIVRILERSKEPV"


@pytest.fixture(params=("rest", "grpc"))
def url(twin_service: InProcessService, request: pytest.FixtureRequest) -> str:
    return twin_service.url_for(request.param)


def test_the_sdk_shares_lists_reads_and_revokes(twin_service: InProcessService, url: str) -> None:
    with Client(url, twin_service.new_key(credits=100)) as phonos:
        job = phonos.wait(phonos.predict("esmfold", SEQUENCE, name="to share").job_id, timeout=30)
        share = phonos.share_job(job.job_id, expires_in_days=3)
        assert share.url and share.url.startswith("/shared/") and share.job_id == job.job_id
        assert [s.share_id for s in phonos.job_shares(job.job_id)] == [share.share_id]
        assert phonos.job_shares(job.job_id)[0].url is None  # the token is shown once

        with Client(url, None) as anyone:  # no key at all
            shared = anyone.shared_job(twin_service.base_url + share.url)  # the link whole, as it is sent
            assert shared.job.job_id == job.job_id and shared.job.name == "to share"
            assert shared.expires_at == share.expires_at
            assert anyone.shared_download(share.url).content == phonos.download(job.job_id).content

            assert phonos.revoke_share(job.job_id, share.share_id)["success"] is True
            with pytest.raises(NotFoundError):
                anyone.shared_job(share.url)
        assert phonos.job_shares(job.job_id) == []


def test_the_async_sdk_has_the_share_methods(twin_service: InProcessService, url: str) -> None:
    key = twin_service.new_key(credits=100)

    async def run() -> None:
        async with AsyncClient(url, key) as phonos:
            job = await phonos.wait((await phonos.predict("esmfold", SEQUENCE)).job_id, timeout=30)
            share = await phonos.share_job(job.job_id)
            assert [s.share_id for s in await phonos.job_shares(job.job_id)] == [share.share_id]
            assert (await phonos.shared_job(share.url or "")).job.job_id == job.job_id
            assert (await phonos.shared_download(share.url or "", "pdb")).content
            await phonos.revoke_share(job.job_id, share.share_id)
            assert await phonos.job_shares(job.job_id) == []

    asyncio.run(run())


def test_a_read_only_key_is_refused_a_share(twin_service: InProcessService) -> None:
    with Client(twin_service.base_url, twin_service.new_key(credits=100)) as owner:
        job = owner.wait(owner.predict("esmfold", SEQUENCE).job_id, timeout=30)
        viewer_key = owner.create_api_key("viewer", read_only=True).secret
    with Client(twin_service.base_url, viewer_key) as viewer:
        with pytest.raises(PermissionDeniedError):
            viewer.share_job(job.job_id)
        assert viewer.job_shares(job.job_id) == []


def test_the_cli_prints_the_whole_link_lists_and_unshares(twin_service: InProcessService,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    key = twin_service.new_key(credits=100)
    with Client(twin_service.base_url, key) as phonos:
        job_id = phonos.wait(phonos.predict("esmfold", SEQUENCE).job_id, timeout=30).job_id
    monkeypatch.setenv("PHONOS_URL", twin_service.base_url)
    monkeypatch.setenv("PHONOS_API_KEY", key)

    assert cli.main(["jobs", "share", job_id, "--expires-in-days", "2"]) == 0
    link = capsys.readouterr().out.splitlines()[0]
    assert link.startswith(f"{twin_service.base_url}/shared/")
    assert requests.get(link + "/job", timeout=10).json()["job"]["job_id"] == job_id  # it opens as printed

    assert cli.main(["jobs", "shares", job_id, "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)["shares"]  # the API's answer
    assert cli.main(["jobs", "shares", job_id]) == 0
    assert listed["share_id"] in capsys.readouterr().out

    assert cli.main(["jobs", "unshare", job_id, listed["share_id"]]) == 0
    assert f"{listed['share_id']} revoked" in capsys.readouterr().out
    assert requests.get(link + "/job", timeout=10).status_code == 404
    assert cli.main(["jobs", "unshare", job_id, listed["share_id"]]) != 0  # not found: a failing exit code
    assert "not found" in capsys.readouterr().err
