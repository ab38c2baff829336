"""Our runner against the fork's `RunModel.predict()` (what colabfold_batch runs) on the same weights and
features: the same computation once ColabFold's float16 recycle state is reproduced."""

from __future__ import annotations

import numpy as np
import pytest
from af2_helpers import COMPILE_CACHE, QUERY
from alphafold.model.model import RunModel
from phonos_models.alphafold2 import architecture
from phonos_models.alphafold2 import features as feats
from phonos_models.alphafold2 import weights as w
from phonos_models.alphafold2.colabfold_reference import run_with_float16_state
from phonos_models.alphafold2.msa import Alignment
from phonos_models.alphafold2.runner import CompiledModel, configure_compile_cache

pytestmark = pytest.mark.integration

BUCKET = 16  # its own small bucket: this architecture is compiled only here
MODEL = "model_3_ptm"


def test_our_runner_is_colabfolds_computation_up_to_the_float16_recycle_state() -> None:
    configure_compile_cache(COMPILE_CACHE)
    query = QUERY[:14]
    cfg = architecture.build_config(MODEL, "monomer_ptm", tiny=True, use_templates=False, num_recycles=2)
    # RunModel.predict() builds its recycle buffers with 256 / 128 channels.
    cfg.model.embeddings_and_evoformer.msa_channel = 256
    cfg.model.embeddings_and_evoformer.pair_channel = 128
    alignment = Alignment.single(query)
    sizing = architecture.size_msa(cfg, "monomer_ptm", alignment.depth, 512, tiny=True)
    ours = CompiledModel(cfg)
    shapes = ours.param_shapes()
    params = w.select_expected(w.from_deepmind_layout(w.random_deepmind_params(shapes, seed=3)), shapes, "random")
    processed = feats.pad_msa_rows(feats.process(feats.raw_features(query, alignment), cfg, BUCKET, 0), cfg, sizing)

    colabfold = RunModel(cfg, params, extended_ptm_config={"calc_extended_ptm": True, "use_probs_extended": False})
    theirs, recycles = colabfold.predict(dict(processed), random_seed=0)
    assert recycles == 2
    theirs_ca = np.asarray(theirs["structure_module"]["final_atom_positions"][:14, 1], np.float32)

    rounded = run_with_float16_state(ours, params, processed, 2, seed=0)
    assert np.array_equal(np.asarray(rounded["structure_module"]["final_atom_positions"][:14, 1], np.float32), theirs_ca)
    # phonos serves the same loop with a float32 state; what that changes is measured by
    # bench/alphafold2_recycle_precision.py (docs/alphafold2.md, "Fidelity to the upstream code").
