"""What the Triton adapter calls: text in, the job's result files out (phonos_models.common.result_files).

Kept out of `model.py` so everything except `pb_utils` runs in plain tests.
"""

from __future__ import annotations

import json

from phonos_models.alphafold2 import outputs
from phonos_models.alphafold2.pipeline import Engine, Prediction, Request
from phonos_models.alphafold2.runner import ShouldStop
from phonos_models.common.progress import Report, ignore
from phonos_models.common.result_files import ModelResult, json_file, text_file


def result(prediction: Prediction) -> ModelResult:
    """Ranked structure (PDB, mmCIF), ColabFold-style scores, the MSA the models saw, timings."""
    request = prediction.request
    provenance = outputs.Provenance(
        weights=prediction.weights_label(),
        real_weights=prediction.real_weights,
        preset=request.model_preset,
        msa_mode=request.msa_mode,
        msa_depth=prediction.alignment.depth,
    )
    best = prediction.ranked[0]
    scores = outputs.scores(request.sequence, prediction.ranked, provenance)
    metadata = prediction.metadata()
    metrics: dict[str, float | int | str] = {"mean_plddt": round(float(scores["mean_plddt"]), 2)}
    if "ptm" in scores:
        metrics["ptm"] = round(float(scores["ptm"]), 4)
    return ModelResult(
        files=(
            text_file("pdb", "chemical/x-pdb", outputs.to_pdb(request.sequence, best, provenance)),
            text_file("cif", "chemical/x-mmcif", outputs.to_mmcif(request.sequence, best, provenance,
                                                                  file_id="phonos_alphafold2")),
            text_file("json", "application/json", json.dumps(scores, separators=(",", ":"))),
            text_file("a3m", "text/plain", prediction.alignment.to_a3m()),
            json_file("timings", metadata.get("timings", {})),
        ),
        metrics=metrics,
        metadata=metadata,
    )


def handle(engine: Engine, sequence: str, request_json: str, should_stop: ShouldStop,
           report: Report = ignore) -> ModelResult:
    request = Request.from_json(sequence, request_json)
    return result(engine.predict(request, should_stop=should_stop, report=report))
