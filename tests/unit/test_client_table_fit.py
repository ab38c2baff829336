"""Tables fitted to the terminal: a table wider than the screen would wrap every row. Free-text columns are
shortened with `…` (widest first), times shown shorter; ids are never cut; without a width nothing changes."""

from __future__ import annotations

import pytest
from phonos_client import cli
from phonos_client.columns import table, width

pytestmark = pytest.mark.unit

JOB_IDS = ("2defb02b-968e-4a42-9130-d9f402fed693", "64ed571b-5423-4a56-9166-43f6fb350db0")
JOBS_HEADER = ("JOB ID", "MODEL", "STATUS", "CREATED", "NAME")
JOBS = [(JOB_IDS[0], "esmfold", "completed", "2026-12-01T06:21:09.047Z",
         "a rather long protein name for my kinase domain experiment"),
        (JOB_IDS[1], "alphafold2", "running", "2026-12-01T06:25:44.812Z", "p2")]


def fitted(header: tuple[str, ...], rows: list[tuple[str, ...]], cells: int) -> list[str]:
    return table(header, rows, cli.NUMBER_COLUMNS, cells=cells, free=cli.FREE_COLUMNS,
                 times=cli.TIME_COLUMNS).splitlines()


@pytest.mark.parametrize("cells", [79, 100, 120])
def test_a_jobs_table_fits_the_terminal_and_keeps_every_id(cells: int) -> None:
    lines = fitted(JOBS_HEADER, JOBS, cells)
    assert all(width(line) <= cells for line in lines), lines
    for job_id in JOB_IDS:
        assert any(line.startswith(job_id + "  ") for line in lines)
    assert lines[1].endswith("…") and "  a r" in lines[1]  # the name, shortened
    assert lines[2].endswith("p2")  # a short one whole


def test_times_give_up_seconds_then_the_year_only_as_needed() -> None:
    assert "2026-12-01T06:21:09.047Z" in fitted(JOBS_HEADER, JOBS, 200)[1]  # room: as the API says it
    assert "2026-12-01 06:21Z" in fitted(JOBS_HEADER, JOBS, 100)[1]
    assert " 12-01 06:21Z " in fitted(JOBS_HEADER, JOBS, 79)[1]


def test_an_id_that_ends_a_free_text_cell_is_kept_whole() -> None:
    rows = [("2026-12-01T06:25:44.812Z", "-10", "970", f"charge: esmfold job submitted {JOB_IDS[0]}"),
            ("2026-12-01T06:20:51.640Z", "+1000", "1000", "grant: opening balance")]
    for cells in (72, 79):  # (at 59 it is records: the next test)
        lines = fitted(cli.CREDIT_HEADER, rows, cells)
        assert lines[1].endswith(f"… {JOB_IDS[0]}") or lines[1].endswith(f"submitted {JOB_IDS[0]}")
    assert "charge: esmfold" in fitted(cli.CREDIT_HEADER, rows, 100)[1]


def test_without_a_width_or_when_it_fits_the_table_is_as_it_was() -> None:
    whole = table(JOBS_HEADER, JOBS, cli.NUMBER_COLUMNS)
    assert "\n".join(fitted(JOBS_HEADER, JOBS, 500)) == whole
    assert "…" not in whole and "2026-12-01T06:21:09.047Z" in whole


def test_a_table_that_cannot_fit_is_shown_as_records_that_do() -> None:
    """Webhook deliveries (an id, a job id, times, counts) are wider than 80 columns before any free text, the jobs
    wider than 60: as a table every row would wrap. They are shown as psql's `\\x auto` shows such a table: one line
    a field, a blank line between rows, every line within the terminal and every id and time whole (before: the
    table was left whole and wrapped)."""
    row = ("11", "2026-12-01T06:31:04.755Z", "job.completed", JOB_IDS[0], "failed", "8 attempts",
           "the receiver could not be reached (no HTTP answer)", "-")
    lines = fitted(cli.DELIVERY_HEADER, [row], 59)
    assert all(width(line) <= 59 for line in lines), lines
    assert lines[:4] == ["DELIVERY ID  11", "CREATED      2026-12-01T06:31:04.755Z", "EVENT        job.completed",
                         f"JOB ID       {JOB_IDS[0]}"]
    assert lines[6:8] == ["ANSWER       the receiver could not be reached (no HTTP",
                          "             answer)"]  # broken at a space, under itself
    jobs = fitted(JOBS_HEADER, JOBS, 59)
    assert all(width(line) <= 59 for line in jobs), jobs
    assert jobs[0] == f"JOB ID   {JOB_IDS[0]}" and jobs[4] == "NAME     a rather long protein name for my kinase domain"
    assert jobs[5] == "         experiment" and jobs[6] == "" and jobs[7] == f"JOB ID   {JOB_IDS[1]}"


def test_a_record_keeps_an_id_whole_and_cuts_only_a_long_word_of_free_text() -> None:
    rows = [("2026-12-01T06:25:44.812Z", "-10", "970", f"charge: esmfold job submitted {JOB_IDS[0]}"),
            ("2026-12-01T06:20:51.640Z", "+1000", "1000", "grant: " + "x" * 80)]
    lines = fitted(cli.CREDIT_HEADER, rows, 39)
    assert f"         {JOB_IDS[0]}" in lines  # wider than the room left, but whole
    assert "WHY      grant:" in lines and f"         {'x' * 29}…" in lines
    assert "WHEN     2026-12-01T06:25:44.812Z" in lines and "BALANCE  970" in lines


def test_an_activity_entry_names_its_key_once() -> None:
    """BY said "key key_30e3... (laptop)": the id says it is a key."""
    from phonos_client.models import ActivityEntry

    entry = ActivityEntry.from_dict({
        "id": 7, "created_at": "2026-12-01T09:29:05.201Z", "action": "api_key.created",
        "actor": {"kind": "api_key", "key_id": "key_30e371b561fba115", "key_name": "laptop"},
        "client_address": "127.0.0.1", "user_agent": "phonos-client/0.1", "target": {"key_id": "key_8c09bf89ab4564fb"},
        "details": {"name": "ci", "scope": "full"}})
    assert cli.activity_rows([entry])[0][2] == "key_30e371b561fba115 (laptop)"


def test_a_webhooks_url_and_events_are_never_cut() -> None:
    """At 60 columns they were cut to "http://12…" and "job.start…", which said nothing: they are whole, in records
    where the table cannot hold them."""
    hooks = [("wh_29d6ca7e8b4d487190704339b0cc227d", "https://hooks.example.org/phonos", "job.completed,job.failed")]
    lines = fitted(("WEBHOOK ID", "URL", "EVENTS"), hooks, 59)
    assert lines == ["WEBHOOK ID  wh_29d6ca7e8b4d487190704339b0cc227d", "URL         https://hooks.example.org/phonos",
                     "EVENTS      job.completed,job.failed"]


def test_a_record_keeps_a_file_named_by_its_job_id_whole_where_free_text_is_cut() -> None:
    """`phonos fold --out DIR` twice names the second file by its job id; at 60 columns the report's FILES / ERROR
    (free text: an error may be long) cut it to `folds/sequence.1b628d5a-…`, which no one can open."""
    from phonos_client.columns import records

    path = "folds/sequence.1b628d5a-cd5d-4a89-9f77-d5534a00645c.pdb"
    shown = records(("NAME", "FILES / ERROR"), [("sequence", path), ("other", "x" * 80)], cells=40,
                    free={"NAME", "FILES / ERROR"})
    assert path in shown.splitlines()[1]
    assert "x" * 80 not in shown and "…" in shown  # free text without an id is still cut to the line
