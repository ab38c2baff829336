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
    for cells in (59, 79):
        lines = fitted(cli.CREDIT_HEADER, rows, cells)
        assert lines[1].endswith(f"… {JOB_IDS[0]}") or lines[1].endswith(f"submitted {JOB_IDS[0]}")
    assert "charge: esmfold" in fitted(cli.CREDIT_HEADER, rows, 100)[1]


def test_without_a_width_or_when_it_fits_the_table_is_as_it_was() -> None:
    whole = table(JOBS_HEADER, JOBS, cli.NUMBER_COLUMNS)
    assert "\n".join(fitted(JOBS_HEADER, JOBS, 500)) == whole
    assert "…" not in whole and "2026-12-01T06:21:09.047Z" in whole


def test_a_table_that_cannot_fit_is_left_whole() -> None:
    """Webhook deliveries (an id, a job id, times, counts) are wider than 80 columns before any free text: cutting
    the receiver's answer would not stop the wrap, so nothing is cut."""
    row = ("11", "2026-12-01T06:31:04.755Z", "job.completed", JOB_IDS[0], "failed", "8 attempts",
           "the receiver could not be reached (no HTTP answer)", "-")
    assert fitted(cli.DELIVERY_HEADER, [row], 79) == table(cli.DELIVERY_HEADER, [row], cli.NUMBER_COLUMNS).splitlines()
    assert fitted(JOBS_HEADER, JOBS, 59)[1].endswith(JOBS[0][-1])
