"""Several FASTA records pasted into the new-job form are one job each (POST /v1/batch, ten at a time), named by
their ids as `phonos fold` names them (after the form's name); what the API refuses stays in the box with its reason, to fix and submit again. Before, the
form joined every record into one sequence and folded that. A job service on the inference twin serves the
form and the API, in this module alone."""

from __future__ import annotations

import pytest
from phonos_client.inputs import read_fasta
from playwright.sync_api import Browser, expect

from tests.dashboard.pages_helpers import Watched, in_process_service, make_user, open_page, shot, sign_in
from tests.support import InProcessService

pytestmark = pytest.mark.e2e

SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "GSHMSLFDFFKNKGS", "MADEEKLPPGWEKRMSRSSGRVYYFNHITNASQWERPSG"]


service = in_process_service("fasta", {"PHONOS_MODELS": "esmfold"})


def test_a_multi_record_fasta_becomes_one_job_per_record(browser: Browser, service: InProcessService) -> None:
    gus = make_user(service, "gus")  # type: ignore[arg-type]
    client = service.client(gus.api_key)
    cost = next(m["cost_credits"] for m in client.get("/v1/models").json()["models"] if m["id"] == "esmfold")
    # 12 records (two batches), the 7th with a letter no amino acid has, one record without a header.
    records = [(f"sp|P{n:05d}|PROT{n} protein {n}", SEQUENCES[n % 3]) for n in range(11)]
    records.insert(6, ("broken one", "MKTJAYIAK"))
    text = "\n".join(f">{header}\n{seq}" for header, seq in records[:-1]) + f"\n>\n{records[-1][1]}\n"

    watched = Watched()
    page = sign_in(browser, service, gus, watched)  # type: ignore[arg-type]
    page.goto(f"{service.base_url}/submit?model=esmfold")
    expect(page.locator("#sequence-count")).to_be_hidden()
    page.fill("#f-name", "screen")
    page.fill("#f-sequence", text)
    expect(page.locator("#sequence-count")).to_have_text("12 FASTA records: 12 jobs, each named by its FASTA id.")
    expect(page.locator("#submit-job")).to_have_text(f"Submit 12 jobs · {12 * cost} credits")
    shot(page, "38-submit-fasta-records")
    page.click("#submit-job")

    expect(page.locator("#form-error")).to_contain_text("Submitted 11 of 12 jobs")
    refused = page.locator("#records-refused li")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("screen: broken")
    expect(refused).to_contain_text("J")  # the API's own message names the letter
    # Only the refused record is left, as it was pasted; the name stays, for it to get the name it was given.
    assert page.input_value("#f-sequence") == ">broken one\nMKTJAYIAK\n"
    expect(page.locator("#f-name")).to_have_value("screen")
    shot(page, "39-submit-fasta-refused")

    jobs = client.get("/v1/jobs", params={"name": "screen", "limit": 100}).json()["jobs"]
    assert len(jobs) == 11
    by_name = {job["name"]: job for job in jobs}
    # The names `phonos fold` gives the same file's jobs (its FASTA ids as written: sp|P00000|PROT0, seq12 for the
    # record with an empty header), after the form's name.
    cli_ids = [record.job_name for record in read_fasta(text)]
    assert cli_ids[0] == "sp|P00000|PROT0" and cli_ids[6] == "broken" and cli_ids[-1] == "seq12"
    assert set(by_name) == {f"screen: {cli_id}" for cli_id in cli_ids if cli_id != "broken"}
    for cli_id, (_, seq) in zip(cli_ids[:2], records[:2], strict=True):
        assert client.get(f"/v1/jobs/{by_name[f'screen: {cli_id}']['job_id']}/input").json()["sequence"] == seq
    assert client.get(f"/v1/jobs/{by_name['screen: seq12']['job_id']}/input").json()["sequence"] == records[-1][1]

    # Fixed and submitted again: one record, named as it would have been, opens its own job page.
    page.fill("#f-sequence", ">broken one\nMKTAYIAK\n")
    expect(page.locator("#submit-job")).to_have_text(f"Submit · {cost} credits")
    page.click("#submit-job")
    page.wait_for_url("**/jobs/*")
    fixed = client.get(f"/v1/jobs/{page.url.rsplit('/', 1)[1]}/input").json()
    assert fixed["name"] == "screen: broken" and fixed["sequence"] == "MKTAYIAK"

    # A UniProt record alone, no name typed: its id, as `phonos fold` names it, not its whole header.
    page.goto(f"{service.base_url}/submit?model=esmfold")
    page.fill("#f-sequence", ">sp|P69905|HBA_HUMAN Hemoglobin subunit alpha OS=Homo sapiens OX=9606\nMVLSPADKTNVKAAWGKVGAHAGE\n")
    page.click("#submit-job")
    page.wait_for_url("**/jobs/*")
    assert client.get(f"/v1/jobs/{page.url.rsplit('/', 1)[1]}").json()["name"] == "sp|P69905|HBA_HUMAN"

    # More records than the form sends at once: said beside the box, nothing submitted.
    before = client.get("/v1/jobs", params={"limit": 1}).json()["pagination"]["total"]
    page.goto(f"{service.base_url}/submit?model=esmfold")
    page.fill("#f-sequence", "".join(f">r{n}\nMKTAYIAK\n" for n in range(1001)))
    # The button offers no submission the form would refuse (it read "Submit 1001 jobs · 10010 credits").
    expect(page.locator("#submit-job")).to_have_text("Too many records: at most 100")
    expect(page.locator("#sequence-count")).to_contain_text("1,001 FASTA records: the form submits at most 100 at once")
    page.click("#submit-job")
    expect(page.locator("#form-error")).to_contain_text("at most 100 at once")
    assert client.get("/v1/jobs", params={"limit": 1}).json()["pagination"]["total"] == before
    assert watched.problems() == []
    page.context.close()


def test_repeated_ids_get_the_job_names_the_cli_gives_them(browser: Browser, service: InProcessService) -> None:
    """`a`, `a`, `a_2`, `A`: each job is named by its id as written, repeats and all (the CLI makes its result files'
    names unique: `a_2`, `a_2_2`, `A_3`); a record without a header is `seq<N>` by its place."""
    headers = ["a", "a one more", "a_2", "A", "", "seq5", "sp|P69905|HBA_HUMAN Hemoglobin"]
    text = "".join(f">{header}\n{SEQUENCES[0]}\n" for header in headers)
    cli_ids = [record.job_name for record in read_fasta(text)]
    assert cli_ids == ["a", "a", "a_2", "A", "seq5", "seq5", "sp|P69905|HBA_HUMAN"]
    page = open_page(browser)
    page.goto(f"{service.base_url}/sign-in")  # any page: the module is the dashboard's own
    names = page.evaluate("""async (records) => {
        const fasta = await import('/static/js/fasta.js');
        return fasta.recordNames('', records);
    }""", [{"header": header, "sequence": SEQUENCES[0]} for header in headers])
    assert names == cli_ids
    page.context.close()
