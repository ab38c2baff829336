"""Model inputs: DeepMind's feature pipeline, padded to a length bucket.

`alphafold.model.features.np_example_to_features` crops to the true length, so
every new length would compile a new XLA program. Here the same pipeline runs
with `crop_size` set to the bucket: DeepMind's own `make_fixed_size` then pads
residues (and the MSA to the configured depth) with masked entries, exactly as
ColabFold's `pad_input` does.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import ml_collections
import numpy as np
from alphafold.common import residue_constants
from alphafold.data import pipeline
from alphafold.model.tf import input_pipeline, proteins_dataset, shape_placeholders
from alphafold.model.tf import np_backend as tf

from phonos_models.alphafold2.architecture import MsaSizing
from phonos_models.alphafold2.msa import Alignment

FeatureDict = dict[str, np.ndarray]


def bucket_for(length: int, buckets: tuple[int, ...]) -> int:
    """The smallest bucket that holds `length` residues."""
    for bucket in buckets:
        if length <= bucket:
            return bucket
    raise ValueError(f"{length} residues exceed the largest length bucket {buckets[-1]}")


def _empty_templates(length: int) -> FeatureDict:
    """One all-gap template with zero mask: the 'no templates' input models 1–2 accept."""
    return {
        "template_all_atom_positions": np.zeros((1, length, residue_constants.atom_type_num, 3), np.float32),
        "template_all_atom_masks": np.zeros((1, length, residue_constants.atom_type_num), np.float32),
        "template_aatype": np.array([residue_constants.sequence_to_onehot("-" * length, residue_constants.HHBLITS_AA_TO_ID)], np.int32),
        "template_domain_names": np.array([b"none"], dtype=np.object_),
        "template_sum_probs": np.zeros((1, 1), np.float32),
    }


def raw_features(query: str, alignment: Alignment, templates: Mapping[str, np.ndarray] | None = None) -> FeatureDict:
    """DeepMind's data-pipeline output for one chain (sequence + MSA + templates)."""
    features: FeatureDict = {}
    features.update(pipeline.make_sequence_features(sequence=query, description="query", num_res=len(query)))
    features.update(pipeline.make_msa_features([alignment.to_msa()]))
    features.update(dict(templates) if templates is not None else _empty_templates(len(query)))
    return features


def process(raw: Mapping[str, np.ndarray], cfg: ml_collections.ConfigDict, bucket: int, random_seed: int) -> FeatureDict:
    """Model-ready features: [(num_recycles + 1) * num_ensemble, ...] with residues padded to `bucket`."""
    data_cfg = copy.deepcopy(cfg.data)
    data_cfg.eval.crop_size = bucket
    names = list(data_cfg.common.unsupervised_features)
    if data_cfg.common.use_templates:
        names += list(data_cfg.common.template_features)
    example = dict(raw)
    if "deletion_matrix_int" in example:
        example["deletion_matrix"] = example.pop("deletion_matrix_int").astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.set_random_seed(random_seed)
        tensors = proteins_dataset.np_to_tensor_dict(np_example=example, features=names)
        processed = input_pipeline.process_tensors_from_config(tensors, data_cfg)
    graph.finalize()
    with tf.Session(graph=graph) as session:
        out = session.run(processed)
    return {key: value for key, value in out.items() if value.dtype != "O"}


def pad_msa_rows(processed: Mapping[str, np.ndarray], cfg: ml_collections.ConfigDict,
                 sizing: MsaSizing) -> FeatureDict:
    """Pad the MSA and extra-MSA row axes with masked zero rows up to `sizing`'s padded sizes.

    DeepMind's pipeline pads each stack to exactly the rows it sampled; padding further to the
    depth's bucket keeps one compiled program per bucket. Zero rows carry a zero mask, exactly like
    the pipeline's own padding, so the prediction does not change.
    """
    schema = cfg.data.eval.feat
    targets = {shape_placeholders.NUM_MSA_SEQ: sizing.padded_clusters,
               shape_placeholders.NUM_EXTRA_SEQ: sizing.padded_extra}
    out: FeatureDict = {}
    for key, value in processed.items():
        widths = [(0, 0)] * value.ndim
        for axis, placeholder in enumerate(schema.get(key, ()), start=1):  # axis 0: recycles × ensemble
            if placeholder in targets:
                widths[axis] = (0, targets[placeholder] - value.shape[axis])
        out[key] = np.pad(value, widths) if any(after for _, after in widths) else value
    return out


def recycle_slice(features: Mapping[str, np.ndarray], recycle: int, num_ensemble: int) -> FeatureDict:
    """The inputs of one recycling pass (DeepMind resamples the MSA for every pass)."""
    start = recycle * num_ensemble
    return {key: value[start:start + num_ensemble] for key, value in features.items()}
