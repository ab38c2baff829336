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

import time
from dataclasses import dataclass
from pathlib import Path

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
    result = featurizer.get_templates(query_sequence=query, hits=sorted(hits, key=lambda h: h.sum_probs or 0.0, reverse=True)[:MAX_HITS])
    features = dict(result.features)
    # The no-hit fallback gives sum_probs as [1]; the pipeline's schema wants [N, 1].
    features["template_sum_probs"] = np.asarray(features["template_sum_probs"], np.float32).reshape(-1, 1)
    names = tuple(n.decode() for n in features["template_domain_names"] if n)
    return TemplateResult(features=features, names=names, database=database,
                          warnings=tuple(result.warnings), seconds=time.perf_counter() - start)
