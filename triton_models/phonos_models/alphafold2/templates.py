"""Template search: hmmsearch of the MSA's profile against PDB chain sequences, then mmCIF features.

The AlphaFold 2.3 route (its multimer pipeline's, usable for monomers too)
with HMMER only: `hmmbuild` makes a profile from the MSA the models will see,
`hmmsearch` scans a `pdb_seqres.txt`-style FASTA (headers
`>1abc_A mol:protein length:154  NAME`), and DeepMind's
`HmmsearchHitFeaturizer` reads each hit's chain from `<mmcif_dir>/<id>.cif`,
drops templates released after `max_template_date`, and keeps the best four
(AF2 Suppl. 1.2.3).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from alphafold.data import templates as af_templates
from alphafold.data.tools import hmmsearch

from phonos_models.alphafold2.msa import Alignment
from phonos_models.alphafold2.search import Database, DatabaseIdentity, SearchError, identify
from phonos_models.common.errors import Cancelled
from phonos_models.common.progress import ShouldStop

MAX_TEMPLATES = 4  # DeepMind's data.eval.max_templates
MAX_HITS = 20  # hits considered before the best four are kept (run_alphafold.py's MAX_TEMPLATE_HITS)


@dataclass(frozen=True)
class TemplateSettings:
    pdb_seqres: Path
    mmcif_dir: Path
    max_template_date: str  # YYYY-MM-DD
    hmmsearch_binary: str
    hmmbuild_binary: str
    kalign_binary: str


@dataclass(frozen=True)
class TemplateResult:
    features: dict[str, np.ndarray]  # DeepMind's template_* features, [N_templates, L, ...]
    names: tuple[str, ...]  # "1abc_A" per template used
    database: DatabaseIdentity
    warnings: tuple[str, ...]
    seconds: float


def search_templates(query: str, alignment: Alignment, settings: TemplateSettings,
                     should_stop: ShouldStop) -> TemplateResult:
    if should_stop():
        raise Cancelled("cancelled before the template search")
    start = time.perf_counter()
    database = identify(Database("pdb_seqres", settings.pdb_seqres, MAX_HITS))
    if not settings.mmcif_dir.is_dir():
        raise SearchError(f"template mmCIF directory not found: {settings.mmcif_dir}")
    try:
        searcher = hmmsearch.Hmmsearch(binary_path=settings.hmmsearch_binary,
                                       hmmbuild_binary_path=settings.hmmbuild_binary,
                                       database_path=str(settings.pdb_seqres))
        profile = searcher.hmmbuild_runner.build_profile_from_a3m(alignment.to_a3m())
        hits = searcher.get_template_hits(searcher.query_with_hmm(profile), query)
    except (RuntimeError, ValueError, OSError) as exc:
        raise SearchError(f"template search failed: {exc}") from exc
    if should_stop():
        raise Cancelled("cancelled after the template search")
    featurizer = af_templates.HmmsearchHitFeaturizer(
        mmcif_dir=str(settings.mmcif_dir),
        max_template_date=settings.max_template_date,
        max_hits=MAX_TEMPLATES,
        kalign_binary_path=settings.kalign_binary,
        release_dates_path=None,
        obsolete_pdbs_path=None,
    )
    ranked, missing = _with_mmcif(sorted(hits, key=lambda h: h.sum_probs or 0.0, reverse=True), settings.mmcif_dir)
    result = featurizer.get_templates(query_sequence=query, hits=ranked[:MAX_HITS])
    features = dict(result.features)
    # The no-hit fallback gives sum_probs as [1]; the pipeline's schema wants [N, 1].
    features["template_sum_probs"] = np.asarray(features["template_sum_probs"], np.float32).reshape(-1, 1)
    names = tuple(n.decode() for n in features["template_domain_names"] if n)
    return TemplateResult(features=features, names=names, database=database,
                          warnings=(*missing, *result.warnings), seconds=time.perf_counter() - start)


_PDB_ID = re.compile(r"([a-zA-Z\d]{4})_")  # DeepMind's hit names: "1abc_A"


def _with_mmcif(hits: list[Any], mmcif_dir: Path) -> tuple[list[Any], list[str]]:
    """The hits whose entry has a file in the mmCIF directory, and a warning per hit left out.

    DeepMind's featurizer opens `<id>.cif` unguarded ("Fail if we can't find the mmCIF file"): one pdb_seqres
    entry without its file (the two downloaded at different times, an entry made obsolete since) would fail the
    whole job, whatever the other hits. Here that hit is skipped and said in `metadata.templates.warnings`.
    """
    kept: list[Any] = []
    missing: list[str] = []
    for hit in hits:
        match = _PDB_ID.match(hit.name)
        if match and not (mmcif_dir / f"{match.group(1).lower()}.cif").is_file():
            missing.append(f"{hit.name.split()[0]}: skipped, {match.group(1).lower()}.cif is not in the template mmCIF "
                           "directory (pdb_seqres and the mmCIF files are out of step)")
            continue
        kept.append(hit)
    return kept, missing
