"""Build a small sequence database from a FASTA file, for tests and demos.

    python -m phonos_models.alphafold2.build_db proteins.fasta ./db [--name uniref90]

Writes `<outdir>/<name>.fasta` (validated, upper-cased, duplicate-free, one
sequence line per record — what jackhmmer reads) and a manifest
`<name>.fasta.phonos.json` whose `version` (content hash) every search result
records. Prints the environment line that points the server at it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from phonos_models.alphafold2.search import MANIFEST_SUFFIX

DATABASE_NAMES = ("uniref90", "mgnify", "small_bfd")
_PROTEIN = re.compile(r"^[ACDEFGHIKLMNPQRSTVWYXBZUO]+$")


class BuildError(ValueError):
    """The FASTA input cannot become a database; the message names the record."""


@dataclass(frozen=True)
class BuiltDatabase:
    fasta: Path
    manifest: Path
    num_sequences: int
    version: str  # "sha256:<hex>" of the written FASTA

    @property
    def env_line(self) -> str:
        name = self.fasta.name.removesuffix(".fasta")
        return f"PHONOS_ALPHAFOLD2_{name.upper()}={self.fasta}"


def read_fasta(text: str) -> list[tuple[str, str]]:
    records: list[tuple[str, list[str]]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(">"):
            records.append((line[1:].strip(), []))
        elif not records:
            raise BuildError(f"line {number}: sequence before the first '>' header")
        else:
            records[-1][1].append(line)
    out: list[tuple[str, str]] = []
    for index, (header, lines) in enumerate(records, start=1):
        sequence = "".join(lines).replace("*", "").upper()
        if not sequence:
            raise BuildError(f"record {index} ({header!r}) has no sequence")
        if not _PROTEIN.match(sequence):
            raise BuildError(f"record {index} ({header!r}) is not a protein sequence")
        # jackhmmer keys hits by the first word of the header: keep it unique.
        name = header.split()[0] if header else f"seq{index}"
        out.append((f"{name}_{index}" if any(n == name for n, _ in out) else name, sequence))
    if not out:
        raise BuildError("no FASTA records found")
    return out


def build(fasta: Path, outdir: Path, name: str = "uniref90") -> BuiltDatabase:
    try:
        text = fasta.read_text()
    except UnicodeDecodeError:  # an image, a compressed database: said as a BuildError, not a traceback
        raise BuildError(f"{fasta}: not a text FASTA file") from None
    records = read_fasta(text)
    seen: set[str] = set()
    unique: list[tuple[str, str]] = []
    for record_name, sequence in records:
        if sequence not in seen:
            seen.add(sequence)
            unique.append((record_name, sequence))
    outdir.mkdir(parents=True, exist_ok=True)
    target = outdir / f"{name}.fasta"
    content = "".join(f">{n}\n{s}\n" for n, s in unique)
    target.write_text(content)
    version = "sha256:" + hashlib.sha256(content.encode()).hexdigest()
    manifest = target.with_name(target.name + MANIFEST_SUFFIX)
    manifest.write_text(json.dumps({
        "name": name,
        "version": version,
        "num_sequences": len(unique),
        "source": str(fasta),
        "built_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "builder": "phonos_models.alphafold2.build_db",
    }, indent=2) + "\n")
    return BuiltDatabase(fasta=target, manifest=manifest, num_sequences=len(unique), version=version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phonos_models.alphafold2.build_db", description=__doc__.split("\n\n")[0])
    parser.add_argument("fasta", type=Path, help="protein FASTA file")
    parser.add_argument("outdir", type=Path, help="directory to write the database into")
    parser.add_argument("--name", default="uniref90", choices=DATABASE_NAMES,
                        help="which database slot this file fills (default: uniref90)")
    args = parser.parse_args(argv)
    try:
        built = build(args.fasta, args.outdir, args.name)
    except (BuildError, OSError) as exc:
        print(f"build_db: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {built.fasta} ({built.num_sequences} sequences, {built.version[:19]}...)")
    print(built.env_line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
