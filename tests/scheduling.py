"""The order in which `pytest -n 2 --dist loadfile` (scripts/test.sh) hands test files to its two workers.

pytest-xdist hands a worker the next file of its queue whenever the worker is almost out of tests, and orders that
queue by how many tests a file has (--loadscope-reorder, its default). A browser or Triton file of one to three
tests costing 40-110 s then came near the end, and one worker ran it alone while the other had finished: the
tail of a run is only as short as the last files are. Here the queue is ordered by what each file cost in a
measured run instead, slowest first (a longest-first schedule: what is left for the end is small), with the
dashboard's files first of all and together: its directory shares one Chromium per worker while its files follow
one another (tests/dashboard/conftest.py), and they are among the slowest anyway.

tests/file-seconds.json holds setup + call + teardown per file, summed, from a run of the whole suite (2 workers;
`pytest_terminal_summary` in tests/conftest.py writes a run's figures to artifacts/test-file-seconds.json: copy it
over to refresh them). A file not listed (new, renamed) is placed as if it cost UNKNOWN_S; a stale figure costs
balance, never a test. The figures of 2026-12-01 were taken on a host shared with other runs: slower than CI's
throughout, what matters here is which file is slower than which.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

from xdist.scheduler import LoadFileScheduling
from xdist.workermanage import WorkerController

# Before the many small files and after the slow ones: a new file is often an end-to-end one.
UNKNOWN_S = 15.0
DASHBOARD = "tests/dashboard/"

FILE_SECONDS: dict[str, float] = json.loads((Path(__file__).parent / "file-seconds.json").read_text())


def cost(path: str) -> float:
    return FILE_SECONDS.get(path, UNKNOWN_S)


def queue_order(path: str) -> tuple[bool, float, str]:
    """Dashboard files first, then the rest; slowest first within each; by path where costs are equal."""
    return (not path.startswith(DASHBOARD), -cost(path), path)


class SlowestFileFirst(LoadFileScheduling):
    """xdist's loadfile scheduling with its queue in `queue_order` rather than by number of tests."""

    _ordered = False

    def _assign_work_unit(self, node: WorkerController) -> None:
        # schedule() fills the queue, then assigns from it: ordered at the first assignment, once.
        if not self._ordered:
            self.workqueue = OrderedDict(sorted(self.workqueue.items(), key=lambda item: queue_order(item[0])))
            self._ordered = True
        super()._assign_work_unit(node)
