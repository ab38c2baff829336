"""MSA search against the server's own sequence databases with jackhmmer (HMMER 3).

One jackhmmer iteration per database with the flags DeepMind's
`alphafold/data/tools/jackhmmer.py` uses (E-value 1e-4, its F1/F2/F3
prefilters), Stockholm → A3M with AlphaFold's own converter, then the hits of
all databases are merged behind the query. The child process is polled so a
cancelled job kills the search instead of waiting for it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alphafold.data import parsers

from phonos_models.alphafold2 import msa
from phonos_models.common.errors import Cancelled
from phonos_models.common.progress import Progress, Report, ShouldStop, ignore

MANIFEST_SUFFIX = ".phonos.json"  # written next to a database by build_db
_HASH_LIMIT_BYTES = 256 << 20  # hash small databases; large ones are identified by their manifest


class SearchError(RuntimeError):
    """jackhmmer failed or a database is missing."""


@dataclass(frozen=True)
class Database:
    name: str  # "uniref90", "mgnify", "small_bfd"
    path: Path  # FASTA
    max_hits: int


@dataclass(frozen=True)
class DatabaseIdentity:
    """What a result records about a database: name, file, version or content hash."""

    name: str
    path: str
    version: str  # from the manifest, else "sha256:<hex>" for small files, else "size:<n>,mtime:<t>"
    num_sequences: int | None

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "path": self.path, "version": self.version, "num_sequences": self.num_sequences}


def identify(database: Database) -> DatabaseIdentity:
    if not database.path.exists():
        raise SearchError(f"{database.name} database not found at {database.path}")
    manifest = database.path.with_name(database.path.name + MANIFEST_SUFFIX)
    if manifest.exists():
        data = json.loads(manifest.read_text())
        return DatabaseIdentity(database.name, str(database.path), str(data["version"]), data.get("num_sequences"))
    stat = database.path.stat()
    if stat.st_size <= _HASH_LIMIT_BYTES:
        digest = hashlib.sha256(database.path.read_bytes()).hexdigest()
        return DatabaseIdentity(database.name, str(database.path), f"sha256:{digest}", None)
    return DatabaseIdentity(database.name, str(database.path), f"size:{stat.st_size},mtime:{int(stat.st_mtime)}", None)


def _jackhmmer(binary: str, query_fasta: Path, database: Database, sto: Path, threads: int,
               should_stop: ShouldStop) -> None:
    command = [
        binary, "-o", "/dev/null", "-A", str(sto), "--noali",
        # DeepMind's defaults (alphafold/data/tools/jackhmmer.py).
        "--F1", "0.0005", "--F2", "0.00005", "--F3", "0.0000005",
        "--incE", "0.0001", "-E", "0.0001", "--cpu", str(threads), "-N", "1",
        str(query_fasta), str(database.path),
    ]
    try:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise SearchError(f"jackhmmer not found ({binary}); install HMMER (Debian package 'hmmer')") from exc
    while process.poll() is None:
        if should_stop():
            process.kill()
            process.wait()
            raise Cancelled(f"cancelled during the {database.name} search")
        time.sleep(0.05)
    if process.returncode != 0:
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        raise SearchError(f"jackhmmer failed on {database.name} (exit {process.returncode}): {stderr[-500:]}")


@dataclass(frozen=True)
class SearchResult:
    alignment: msa.Alignment  # query first, then hits
    databases: tuple[DatabaseIdentity, ...]
    hits: dict[str, int]  # database name -> hits kept
    seconds: dict[str, float]  # database name -> search wall time


def search(query: str, databases: Sequence[Database], *, binary: str, threads: int,
           should_stop: ShouldStop, report: Report = ignore) -> SearchResult:
    identities = tuple(identify(database) for database in databases)
    hit_sets: list[list[tuple[str, str]]] = []
    hits: dict[str, int] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="phonos-af2-search-") as work:
        query_fasta = Path(work) / "query.fasta"
        query_fasta.write_text(f">query\n{query}\n")
        for number, database in enumerate(databases):
            if should_stop():  # also when a small database's search would finish before the first check
                raise Cancelled(f"cancelled before the {database.name} search")
            report(Progress("msa_search", number, len(databases), f"searching {database.name} ({number + 1} of {len(databases)})"))
            start = time.perf_counter()
            sto = Path(work) / f"{database.name}.sto"
            _jackhmmer(binary, query_fasta, database, sto, threads, should_stop)
            a3m = parsers.convert_stockholm_to_a3m(sto.read_text(), max_sequences=database.max_hits)
            records = msa.records_from_text(a3m)[1:]  # jackhmmer's first row is the query itself
            hit_sets.append(records)
            hits[database.name] = len(records)
            seconds[database.name] = time.perf_counter() - start
    return SearchResult(alignment=msa.merge(query, hit_sets), databases=identities, hits=hits, seconds=seconds)
