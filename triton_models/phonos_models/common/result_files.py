"""The one output contract of every phonos job model: result files built where the model runs.

A job model's Triton response has exactly two tensors:

* `RESULT` — one JSON string: `{"files": [{"format", "extension", "media_type"}, ...],
  "metrics": {...}, "metadata": {...}}`. `files[0]` is the default download.
* `FILES` — one BYTES element per entry of `files`, in the same order: the file contents.

The model side (science code + the Triton adapter) builds the files with the libraries that
understand them (gemmi, RDKit, AlphaFold's writers); the job service only checks this envelope
and stores the bytes, so it never imports a structure library to finish a job. This module is
the only place that knows the envelope, and it needs nothing but numpy and json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RESULT = "RESULT"
FILES = "FILES"
OUTPUT_NAMES: tuple[str, ...] = (RESULT, FILES)

# Formats and extensions become `?format=` keys and file names: keep them boring.
_FORMAT = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_MEDIA_TYPE = re.compile(r"^[a-z]+/[a-z0-9.+-]+$")


class ResultEnvelopeError(ValueError):
    """A model answered with outputs that break the envelope (a bug on the model side)."""


@dataclass(frozen=True)
class ResultFile:
    """One downloadable file of a job."""

    format: str  # the `?format=` key: "pdb", "cif", "json", "sdf", "a3m", ...
    extension: str  # without the dot; stored as "<job_id>.<extension>"
    media_type: str
    content: bytes


@dataclass(frozen=True)
class ModelResult:
    """Everything a completed job keeps: files (first = default download), headline metrics, provenance."""

    files: tuple[ResultFile, ...]
    metrics: dict[str, float | int | str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_files(self.files)


def check_files(files: Sequence[ResultFile]) -> None:
    if not files:
        raise ResultEnvelopeError("a result needs at least one file")
    seen_formats: set[str] = set()
    seen_extensions: set[str] = set()
    for item in files:
        if not _FORMAT.match(item.format) or not _FORMAT.match(item.extension):
            raise ResultEnvelopeError(f"bad format or extension {item.format!r}/{item.extension!r}")
        if not _MEDIA_TYPE.match(item.media_type):
            raise ResultEnvelopeError(f"bad media type {item.media_type!r}")
        if item.format in seen_formats or item.extension in seen_extensions:
            raise ResultEnvelopeError(f"format {item.format!r} or extension {item.extension!r} repeats")
        seen_formats.add(item.format)
        seen_extensions.add(item.extension)


def text_file(format: str, media_type: str, text: str, extension: str | None = None) -> ResultFile:
    return ResultFile(format, extension or format, media_type, text.encode())


def json_file(format: str, value: Any, extension: str | None = None) -> ResultFile:
    default_extension = "json" if format == "json" else f"{format}.json"
    return ResultFile(format, extension or default_extension, "application/json", json.dumps(value).encode())


def encode(result: ModelResult, *, batched: bool) -> dict[str, np.ndarray]:
    """The output tensors of one response. `batched`: the model's config has max_batch_size > 0, so every
    tensor carries a leading batch dimension of 1."""
    manifest = {
        "files": [{"format": f.format, "extension": f.extension, "media_type": f.media_type} for f in result.files],
        "metrics": result.metrics,
        "metadata": result.metadata,
    }
    head = np.array([json.dumps(manifest).encode()], dtype=object)
    files = np.array([f.content for f in result.files], dtype=object)
    if batched:
        return {RESULT: head[None, :], FILES: files[None, :]}
    return {RESULT: head, FILES: files}


def decode(outputs: Mapping[str, np.ndarray]) -> ModelResult:
    """The result carried by a response's tensors; `ResultEnvelopeError` when they break the envelope."""
    try:
        head = np.asarray(outputs[RESULT], dtype=object).reshape(-1)
        contents = np.asarray(outputs[FILES], dtype=object).reshape(-1)
    except KeyError as exc:
        raise ResultEnvelopeError(f"missing output {exc.args[0]}") from None
    if head.shape[0] != 1:
        raise ResultEnvelopeError(f"{RESULT} must hold one JSON string, got {head.shape[0]}")
    try:
        manifest = json.loads(_bytes(head[0]))
        entries = manifest["files"]
        metrics = manifest.get("metrics", {})
        metadata = manifest.get("metadata", {})
    except (ValueError, KeyError, TypeError) as exc:
        raise ResultEnvelopeError(f"{RESULT} is not a result manifest: {exc}") from None
    if not isinstance(entries, list) or not isinstance(metrics, dict) or not isinstance(metadata, dict):
        raise ResultEnvelopeError(f"{RESULT} has the wrong shape")
    if len(entries) != contents.shape[0]:
        raise ResultEnvelopeError(f"{RESULT} lists {len(entries)} files but {FILES} holds {contents.shape[0]}")
    try:
        files = tuple(
            ResultFile(str(e["format"]), str(e["extension"]), str(e["media_type"]), _bytes(content))
            for e, content in zip(entries, contents, strict=True)
        )
    except (KeyError, TypeError) as exc:
        raise ResultEnvelopeError(f"a file entry lacks {exc}") from None
    return ModelResult(files=files, metrics=metrics, metadata=metadata)


def _bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise ResultEnvelopeError(f"expected bytes, got {type(value).__name__}")
