"""What the Triton adapter calls: text in, the job's result files out (phonos_models.common.result_files).

Kept out of `model.py` so everything except `pb_utils` runs in plain tests.

Files, always: `pdb` (rank 1, the default download), `cif`, `json` (scores), `a3m`, `timings`, the
plots (`plddt_plot`, `coverage_plot`, and `pae_plot` where the model has a PAE head) and `zip`.
With more than one model: `rank_N_pdb` for ranks 2..N. With `relax`: `relaxed_pdb` + `relaxed_cif`
(rank 1), and for `relax: all` `rank_N_relaxed_pdb`. A relax that times out or fails leaves the
relaxed files out; the scores and metadata say why (the unrelaxed files are always there).
"""

from __future__ import annotations

import json
from typing import Any

from phonos_config.relax import RelaxSettings
from phonos_models.alphafold2 import outputs
from phonos_models.alphafold2 import report as bundle_report
from phonos_models.alphafold2.pipeline import Engine, Prediction, Request
from phonos_models.alphafold2.runner import ShouldStop
from phonos_models.common import relax as amber
from phonos_models.common.progress import Progress, Report, ignore
from phonos_models.common.result_files import ModelResult, ResultFile, json_file, text_file
from phonos_models.common.structure import pdb_to_mmcif

PDB, CIF = "chemical/x-pdb", "chemical/x-mmcif"


def _provenance(prediction: Prediction) -> outputs.Provenance:
    request = prediction.request
    return outputs.Provenance(weights=prediction.weights_label(), real_weights=prediction.real_weights,
                              preset=request.model_preset, msa_mode=request.msa_mode, msa_depth=prediction.msa_depth)


def _rank_name(rank: int, suffix: str) -> tuple[str, str, str]:
    """(format, media type, extension) of a per-rank structure file; rank 1 keeps the plain names."""
    if rank == 1:
        return suffix.replace(".", "_"), PDB, suffix
    return f"rank_{rank}_{suffix.replace('.', '_')}", PDB, f"rank_{rank}.{suffix}"


def _relax(prediction: Prediction, pdbs: list[str], settings: RelaxSettings, should_stop: ShouldStop,
           report: Report) -> amber.RelaxOutcome | None:
    mode = prediction.request.relax
    if mode == "none":
        return None
    chosen = prediction.ranked if mode == "all" else prediction.ranked[:1]
    report(Progress("relax", 0, len(chosen), f"Amber relax of {len(chosen)} structure{'s' * (len(chosen) > 1)}"))
    outcome = amber.relax_structures([(out.model_name, pdb) for out, pdb in zip(chosen, pdbs, strict=False)],
                                     settings, should_stop)
    report(Progress("relax", len(outcome.relaxed), len(chosen), f"Amber relax {outcome.status.replace('_', ' ')}"))
    return outcome


def _relaxed_files(prediction: Prediction, outcome: amber.RelaxOutcome, provenance: outputs.Provenance) -> list[ResultFile]:
    lines = [*provenance.lines(), f"Amber-relaxed ({outcome.metadata()['method']}, OpenMM {outcome.openmm_version}, "
             f"{outcome.platform}); hydrogens added"]
    files: list[ResultFile] = []
    for rank, out in enumerate(prediction.ranked, start=1):
        relaxed = outcome.relaxed.get(out.model_name)
        if relaxed is None:
            continue
        pdb_format, media_type, extension = _rank_name(rank, "relaxed.pdb")
        files.append(text_file(pdb_format, media_type, outputs.pdb_remarks(lines) + relaxed.pdb, extension))
        if rank == 1:
            cif = outputs.with_cif_comments(pdb_to_mmcif(relaxed.pdb, {}), lines)
            files.append(text_file("relaxed_cif", CIF, cif, extension="relaxed.cif"))
    return files


def _relax_report(prediction: Prediction, outcome: amber.RelaxOutcome) -> tuple[dict[str, Any], dict[str, Any]]:
    """(scores["relax"], metadata["relax"])."""
    mode = prediction.request.relax
    per_model = {name: relaxed.scores() for name, relaxed in outcome.relaxed.items()}
    scores: dict[str, Any] = {"mode": mode, "status": outcome.status, "models": per_model}
    metadata = {"mode": mode, **outcome.metadata()}
    if outcome.message:
        scores["message"] = outcome.message
    return scores, metadata


def result(prediction: Prediction, relax_settings: RelaxSettings | None = None,
           should_stop: ShouldStop = lambda: False, report: Report = ignore) -> ModelResult:
    """Ranked structures (PDB, mmCIF), ColabFold-style scores, the MSA the models saw, timings, relax,
    the plots and the zip of them all."""
    layout = prediction.layout
    provenance = _provenance(prediction)
    pdbs = [outputs.to_pdb(layout, out, provenance) for out in prediction.ranked]
    outcome = _relax(prediction, pdbs, relax_settings or RelaxSettings(), should_stop, report)
    best = prediction.ranked[0]
    scores = outputs.scores(layout, prediction.ranked, provenance)
    metadata = prediction.metadata()
    timings = dict(metadata.get("timings", {}))
    metrics: dict[str, float | int | str] = {"mean_plddt": round(float(scores["mean_plddt"]), 2)}
    for key in ("ptm", "iptm"):
        if key in scores:
            metrics[key] = round(float(scores[key]), 4)
    files = [
        text_file("pdb", PDB, pdbs[0]),
        text_file("cif", CIF, outputs.to_mmcif(layout, best, provenance, file_id="phonos_alphafold2")),
    ]
    extra = []
    for rank, pdb in enumerate(pdbs[1:], start=2):
        rank_format, media_type, extension = _rank_name(rank, "pdb")
        extra.append(text_file(rank_format, media_type, pdb, extension))
    if outcome is not None:
        scores["relax"], metadata["relax"] = _relax_report(prediction, outcome)
        timings["relax"] = round(outcome.seconds, 3)
        timings["total"] = round(float(timings.get("total", 0.0)) + outcome.seconds, 3)
        if outcome.message:
            metadata["warnings"] = [outcome.message]
        top = outcome.relaxed.get(best.model_name)
        if top is not None:
            metrics.update(clashes_unrelaxed=top.clashes_before, clashes_relaxed=top.clashes_after,
                           relax_rmsd=round(top.rmsd, 3))
        extra += _relaxed_files(prediction, outcome, provenance)
    metadata["timings"] = timings
    return ModelResult(
        files=bundle_report.with_plots_and_bundle(prediction, (
            *files,
            text_file("json", "application/json", json.dumps(scores, separators=(",", ":"))),
            text_file("a3m", "text/plain", prediction.a3m_text()),
            json_file("timings", timings),
            *extra,
        )),
        metrics=metrics,
        metadata=metadata,
    )


def handle(engine: Engine, sequence: str, request_json: str, should_stop: ShouldStop,
           report: Report = ignore) -> ModelResult:
    request = Request.from_json(sequence, request_json)
    prediction = engine.predict(request, should_stop=should_stop, report=report)
    return result(prediction, engine.settings.relax, should_stop, report)
