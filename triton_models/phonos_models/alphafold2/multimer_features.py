"""AlphaFold-Multimer inputs: DeepMind's per-chain features, paired and merged, padded to a length bucket.

Each chain gets the monomer pipeline's features (sequence, its own MSA, its templates) and, for a
heteromer, the `_all_seq` block DeepMind pairs across chains by species. Here that block holds only
the chain's query row: user A3Ms and our per-chain searches carry no UniProt pairing information,
so only the queries are paired and every other row stays unpaired, block-diagonal (ColabFold's
`unpaired` mode). DeepMind's `pair_and_merge` then crops each chain's MSA (2,048 rows) and merges
the chains. The multimer model samples cluster centres and extra rows from that raw MSA itself on
every pass (modules_multimer.sample_msa).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from alphafold.common import residue_constants
from alphafold.data import feature_processing, msa_pairing, pipeline, pipeline_multimer

from phonos_models.alphafold2.features import FeatureDict
from phonos_models.alphafold2.msa import Alignment

# What modules_multimer.AlphaFold reads. The fork runs the structure module only when
# `all_atom_positions` is in the batch (zeros: no initial guess).
MODEL_FEATURES = (
    "aatype", "residue_index", "seq_mask", "msa", "msa_mask", "deletion_matrix", "bert_mask",
    "cluster_bias_mask", "asym_id", "sym_id", "entity_id", "template_aatype", "template_all_atom_mask",
    "template_all_atom_positions", "all_atom_positions",
)  # fmt: skip


def _no_templates(length: int) -> FeatureDict:
    """Zero templates; pair_and_merge pads every chain to four masked ones."""
    return {
        "template_all_atom_positions": np.zeros((0, length, residue_constants.atom_type_num, 3), np.float32),
        "template_all_atom_masks": np.zeros((0, length, residue_constants.atom_type_num), np.float32),
        "template_aatype": np.zeros((0, length, len(residue_constants.HHBLITS_AA_TO_ID)), np.float32),
        "template_domain_names": np.zeros((0,), np.object_),
        "template_sum_probs": np.zeros((0, 1), np.float32),
    }


def chain_features(sequence: str, alignment: Alignment, templates: Mapping[str, np.ndarray] | None,
                   heteromer: bool) -> FeatureDict:
    """DeepMind's monomer pipeline output for one chain (+ the query-only `_all_seq` block of a heteromer)."""
    features: FeatureDict = {}
    features.update(pipeline.make_sequence_features(sequence=sequence, description="query", num_res=len(sequence)))
    features.update(pipeline.make_msa_features([alignment.to_msa()]))
    features.update(dict(templates) if templates is not None else _no_templates(len(sequence)))
    if heteromer:
        query_only = pipeline.make_msa_features([Alignment.single(sequence).to_msa()])
        valid = (*msa_pairing.MSA_FEATURES, "msa_species_identifiers")
        features.update({f"{key}_all_seq": value for key, value in query_only.items() if key in valid})
    return features


def _assembly_features(chains: list[FeatureDict]) -> dict[str, FeatureDict]:
    """asym_id / sym_id / entity_id as DeepMind's `add_assembly_features` assigns them, but numbered in
    input order: DeepMind numbers chains after grouping them by sequence ("A:B:A" → A, A, B). The
    merge still groups a homomer's copies (msa_pairing merges them densely); asym_id then says which
    input chain each residue came from, and the runner puts the outputs back in input order.
    """
    entity_of: dict[str, int] = {}
    copies: dict[int, int] = {}
    out: dict[str, FeatureDict] = {}
    for asym_id, features in enumerate(chains, start=1):
        entity = entity_of.setdefault(str(features["sequence"]), len(entity_of) + 1)
        copies[entity] = copies.get(entity, 0) + 1
        length = int(features["seq_length"])
        features["asym_id"] = np.full(length, asym_id, np.float64)
        features["sym_id"] = np.full(length, copies[entity], np.float64)
        features["entity_id"] = np.full(length, entity, np.float64)
        out[f"{pipeline_multimer.int_id_to_str_id(entity)}_{copies[entity]}"] = features
    return out


def assemble(per_chain: Sequence[Mapping[str, np.ndarray]]) -> FeatureDict:
    """The merged complex: DeepMind's convert_monomer_features → assembly features → pair_and_merge."""
    converted = [pipeline_multimer.convert_monomer_features(dict(features), chain_id=str(index))
                 for index, features in enumerate(per_chain)]
    return feature_processing.pair_and_merge(_assembly_features(converted))


def pad(example: Mapping[str, np.ndarray], bucket: int, msa_rows: int) -> FeatureDict:
    """The model's batch: residues padded to `bucket`, MSA rows to `msa_rows`, float32/int32 arrays.

    Padded residues have entity 0 and zero masks (DeepMind's padding convention: seq_mask comes
    from entity_id > 0); padded MSA rows are masked and sampled last (pipeline_multimer.pad_msa).
    """
    rows = pipeline_multimer.pad_msa(dict(example), msa_rows)
    length = int(rows["aatype"].shape[0])
    batch: FeatureDict = {}
    for key in MODEL_FEATURES:
        value = np.asarray(rows[key])
        axis = 1 if key.startswith("template_") or key in ("msa", "msa_mask", "deletion_matrix", "bert_mask") else 0
        if key != "cluster_bias_mask":
            widths = [(0, 0)] * value.ndim
            widths[axis] = (0, bucket - length)
            value = np.pad(value, widths)
        # Chain ids are integers (DeepMind's pipeline leaves them float64; the model one-hots sym_id).
        integral = value.dtype.kind != "f" or key in ("asym_id", "sym_id", "entity_id")
        batch[key] = value.astype(np.int32 if integral else np.float32)
    return batch
