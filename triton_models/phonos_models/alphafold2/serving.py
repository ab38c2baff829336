"""What the Triton adapter calls: text in, the job's result files out (phonos_models.common.result_files).

Kept out of `model.py` so everything except `pb_utils` runs in plain tests.

Files, always: `pdb` (rank 1, the default download), `cif`, `json` (scores), `a3m`, `timings`, the
plots (`plddt_plot`, `coverage_plot`, and `pae_plot` where the model has a PAE head) and `zip`.
Where the model has a PAE head (monomer_ptm, multimer): `pae`, the scores' PAE matrix as the AlphaFold
Database's JSON (phonos_models.common.pae_file), right after `timings`.
With more than one model: `rank_N_pdb` for ranks 2..N. With `relax`: `relaxed_pdb` + `relaxed_cif`
(rank 1), and for `relax: all` `rank_N_relaxed_pdb`. A relax that times out or fails leaves the
relaxed files out; the scores and metadata say why (the unrelaxed files are always there).
"""

from __future__ import annotations

import json

from phonos_config.relax import RelaxSettings
from phonos_models.alphafold2 import architecture, outputs
from phonos_models.alphafold2 import report as bundle_report
from phonos_models.alphafold2.pipeline import Engine, Prediction, Request
from phonos_models.common import pae_file, relax_step
from phonos_models.common import relax as amber
from phonos_models.common.progress import Report, ShouldStop, ignore
from phonos_models.common.qa_metrics import Confidence
from phonos_models.common.result_files import ModelResult, ResultFile, json_file, text_file
from phonos_models.common.structure import pdb_to_mmcif

PDB, CIF = "chemical/x-pdb", "chemical/x-mmcif"


def _provenance(prediction: Prediction) -> outputs.Provenance:
    request = prediction.request
    return outputs.Provenance(weights=prediction.weights_label(), real_weights=prediction.real_weights,
                              preset=request.model_preset, msa_mode=request.msa_mode, msa_depth=prediction.msa_depth,
                              databases=prediction.databases_label(), templates=prediction.templates_label())


def relaxed_files(ranked: list[str], outcome: amber.RelaxOutcome, provenance: outputs.Provenance,
                  confidence: dict[str, Confidence] | None = None) -> list[ResultFile]:
    """The relaxed structures of the models `ranked` (best first), each naming its rank and model; `confidence`
    (by model name) goes into the mmCIF as ModelCIF QA metrics."""
    quality = confidence or {}

    def lines(relaxed: amber.RelaxedStructure, rank: int) -> list[str]:
        return [*provenance.lines(), relax_step.note(outcome), outputs.ranked_model_line(rank, relaxed.name)]

    return relax_step.files(
        ranked, outcome,
        pdb=lambda relaxed, rank: outputs.pdb_remarks(lines(relaxed, rank),
                                                      provenance.title(rank, relaxed.name, relaxed=True)) + relaxed.pdb,
        cif=lambda relaxed, rank: outputs.with_cif_comments(
            pdb_to_mmcif(relaxed.pdb, {}, quality.get(relaxed.name), provenance.title(rank, relaxed.name, relaxed=True),
                         name=outputs.MMCIF_ID.upper()),  # as DeepMind's writer names the unrelaxed file's block
            lines(relaxed, rank)))


def result(prediction: Prediction, relax_settings: RelaxSettings | None = None,
           should_stop: ShouldStop = lambda: False, report: Report = ignore) -> ModelResult:
    """Ranked structures (PDB, mmCIF), ColabFold-style scores, the MSA the models saw, timings, relax,
    the plots and the zip of them all."""
    layout = prediction.layout
    provenance = _provenance(prediction)
    pdbs = [outputs.to_pdb(layout, out, provenance, rank) for rank, out in enumerate(prediction.ranked, start=1)]
    outcome = relax_step.run(prediction.request.relax, [(out.model_name, pdb) for out, pdb in
                                                        zip(prediction.ranked, pdbs, strict=True)],
                             relax_settings or RelaxSettings(), should_stop, report)
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
        text_file("cif", CIF, outputs.to_mmcif(layout, best, provenance, file_id=outputs.MMCIF_ID)),
    ]
    extra = []
    for rank, pdb in enumerate(pdbs[1:], start=2):
        extra.append(text_file(f"rank_{rank}_pdb", PDB, pdb, extension=f"rank_{rank}.pdb"))
    if outcome is not None:
        relax_step.report(prediction.request.relax, outcome, best.model_name).add_to(scores, metrics, metadata, timings)
        if "errors" in metadata["relax"]:  # per structure, in the order they were relaxed (the ranking's)
            metadata["relax"]["errors"] = architecture.in_model_order(metadata["relax"]["errors"])
        timings["total"] = round(float(timings.get("total", 0.0)) + outcome.seconds, 3)
        extra += relaxed_files([out.model_name for out in prediction.ranked], outcome, provenance,
                               {out.model_name: outputs.confidence(layout, out) for out in prediction.ranked})
    metadata["timings"] = timings
    return ModelResult(
        files=bundle_report.with_plots_and_bundle(prediction, (
            *files,
            text_file("json", "application/json", json.dumps(scores, separators=(",", ":"))),
            text_file("a3m", "text/plain", prediction.a3m_text()),
            json_file("timings", timings),
            # From the scores' own (rounded) matrix, so the two downloads agree; only presets with a PAE head.
            *([pae_file.pae_file(scores["pae"])] if "pae" in scores else []),
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
