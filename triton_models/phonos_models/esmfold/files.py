"""Result files and provenance for ESMFold: PDB, mmCIF, scores JSON, plots, the bundle; metrics, metadata.

Every file says which weights made it; tiny-weight files say plainly that they are not real
predictions. A complex is written with one chain per submitted chain (A, B, …, residues numbered from
1 in each), the linker left out. With `relax` (best or all: a fold has one structure), the Amber-relaxed
structure joins them as `relaxed_pdb` and `relaxed_cif` (phonos_models.common.relax_step), and the
scores, metrics and metadata report the relax as AlphaFold2's do.

Nothing here imports torch: `build` runs in a result-file worker process (phonos_models.common.file_workers).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from phonos_config.relax import RelaxSettings
from phonos_models.common import bundle, pae_file, plots, relax_step, software
from phonos_models.common.instance import ModelInstance
from phonos_models.common.progress import Report, ShouldStop, ignore
from phonos_models.common.qa_metrics import Confidence
from phonos_models.common.relax import RelaxOutcome
from phonos_models.common.result_files import ModelResult, ResultFile, json_file, text_file
from phonos_models.common.structure import (
    ProteinChain,
    pdb_to_mmcif,
    remark_records,
    title_records,
    to_pdb,
    to_pdb_and_mmcif,
)
from phonos_models.common.unknown import unknown_residues, unknown_warning
from phonos_models.common.weights import TINY_NOTE, TINY_WARNING, WeightsInfo
from phonos_models.esmfold.chains import LINKER
from phonos_models.esmfold.result import FoldResult

JSON_NOTE = (
    "plddt: predicted lDDT per residue at its CA atom, 0-100 (>90 very high, 70-90 confident, 50-70 low, "
    "<50 very low confidence; AlphaFold DB bands). mean_plddt: the mean over every atom the model builds, as "
    "fair-esm's esm-fold reports it; mean_plddt_ca: the mean of the per-residue values (AlphaFold2's mean_plddt "
    "is per residue: compare it with mean_plddt_ca); each chain in chains has both, over its own atoms and "
    "residues. The PDB/mmCIF "
    "B-factor column holds each atom's own pLDDT (as fair-esm writes it). ptm: predicted TM-score of all "
    "residues, 0-1. pae[i][j]: expected position error in Angstrom of residue j when the prediction is aligned "
    "on residue i. unknown_residues: the residues given as X (null when none): folded as ESMFold's unknown type, "
    "written as their CA only. Complexes: chains A, B, ... in submission order; residues in plddt/pae run across chains "
    "in that order; iptm is AlphaFold-Multimer's interface pTM and chain_pair_iptm AlphaFold 3's per chain pair "
    "(diagonal: each chain's pTM), computed from ESMFold's pTM head, which was trained on single chains: read "
    "them as heuristic interface scores."
)
CONFIDENCE_NOTE = (
    "B-factor column: pLDDT 0-100 per atom (higher is more confident). "
    "pTM 0-1 over all chains. PAE in Angstrom."
)
COMPLEX_NOTE = (
    f"complex folded as fair-esm does: chains joined by a {len(LINKER)}-glycine linker with a residue-index "
    "gap of 512 per chain; the linker is not in any output"
)
DESCRIPTIONS = {
    "pdb": "predicted structure, PDB; B-factors = per-atom pLDDT (0-100)",
    "cif": "the same structure as mmCIF, with provenance and pLDDT/pTM as ModelCIF QA metrics",
    "json": "scores: per-residue pLDDT, mean pLDDT, pTM, PAE matrix, per-chain and interface confidence",
    pae_file.FORMAT: pae_file.DESCRIPTION,
    "plddt_plot": "per-residue pLDDT plot (PNG) over the AlphaFold DB confidence bands",
    "pae_plot": "predicted aligned error heatmap (PNG), 0-30 Angstrom",
    **relax_step.DESCRIPTIONS,
}
STRUCTURE = "esmfold"  # the one structure of a fold, as the relax step names it


def provenance(result: FoldResult, weights: WeightsInfo) -> dict[str, str]:
    chunk = "off" if result.chunk_size is None else str(result.chunk_size)
    facts = {
        "model": "ESMFold (transformers EsmForProteinFolding)",
        "weights": weights.name,
        "weights_sha256": weights.sha256,
        "real_weights": "true" if weights.real else "false",
        "num_recycles": f"{result.num_recycles} (trunk passes: {result.trunk_passes})",
        "chunk_size": chunk,
        "confidence": CONFIDENCE_NOTE,
    }
    if len(result.layout.chains) > 1:
        facts["chains"] = ", ".join(f"{cid} ({len(chain)} residues)"
                                    for cid, chain in zip(result.layout.chain_ids, result.layout.chains, strict=True))
        facts["complex"] = COMPLEX_NOTE
    if not weights.real:
        facts["note"] = TINY_NOTE
    return facts


def _chain_slices(result: FoldResult) -> list[tuple[str, str, slice]]:
    """(chain id, sequence, slice of the residue arrays) per chain."""
    out, start = [], 0
    for chain_id, chain in zip(result.layout.chain_ids, result.layout.chains, strict=True):
        out.append((chain_id, chain, slice(start, start + len(chain))))
        start += len(chain)
    return out


# `_software.version` of the mmCIF: the version of the code that ran ESMFold (transformers' EsmForProteinFolding),
# as AlphaFold2's names alphafold-colabfold's. It held the weights' name, which ModelCIF's `_software` is not for;
# the weights (name, sha256) are in `_phonos_provenance`, as in every other file of the fold.
SOFTWARE_VERSION = f"transformers {software.package_version('transformers') or software.UNKNOWN}"


def protein_chains(result: FoldResult) -> list[ProteinChain]:
    return [
        ProteinChain(
            sequence=chain,
            atom_positions=result.atom_positions[part],
            atom_mask=result.atom_mask[part],
            residue_plddt=result.plddt[part].clip(0.0, 100.0),
            chain_id=chain_id,
            atom_plddt=result.atom_plddt[part].clip(0.0, 100.0),
        )
        for chain_id, chain, part in _chain_slices(result)
    ]


def confidence(result: FoldResult, weights: WeightsInfo) -> Confidence:
    """The mmCIF's ModelCIF QA metrics: the JSON's per-residue (CA) pLDDT per chain, so the global pLDDT is
    `mean_plddt_ca` (the JSON's `mean_plddt` weights every atom, as esm-fold reports it), pTM, ipTM for a complex."""
    return Confidence(plddt={chain_id: [round(float(v), 2) for v in result.plddt[part]]
                             for chain_id, _, part in _chain_slices(result)},
                      software="ESMFold", version=SOFTWARE_VERSION, ptm=result.ptm, iptm=result.iptm)


def remarks(result: FoldResult, weights: WeightsInfo) -> list[str]:
    """The provenance every PDB file of the fold carries as REMARK 250 text."""
    lines = [f"{key}: {value}" for key, value in provenance(result, weights).items()]
    if not weights.real:
        lines.insert(0, TINY_WARNING)
    return lines


MMCIF_TITLE = "esmfold_prediction"  # the mmCIF data block name and _entry.id


def title(weights: WeightsInfo, relaxed: bool = False) -> str:
    """The PDB's TITLE and the mmCIF's `_struct.title`: the model and its weights, what a viewer shows on opening
    the file (the REMARKs hold the rest of the provenance)."""
    return (f"ESMFold prediction{', Amber-relaxed' if relaxed else ''}, weights {weights.name}"
            + ("" if weights.real else " (NOT A REAL PREDICTION)"))


def pdb_text(result: FoldResult, weights: WeightsInfo) -> str:
    return to_pdb(protein_chains(result), remarks(result, weights), title=title(weights))


def mmcif_text(result: FoldResult, weights: WeightsInfo) -> str:
    return structure_texts(result, weights)[1]


def structure_texts(result: FoldResult, weights: WeightsInfo) -> tuple[str, str]:
    """(PDB, mmCIF) of the fold, built from one structure."""
    return to_pdb_and_mmcif(protein_chains(result), remarks(result, weights), provenance(result, weights),
                            title(weights), MMCIF_TITLE, confidence(result, weights))


def chain_summaries(result: FoldResult) -> list[dict[str, Any]]:
    """Per chain: `mean_plddt` as the top-level one (the mean over its built atoms, so a one-chain job's equals it)
    and `mean_plddt_ca` (the mean of its per-residue CA values) as the top-level `mean_plddt_ca`."""
    return [
        {"id": chain_id, "length": len(chain), "first_index": part.start,
         "mean_plddt": round(result.chain_mean_plddt(k), 2), "mean_plddt_ca": round(result.chain_mean_plddt_ca(k), 2),
         "ptm": round(result.chain_ptm[k], 4)}
        for k, (chain_id, chain, part) in enumerate(_chain_slices(result))
    ]


def metadata(result: FoldResult, weights: WeightsInfo, instance: ModelInstance) -> dict[str, Any]:
    """The job's provenance and timings (what `GET /v1/jobs/{id}` shows as `metadata`). `timings` is this job's
    time only: the instance's one-time load is `model_instance` (phonos_models.common.instance)."""
    facts: dict[str, Any] = {
        "weights": {"name": weights.name, "sha256": weights.sha256},
        "real_weights": weights.real,
        "num_recycles": result.num_recycles,
        "trunk_passes": result.trunk_passes,
        "chunk_size": result.chunk_size,
        "batch_size": result.batch_size,
        "chains": [{"id": c["id"], "length": c["length"]} for c in chain_summaries(result)],
        "timings": {"fold_s": round(result.fold_s, 4)},
        **instance.metadata(),
    }
    if len(result.layout.chains) > 1:
        facts["complex"] = COMPLEX_NOTE
    unknown = unknown_residues(result.layout.chains)
    if unknown is not None:
        facts["unknown_residues"] = unknown
        facts["warnings"] = [unknown_warning(unknown, "it has no atom template, so the files hold only each one's "
                                                      "CA (the origin of its backbone frame)")]
    if not weights.real:
        facts["note"] = TINY_NOTE
    return facts


def scores(result: FoldResult, weights: WeightsInfo) -> dict[str, Any]:
    """The `json` download: per-residue pLDDT, pTM, PAE, per-chain and interface confidence, what they mean."""
    return {
        "sequence": result.sequence,
        "length": result.layout.residues,
        "plddt": [round(float(v), 2) for v in result.plddt],
        "mean_plddt": round(result.mean_plddt, 2),
        "mean_plddt_ca": round(result.mean_plddt_ca, 2),
        "ptm": round(result.ptm, 4),
        "iptm": None if result.iptm is None else round(result.iptm, 4),
        "chains": chain_summaries(result),
        "chain_pair_iptm": np.round(result.chain_pair_iptm, 4).tolist(),
        "unknown_residues": unknown_residues(result.layout.chains),
        "pae": np.round(result.pae.astype(np.float64), 2).tolist(),
        "weights": {"name": weights.name, "sha256": weights.sha256},
        "real_weights": weights.real,
        "note": JSON_NOTE + ("" if weights.real else f" {TINY_NOTE}."),
    }


def metrics(result: FoldResult) -> dict[str, float | int | str]:
    values: dict[str, float | int | str] = {"mean_plddt": round(result.mean_plddt, 2), "ptm": round(result.ptm, 4)}
    if result.iptm is not None:
        values["iptm"] = round(result.iptm, 4)
        values["num_chains"] = len(result.layout.chains)
    return values


def plot_files(result: FoldResult, weights: WeightsInfo) -> tuple[ResultFile, ResultFile]:
    lengths = [len(chain) for chain in result.layout.chains]
    suffix = "" if weights.real else "\n(tiny random weights: not a real prediction)"
    label = "ESMFold" if len(lengths) == 1 else "ESMFold, chains " + "/".join(result.layout.chain_ids)
    plddt = plots.plddt_png([plots.Series(label, result.plddt)], f"Predicted lDDT per residue{suffix}", lengths)
    pae = plots.pae_png(result.pae, f"Predicted aligned error{suffix}", lengths)
    return bundle.png_file("plddt_plot", "plddt", plddt), bundle.png_file("pae_plot", "pae", pae)


def summary(result: FoldResult, weights: WeightsInfo, relaxed: relax_step.RelaxReport | None = None) -> bundle.Summary:
    rows: list[tuple[str, object]] = [("mean pLDDT (all atoms, as esm-fold reports it)", f"{result.mean_plddt:.2f}"),
                                      ("mean pLDDT (per-residue CA values)", f"{result.mean_plddt_ca:.2f}"),
                                      ("pTM", f"{result.ptm:.4f}")]
    if result.iptm is not None:
        rows.append(("ipTM (heuristic: single-chain head)", f"{result.iptm:.4f}"))
    chains = [(c["id"], c["length"], f"{c['mean_plddt']:.2f}", f"{c['mean_plddt_ca']:.2f}", f"{c['ptm']:.4f}")
              for c in chain_summaries(result)]
    run = [("model", "ESMFold (transformers EsmForProteinFolding)"),
           ("weights", f"{weights.name} (sha256 {weights.sha256[:16]}...)"),
           ("recycles", f"{result.num_recycles} ({result.trunk_passes} trunk passes)"),
           ("chunk size", "off" if result.chunk_size is None else result.chunk_size)]
    if relaxed is not None:
        run.append(("Amber relax", f"{relaxed.scores['status'].replace('_', ' ')} ({relaxed.seconds:.1f} s)"))
        if relaxed.metrics:
            rows += [("clashing heavy-atom pairs, unrelaxed -> relaxed",
                      f"{relaxed.metrics['clashes_unrelaxed']} -> {relaxed.metrics['clashes_relaxed']}"),
                     ("residues with violations, unrelaxed -> relaxed",
                      f"{relaxed.metrics['violations_unrelaxed']} -> {relaxed.metrics['violations_relaxed']}"),
                     ("heavy-atom RMSD relaxed vs unrelaxed (Angstrom)", relaxed.metrics["relax_rmsd"])]
    sections = [
        bundle.Section("Input", (f"`{result.sequence}`", "", *(
            [COMPLEX_NOTE + "."] if len(result.layout.chains) > 1 else []))),
        bundle.Section("Run", bundle.table(("setting", "value"), run)),
        bundle.Section("Confidence", (*bundle.table(("score", "value"), rows), "",
                                      *bundle.table(("chain", "residues", "mean pLDDT (all atoms)",
                                                                    "mean pLDDT (CA)", "pTM"), chains), "",
                                      JSON_NOTE)),
    ]
    if relaxed is not None and relaxed.warnings:
        sections.append(bundle.Section("Warnings", tuple(f"- {warning}" for warning in relaxed.warnings)))
    warning = None if weights.real else TINY_WARNING
    return bundle.Summary("ESMFold prediction", warning, tuple(sections), DESCRIPTIONS)


def relax(result: FoldResult, mode: str, weights: WeightsInfo, settings: RelaxSettings,
          should_stop: ShouldStop = lambda: False, report: Report = ignore,
          started: float | None = None) -> RelaxOutcome | None:
    """Amber-relax the fold's structure unless `mode` is "none" (a fold has one structure: best = all).
    `started`: when the step began waiting for its turn (phonos_models.common.relax.relax_structures)."""
    return relax_step.run(mode, [(STRUCTURE, pdb_text(result, weights))], settings, should_stop, report, started)


def refused_relax(result: FoldResult, mode: str, weights: WeightsInfo) -> RelaxOutcome | None:
    """`relax_step.refused` for this fold: its outcome when the relax cannot take it, None when there is a relax
    to run (or none asked for)."""
    return relax_step.refused(mode, [(STRUCTURE, pdb_text(result, weights))])


def relaxed_files(result: FoldResult, weights: WeightsInfo, outcome: RelaxOutcome) -> list[ResultFile]:
    lines = [*remarks(result, weights), relax_step.note(outcome)]
    facts = {**provenance(result, weights), "relax": relax_step.note(outcome)}
    return relax_step.files([STRUCTURE], outcome,  # one structure: no rank to name
                            pdb=lambda relaxed, _rank: "".join([*title_records(title(weights, relaxed=True)),
                                                                *remark_records(lines)]) + relaxed.pdb,
                            cif=lambda relaxed, _rank: pdb_to_mmcif(relaxed.pdb, facts, confidence(result, weights),
                                                                    title(weights, relaxed=True), name=MMCIF_TITLE))


def model_result(result: FoldResult, weights: WeightsInfo, instance: ModelInstance, relax_mode: str = "none",
                 outcome: RelaxOutcome | None = None) -> ModelResult:
    """Every file of one fold (PDB with per-atom pLDDT in B-factors, mmCIF, scores JSON, AFDB PAE JSON, the relaxed
    structure when there is one, plots, the zip), its metrics and provenance."""
    data, values, facts = scores(result, weights), metrics(result), metadata(result, weights, instance)
    report = None if outcome is None else relax_step.report(relax_mode, outcome, STRUCTURE)
    if report is not None:
        report.add_to(data, values, facts, facts["timings"])
    pdb, mmcif = structure_texts(result, weights)
    files = (
        text_file("pdb", "chemical/x-pdb", pdb),
        text_file("cif", "chemical/x-mmcif", mmcif),
        json_file("json", data),
        # ESMFold always has its pTM head, so every fold has a PAE: written from the scores' own matrix.
        pae_file.pae_file(data["pae"]),
        *([] if outcome is None else relaxed_files(result, weights, outcome)),
        *plot_files(result, weights),
    )
    return ModelResult(
        files=bundle.with_bundle(files, "esmfold", summary(result, weights, report)),
        metrics=values,
        metadata=facts,
    )


def build(result: FoldResult, weights: WeightsInfo, instance: ModelInstance, relax_mode: str = "none",
          outcome: RelaxOutcome | None = None) -> ModelResult:
    """`model_result`, timed into metadata `timings.files_s`: what a result-file worker runs."""
    started = time.perf_counter()
    built = model_result(result, weights, instance, relax_mode, outcome)
    built.metadata["timings"]["files_s"] = round(time.perf_counter() - started, 4)
    return built
