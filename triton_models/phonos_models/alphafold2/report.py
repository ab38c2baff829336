"""AlphaFold2's plots and result bundle (phonos_models.common.plots / bundle).

* `plddt_plot`: per-residue pLDDT of every model, best first (ColabFold's per-model plot);
* `pae_plot`: the rank-1 model's PAE, for presets with a PAE head (monomer_ptm, multimer) only;
* `coverage_plot`: the MSA the models saw, as ColabFold draws it (a complex's per-chain MSAs stay
  unpaired, so they are drawn block-diagonally: each chain's rows cover only its own columns);
* `zip`: every file plus a README.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from phonos_models.alphafold2.pipeline import Prediction
from phonos_models.alphafold2.runner import ModelOutput
from phonos_models.common import bundle, pae_file, plots
from phonos_models.common.letters import chain_name
from phonos_models.common.result_files import ResultFile
from phonos_models.common.weights import TINY_WARNING

DESCRIPTIONS = {
    "pdb": "rank-1 model, PDB; B-factors = per-residue pLDDT (0-100)",
    "cif": "rank-1 model as mmCIF, with provenance",
    "json": "ColabFold-style scores: per-residue pLDDT, mean pLDDT, ranking; pTM and PAE for monomer_ptm and multimer; "
            "ipTM, per-chain and per-interface confidence for complexes",
    "a3m": "the multiple sequence alignment the models saw (A3M)",
    pae_file.FORMAT: pae_file.DESCRIPTION + " (rank-1 model; monomer_ptm and multimer)",
    "timings": "seconds per stage and per model",
    "plddt_plot": "per-residue pLDDT of every model, best first (PNG)",
    "pae_plot": "predicted aligned error of the rank-1 model (PNG), 0-30 Angstrom",
    "rank_N_pdb": "the other ranked models (PDB)",
    "relaxed_pdb": "the rank-1 model after Amber relax (PDB, hydrogens added)",
    "relaxed_cif": "the relaxed rank-1 model as mmCIF",
    "rank_N_relaxed_pdb": "the other ranked models after Amber relax (PDB; relax: all)",
    "coverage_plot": "MSA coverage: sequences coloured by identity to the query, coverage line (PNG)",
}


def coverage_arrays(rows: Sequence[str], query: str) -> tuple[np.ndarray, np.ndarray]:
    """From A3M rows (query first): `non_gap` [N, L] and identity to the query [N] over all L positions
    (ColabFold's `plot_msa_v2`: gaps count as mismatches). Insertions (lower case) are dropped."""
    columns = [[c for c in row if not c.islower()] for row in rows]
    bad = sorted({len(row) for row in columns} - {len(query)})
    if bad:
        raise ValueError(f"A3M rows align to {bad[0]} columns, the query has {len(query)}")
    aligned = np.array(columns, dtype="<U1").reshape(len(rows), len(query))
    non_gap = aligned != "-"
    identity = (aligned == np.array(list(query))[None, :]).mean(axis=1) if len(query) else np.zeros(len(rows))
    return non_gap, identity


def msa_coverage(prediction: Prediction) -> tuple[np.ndarray, np.ndarray]:
    """`non_gap` [N, L] and identity [N] over the whole (concatenated) input: each chain's rows cover only
    its own columns, because a complex's per-chain MSAs are not paired beyond the query rows."""
    layout = prediction.layout
    blocks, identities = [], []
    for chain, start, alignment in zip(layout.sequences, _starts(layout.lengths), prediction.alignments, strict=True):
        non_gap, identity = coverage_arrays([row for _, row in alignment.records], chain)
        block = np.zeros((non_gap.shape[0], len(layout.residues)), dtype=bool)
        block[:, start:start + len(chain)] = non_gap
        blocks.append(block)
        identities.append(identity)
    return np.concatenate(blocks), np.concatenate(identities)


def _starts(lengths: Sequence[int]) -> list[int]:
    return [int(x) for x in np.cumsum([0, *lengths[:-1]])]


def plot_files(prediction: Prediction) -> tuple[ResultFile, ...]:
    suffix = "" if prediction.real_weights else "\n(tiny random weights: not a real prediction)"
    chains = prediction.layout.lengths if len(prediction.layout.lengths) > 1 else ()
    series = [plots.Series(f"rank {k} ({out.model_name})", out.plddt) for k, out in enumerate(prediction.ranked, 1)]
    files = [bundle.png_file("plddt_plot", "plddt", plots.plddt_png(series, f"Predicted lDDT per model{suffix}", chains))]
    best = prediction.ranked[0]
    if best.pae is not None:
        title = f"Predicted aligned error, rank 1 ({best.model_name}){suffix}"
        files.append(bundle.png_file("pae_plot", "pae", plots.pae_png(best.pae, title, chains)))
    non_gap, identity = msa_coverage(prediction)
    title = coverage_title(non_gap.shape[0], suffix)
    files.append(bundle.png_file("coverage_plot", "coverage", plots.coverage_png(non_gap, identity, title, chains)))
    return tuple(files)


def coverage_title(rows: int, suffix: str = "") -> str:
    """The MSA coverage plot's title: a lone query (no MSA found) is "1 sequence", not "1 sequences"."""
    return f"MSA coverage ({rows} sequence{'' if rows == 1 else 's'}){suffix}"


def ranking_table(ranked: Sequence[ModelOutput]) -> tuple[str, ...]:
    """The README's ranking: for a complex also ipTM and the 0.8·ipTM + 0.2·pTM the models are ranked by,
    so the table shows the number that put each model in its place."""
    def score(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    if ranked[0].confidence.iptm is None:
        return bundle.table(("rank", "model", "mean pLDDT", "pTM"),
                            [(k, out.model_name, f"{out.mean_plddt:.2f}", score(out.ptm))
                             for k, out in enumerate(ranked, 1)])
    return bundle.table(("rank", "model", "mean pLDDT", "pTM", "ipTM", "0.8*ipTM+0.2*pTM"),
                        [(k, out.model_name, f"{out.mean_plddt:.2f}", score(out.ptm), score(out.confidence.iptm),
                          score(out.confidence.ranking_confidence)) for k, out in enumerate(ranked, 1)])


def summary(prediction: Prediction) -> bundle.Summary:
    request = prediction.request
    layout = prediction.layout
    depths = ", ".join(f"{cid}: {a.depth}" for cid, a in zip(layout.ids, prediction.alignments, strict=True))
    run = [("model preset", request.model_preset), ("MSA mode", request.msa_mode),
           ("MSA depth", f"{prediction.msa_depth}" + (f" (per chain {depths})" if len(layout.ids) > 1 else "")),
           *((("MSA databases", prediction.databases_label()),) if prediction.databases else ()),
           ("templates", prediction.templates_label()),
           ("recycles", request.num_recycles), ("models", request.num_models), ("random seed", request.random_seed),
           *((w.model_name, f"{w.source} (sha256 {w.sha256[:16]}...)") for w in prediction.weights)]
    sections = (
        bundle.Section("Input", tuple(f"{chain_name(n)} (chain {cid} in the files): `{chain}`" if len(layout.ids) > 1
                                      else f"`{chain}`" for n, (cid, chain) in enumerate(zip(layout.ids,
                                                                                   layout.sequences, strict=True)))),
        bundle.Section("Run", bundle.table(("setting", "value"), run)),
        bundle.Section(f"Ranking (by {prediction.ranked[0].confidence.ranked_by})",
                       ranking_table(prediction.ranked)),
    )
    warning = None if prediction.real_weights else TINY_WARNING
    return bundle.Summary("AlphaFold2 prediction", warning, sections, DESCRIPTIONS)


def with_plots_and_bundle(prediction: Prediction, files: Sequence[ResultFile]) -> tuple[ResultFile, ...]:
    """The structure/score files, then the plots, then the zip of them all."""
    return bundle.with_bundle((*files, *plot_files(prediction)), "alphafold2", summary(prediction))
