"""The result bundle every job offers as `?format=zip`: all its files, a README and the plots.

Built where the model runs, like every other result file (result_files.py). The zip holds each of the
job's files as `<stem>.<extension>` (the same extensions the downloads use) plus `README.md`, a
summary a person can read without the API: what ran, on which weights, the headline numbers and
what every file is. Entries carry a fixed timestamp, so the same result always zips to the same bytes.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from phonos_models.common.result_files import ResultFile

ZIP_FORMAT = "zip"
ZIP_MEDIA_TYPE = "application/zip"
README_NAME = "README.md"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest date: reproducible archives
_RANKED = re.compile(r"^rank_\d+_")  # rank_2_pdb, rank_3_relaxed_pdb: one description per kind
# Deflate level of the text entries: 1 compresses a job's PDB, mmCIF and JSON about 5x faster than the
# default 6 (~0.7 ms against ~3.7 ms at 60 aa) for archives ~15 % larger; the zip is built on every job's
# completion path, and downloaded at most once or twice.
_TEXT_LEVEL = 1
PNG_MEDIA_TYPE = "image/png"


@dataclass(frozen=True)
class Section:
    """One part of the README: a heading and Markdown lines (tables, lists or prose)."""

    heading: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Summary:
    title: str  # e.g. "ESMFold prediction"
    warning: str | None  # shown first in bold, e.g. "NOT A REAL PREDICTION: tiny random weights"
    sections: tuple[Section, ...]
    descriptions: Mapping[str, str]  # format key -> what the file is


def png_file(format: str, stem: str, content: bytes) -> ResultFile:
    """A plot as a downloadable file: `?format=<format>`, stored as `<job>.<stem>.png`."""
    return ResultFile(format, f"{stem}.png", PNG_MEDIA_TYPE, content)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> tuple[str, ...]:
    """A Markdown table (cells are str()-ed; '|' escaped)."""
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return tuple(lines)


def describe(descriptions: Mapping[str, str], format: str) -> str:
    """What a file is: its format's own description, or its kind's for a ranked one (`rank_3_pdb` -> `rank_N_pdb`)."""
    return descriptions.get(format) or descriptions.get(_RANKED.sub("rank_N_", format), "")


def readme(summary: Summary, entries: Sequence[tuple[str, ResultFile]]) -> str:
    lines = [f"# {summary.title}", ""]
    if summary.warning:
        lines += [f"**{summary.warning}**", ""]
    for section in summary.sections:
        lines += [f"## {section.heading}", "", *section.lines, ""]
    rows = [(f"`{name}`", f"`{item.format}`", describe(summary.descriptions, item.format)) for name, item in entries]
    rows.append((f"`{README_NAME}`", "", "this summary"))
    lines += ["## Files", "", "Each file is also a download of its own: `GET /v1/jobs/{id}/download?format=<format>`.",
              "", *table(("file", "format", "what it is"), rows), ""]
    return "\n".join(lines)


def bundle(files: Sequence[ResultFile], stem: str, summary: Summary) -> ResultFile:
    """The zip of `files` (named `<stem>.<extension>`) and their README."""
    entries = [(f"{stem}.{item.extension}", item) for item in files]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, item in entries:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            # PNGs are compressed already: store them, deflate the text
            info.compress_type = zipfile.ZIP_STORED if item.media_type == PNG_MEDIA_TYPE else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, item.content, compresslevel=_TEXT_LEVEL)
        info = zipfile.ZipInfo(README_NAME, date_time=_FIXED_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        archive.writestr(info, readme(summary, entries), compresslevel=_TEXT_LEVEL)
    return ResultFile(ZIP_FORMAT, ZIP_FORMAT, ZIP_MEDIA_TYPE, buffer.getvalue())


def with_bundle(files: Sequence[ResultFile], stem: str, summary: Summary) -> tuple[ResultFile, ...]:
    """`files` followed by their bundle: what a job model returns."""
    return (*files, bundle(files, stem, summary))
