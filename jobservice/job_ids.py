"""Job ids: a uuid4's text, written lower case by the service (jobservice/jobs.py).

RFC 9562 (section 4) has a UUID's hex digits read in either case and written in lower case, and people's tools
do change the case: a spreadsheet column, a shell's `tr`, a ticket system, a caps-lock paste. An id in capitals
names the same job, so it is read as the stored lower-case id. Anything else is left as sent: a text that is no
uuid names no job, and its 404 repeats it as it came.
"""

from __future__ import annotations

import re

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_job_id(text: str) -> bool:
    """Whether `text` is written as a job id is (a hyphenated uuid, hex digits in either case)."""
    return _UUID.fullmatch(text) is not None


def canonical_job_id(text: str) -> str:
    """`text` as the service stores it when it is a uuid in any case; otherwise `text` unchanged."""
    return text.lower() if is_job_id(text) else text
