"""One docking request end to end: PDB text + SMILES → ranked poses and result files.

Layered as tensors → structures → files: `ligand`/`receptor`/`esm_embedding` featurise, `sampling`
runs the reverse diffusion on the networks from `build`, `outputs` writes the files. This module owns
loading the weights once per process and recording which weights produced each result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from phonos_config.diffdock import (
    DEFAULT_INFERENCE_STEPS,
    DEFAULT_SAMPLES,
    MAX_INFERENCE_STEPS,
    MAX_SEED,
    MIN_INFERENCE_STEPS,
    DiffDockSettings,
)
from phonos_config.json_text import json_value_text

from ..common import software
from ..common.errors import BadInput
from ..common.instance import ModelInstance
from ..common.progress import Report, ignore
from ..common.requests import request_fields
from ..common.weights import TINY_NOTE, WeightsInfo
from . import build, ligand, outputs, receptor, so3
from .embed_worker import EmbedWorker
from .esm_embedding import EsmEmbedder, TinyEsmShape, embed_stoppable
from .hyperparams import Hyperparams, describe
from .pocket import Pocket, PocketRequest, parse_pocket, resolve
from .sampling import SamplingOptions, sample

TINY_ESM_WIDTH = 32  # the tiny random ESM-2 and tiny score/confidence models agree on this width
# Checkpoint file names of the official release (notes §1); any single *.pt is accepted otherwise.
SCORE_CHECKPOINT = "best_ema_inference_epoch_model.pt"
CONFIDENCE_CHECKPOINT = "best_model_epoch75.pt"


@dataclass(frozen=True)
class DockingRequest:
    protein_pdb: str  # PDB text
    ligand_smiles: str
    inference_steps: int = 20  # time-grid length; inference_steps − 1 steps run (reference default 20 → 19)
    samples_per_complex: int = 10
    random_seed: int = 0
    pocket: PocketRequest | None = None  # None: blind docking (the default)


@dataclass(frozen=True)
class DockingOutput:
    complex_pdb: str  # receptor + rank-1 ligand (HETATM LIG)
    poses_sdf: str  # all poses, best first, with rank/confidence properties
    result_json: str  # per-pose confidence, meaning of the numbers, timings, weights
    metadata: dict[str, Any]  # weights, timings (s), real_prediction, note
    ranked_confidence: list[float | None]  # confidence logits, best first


@dataclass(frozen=True)
class LoadedModel:
    module: nn.Module
    hp: Hyperparams
    weights: WeightsInfo


def _checkpoint(directory: Path, preferred: str) -> Path:
    if (directory / preferred).is_file():
        return directory / preferred
    candidates = sorted(directory.glob("*.pt"))
    if len(candidates) != 1:
        raise FileNotFoundError(f"{directory}: expected {preferred} or exactly one *.pt, found {len(candidates)}")
    return candidates[0]


def _load_dir(directory: Path, kind: str, preferred: str, device: str) -> LoadedModel:
    hp = build.load_hyperparams(directory / "model_parameters.yml", kind=kind)  # type: ignore[arg-type]
    module = build.build_model(hp)
    path = _checkpoint(directory, preferred)
    build.load_checkpoint(module, path)
    weights = WeightsInfo(name=f"{directory.parent.name}/{directory.name}", sha256=build.state_dict_sha256(module), real=True)
    return LoadedModel(module.to(device).eval(), hp, weights)


def _tiny(kind: str, width: int, seed: int, device: str) -> LoadedModel:
    hp = build.tiny_hyperparams(kind, lm_embedding_dim=width)  # type: ignore[arg-type]
    module = build.build_model(hp, seed=seed)
    name = f"diffdock-{kind}-tiny-random-seed{seed}"
    return LoadedModel(module.to(device).eval(), hp, WeightsInfo(name=name, sha256=build.state_dict_sha256(module), real=False))


class ResidueEmbedder(Protocol):
    """Per-residue ESM-2 embeddings: in-process (`EsmEmbedder`) or another Triton model."""

    @property
    def weights(self) -> WeightsInfo: ...

    def embed_residues(self, chain_ids: tuple[str, ...], sequences: dict[str, str]) -> torch.Tensor: ...


def score_embedding_width(settings: DiffDockSettings) -> int:
    """The ESM width the configured score model expects (tiny random ESM-2s are built at this width)."""
    if settings.weights_dir is None:
        return TINY_ESM_WIDTH
    hp = build.load_hyperparams(settings.weights_dir / "score_model" / "model_parameters.yml", kind="score")
    return hp.lm_embedding_dim or TINY_ESM_WIDTH


def local_esm(settings: DiffDockSettings) -> EsmEmbedder:
    """ESM-2 from PHONOS_DIFFDOCK_ESM_DIR, else a seeded tiny random one at the score model's width."""
    if settings.esm_dir is not None:
        esm = EsmEmbedder.from_dir(settings.esm_dir)
    else:
        esm = EsmEmbedder.tiny_random(TinyEsmShape(hidden_size=score_embedding_width(settings), seed=settings.tiny_seed))
    esm.model.to(settings.device)
    return esm


class DiffDockPipeline:
    """Holds the three networks; `dock()` serves one request. Build once per process."""

    def __init__(
        self, score: LoadedModel, confidence: LoadedModel, esm: ResidueEmbedder, settings: DiffDockSettings,
        load_s: float = 0.0,
    ) -> None:
        started = time.perf_counter()
        if isinstance(esm, EsmEmbedder) and score.hp.lm_embedding_dim and esm.dim != score.hp.lm_embedding_dim:
            raise ValueError(f"ESM width {esm.dim} does not match the score model's {score.hp.lm_embedding_dim}")
        self.score = score
        # The reference builds the confidence graphs with the score model's kNN flag (pitfall 7);
        # a network reads its graph settings from its own `hp`, so set them on the module.
        module = build.use_graph_mode_of(confidence.module, score.hp)
        self.confidence = LoadedModel(module, module.hp, confidence.weights)  # type: ignore[arg-type]
        self.esm = esm
        self.settings = settings
        # A cancellable request's ligand is embedded in this child process, which a cancel kills (embed_worker)
        self.embed_worker = EmbedWorker()
        so3.tables()  # ~1 s of table building at start-up rather than in the first request
        # `load_s`: building/reading the networks (from_settings); the tables above count too. Once per instance,
        # so metadata `model_instance`, never a job's `timings`.
        self.instance = ModelInstance(load_s=load_s + time.perf_counter() - started,
                                      software=software.versions(software.DIFFDOCK))

    @classmethod
    def from_settings(cls, settings: DiffDockSettings, esm: ResidueEmbedder | None = None) -> DiffDockPipeline:
        """`esm=None`: embed in this process (`local_esm`); else e.g. the Triton `esm2` model."""
        device = settings.device
        started = time.perf_counter()
        if settings.weights_dir is None:
            score = _tiny("score", TINY_ESM_WIDTH, settings.tiny_seed, device)
            confidence = _tiny("confidence", TINY_ESM_WIDTH, settings.tiny_seed + 1, device)
        else:
            score = _load_dir(settings.weights_dir / "score_model", "score", SCORE_CHECKPOINT, device)
            confidence = _load_dir(settings.weights_dir / "confidence_model", "confidence", CONFIDENCE_CHECKPOINT, device)
        embedder = esm if esm is not None else local_esm(settings)
        return cls(score, confidence, embedder, settings, load_s=time.perf_counter() - started)

    @property
    def real(self) -> bool:
        return self.score.weights.real and self.confidence.weights.real and self.esm.weights.real

    def close(self) -> None:
        """Stop the ligand embedding process (if one was started)."""
        self.embed_worker.close()

    def weights_json(self) -> dict[str, Any]:
        return {
            "score_model": self.score.weights.as_json() | {"class": self.score.hp.model_class},
            "confidence_model": self.confidence.weights.as_json() | {"class": self.confidence.hp.model_class},
            "esm": self.esm.weights.as_json(),
        }

    def describe(self) -> dict[str, Any]:
        return {"score": describe(self.score.hp), "confidence": describe(self.confidence.hp)}

    def dock(self, request: DockingRequest, should_stop: Callable[[], bool] | None = None,
             report: Report = ignore) -> DockingOutput:
        """Raises ligand.LigandError / receptor.ReceptorError for unusable input, Cancelled when stopped."""
        t0 = time.perf_counter()
        rec = receptor.featurize(request.protein_pdb)
        receptor_info = {"residues": rec.num_residues, "chains": sorted(rec.esm_sequences),
                         "center": [round(float(c), 3) for c in rec.center],  # the whole receptor, mean CA
                         "preparation": rec.preparation.as_json()}  # what reading the file changed
        pocket = (resolve(rec.structure, request.pocket, rec.preparation.renamed_chains)
                  if request.pocket is not None else None)
        lig = ligand.featurize(request.ligand_smiles, seed=request.random_seed,
                               embed_budget_s=self.settings.ligand_embed_s, should_stop=should_stop,
                               worker=self.embed_worker if should_stop is not None else None)
        t_feat = time.perf_counter()
        # The receptor's ESM-2 embedding is seconds per chain of a long receptor on a CPU and has no check of its
        # own (one call per chain, possibly another Triton model's): a job stopped meanwhile stops before the next.
        esm = embed_stoppable(self.esm.embed_residues, rec.chain_ids, rec.esm_sequences, 0, should_stop)
        if self.score.hp.lm_embedding_dim and esm.shape[1] != self.score.hp.lm_embedding_dim:
            raise ValueError(f"ESM embeddings are {esm.shape[1]}-d; the score model expects {self.score.hp.lm_embedding_dim}")
        if pocket is not None:  # embed whole chains, then keep the pocket's residues (pocket.py)
            esm = esm[torch.from_numpy(pocket.keep)]
            rec = receptor.restrict(rec, pocket.keep, pocket.center)
        t_esm = time.perf_counter()
        options = SamplingOptions(
            inference_steps=request.inference_steps,
            samples_per_complex=request.samples_per_complex,
            batch_size=self.settings.batch_size,
            random_seed=request.random_seed,
            pocket_radius=pocket.radius if pocket is not None else None,
        )
        result = sample(
            lig, rec, esm, self.score.module, self.score.hp, options,
            confidence_model=self.confidence.module, confidence_hp=self.confidence.hp,
            device=self.settings.device, should_stop=should_stop, report=report,
        )  # fmt: skip
        t_sample = time.perf_counter()
        order = result.ranking()
        confidence = result.confidence.tolist() if result.confidence is not None else None
        frame = result.positions.double().numpy() + rec.center[None, None, :]
        poses = outputs.rank_poses(frame, confidence, order)
        if pocket is not None:
            assert result.initial_centroids is not None
            starts = result.initial_centroids.double().numpy() + rec.center[None, :]
            poses = outputs.with_pocket_distances(poses, pocket.center, starts)
        note = None if self.real else TINY_NOTE
        provenance = {
            "score_weights": self.score.weights.short,
            "confidence_weights": self.confidence.weights.short,
            "esm_weights": self.esm.weights.short,
        } | ({"note": note} if note else {})
        remarks = [
            "PHONOS DIFFDOCK: receptor + rank-1 ligand pose",
            f"rank-1 confidence {poses[0].confidence:.3f} ({outputs.confidence_band(poses[0].confidence)})"
            if poses[0].confidence is not None else "no confidence model",
            f"score weights {self.score.weights.short}",
            f"confidence weights {self.confidence.weights.short}",
            f"esm weights {self.esm.weights.short}",
        ] + (["NOT A REAL PREDICTION: tiny randomly initialised weights"] if note else [])  # fmt: skip
        if pocket is not None:
            remarks.insert(2, _pocket_remark(pocket))
        # The model and its weights in the TITLE too: what a viewer shows when the complex is opened.
        title = (f"DiffDock receptor + rank-1 ligand pose, score weights {self.score.weights.name}, confidence "
                 f"weights {self.confidence.weights.name}" + (" (NOT A REAL PREDICTION)" if note else ""))
        ligand_residue = outputs.ligand_residue(rec)
        complex_pdb = outputs.complex_pdb(rec, lig.mol, poses[0], remarks, title, ligand_residue)
        sdf = outputs.poses_sdf(lig.mol, poses, provenance, request.ligand_smiles.strip())
        t_out = time.perf_counter()
        timings = {
            "featurisation": t_feat - t0,
            "esm": t_esm - t_feat,
            "score_steps": result.timings["score_steps"],
            "confidence": result.timings["confidence"],
            "outputs": t_out - t_sample,
            "total": t_out - t0,
        }
        sampling_info = {
            "inference_steps": request.inference_steps,
            "steps_run": options.steps_run,
            "samples_per_complex": request.samples_per_complex,
            "random_seed": request.random_seed,
            "nan_batches": result.nan_batches,
        }
        summary = outputs.summary_json(
            poses,
            timings_s=timings,
            weights=self.weights_json(),
            real_prediction=self.real,
            note=note,
            ligand={"smiles": request.ligand_smiles.strip(), "heavy_atoms": lig.num_atoms,
                    "rotatable_bonds": lig.num_torsions, "random_conformer_fallback": lig.used_random_coords,
                    "fixed_stereo_double_bonds": lig.fixed_stereo_bonds,
                    "isotopic_hydrogens_removed": lig.isotopic_hydrogens,
                    "unspecified_stereocentres": lig.unspecified_stereocentres,
                    "unspecified_stereo_double_bonds": lig.unspecified_stereo_bonds},
            receptor=receptor_info,
            sampling=sampling_info,
            pocket=pocket.as_json() if pocket is not None else None,
        )  # fmt: skip
        metadata = {
            "weights": self.weights_json(),
            "real_weights": self.real,  # the key every model's metadata has
            "real_prediction": self.real,  # DiffDock's first name for it, kept for existing readers
            # `timings` (seconds) like every model's: the job service adds its own stages beside these.
            "timings": {k: round(v, 4) for k, v in timings.items()},
            "sampling": sampling_info,
            "receptor": receptor_info,
            # Where the complex PDB holds the rank-1 pose (LIG unless the receptor has a LIG of its own).
            "complex_ligand": ligand_residue.as_json(),
        } | self.instance.metadata() | ({"note": note} if note else {}) | _warnings(rec.preparation.warnings() + list(pocket.notes if pocket else ()), lig) | ({"pocket": pocket.as_json()} if pocket is not None else {})
        return DockingOutput(
            complex_pdb=complex_pdb,
            poses_sdf=sdf,
            result_json=summary,
            metadata=metadata,
            ranked_confidence=[p.confidence for p in poses],
        )


def _warnings(receptor_notes: list[str], lig: ligand.Ligand) -> dict[str, list[str]]:
    """Metadata `warnings`: what the input preparation changed that a user should know (none: no key)."""
    notes = list(receptor_notes)
    if lig.used_random_coords:
        notes.append("RDKit's ETKDG could not embed the ligand: its starting conformer is random "
                     "coordinates relaxed with MMFF")
    if lig.isotopic_hydrogens:
        lost = (f"; {lig.isotopic_stereo_lost} stereo element(s) the SMILES specified (@/@@, / or \\) existed only "
                "through them and are gone too: the poses do not keep that configuration"
                if lig.isotopic_stereo_lost else "")
        notes.append(f"the ligand's {lig.isotopic_hydrogens} deuterium/tritium atom(s) were removed as hydrogens are "
                     f"(DiffDock's ligand graph and poses hold heavy atoms only){lost}")
    notes += _stereo_warnings(lig)
    return {"warnings": notes} if notes else {}


def _stereo_warnings(lig: ligand.Ligand) -> list[str]:
    """What the poses decided that the SMILES did not: RDKit's embedding picks a configuration for each open
    stereocentre (torsions and rigid motions never invert it), and the sampling turns each open double bond."""
    notes = []
    if lig.unspecified_stereocentres:
        notes.append(f"the ligand SMILES leaves {lig.unspecified_stereocentres} stereocentre(s) unspecified: every pose "
                     "has one arbitrarily chosen configuration (RDKit's conformer fixed it; the poses' SD property "
                     "docked_smiles gives it), not the other stereoisomer(s); to dock a chosen one, write it in the "
                     "SMILES with @/@@")
    if lig.unspecified_stereo_bonds:
        notes.append(f"the ligand SMILES leaves the E/Z of {lig.unspecified_stereo_bonds} double bond(s) unspecified: "
                     "each such bond is turned like a single bond, so each pose has an arbitrary E or Z (the poses' "
                     "SD property docked_smiles gives it); to dock a chosen one, write it in the SMILES with / and \\")
    return notes


def _pocket_remark(pocket: Pocket) -> str:
    x, y, z = (float(c) for c in pocket.center)
    return f"pocket centre ({x:.2f}, {y:.2f}, {z:.2f}) radius {pocket.radius:.1f} A"


def set_threads(n: int) -> None:
    """Torch intra-op threads for this process (Triton instances share the machine's cores)."""
    torch.set_num_threads(max(1, n))


def request_from_json(protein_pdb: str, ligand_smiles: str, request_json: str, max_samples: int) -> DockingRequest:
    """The Triton request's tensors → `DockingRequest`; `BadInput` says what is wrong.

    The job service validated the same ranges already; the model checks again because Triton can be
    called directly.
    """
    fields = request_fields(request_json, ("inference_steps", "samples_per_complex", "random_seed", "pocket"))

    def integer(name: str, default: int, lo: int, hi: int) -> int:
        value = fields.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise BadInput(f"{name} must be an integer in {lo}..{hi}, got {json_value_text(value)}")
        return value

    return DockingRequest(
        protein_pdb=protein_pdb,
        ligand_smiles=ligand_smiles,
        inference_steps=integer("inference_steps", DEFAULT_INFERENCE_STEPS, MIN_INFERENCE_STEPS, MAX_INFERENCE_STEPS),
        samples_per_complex=integer("samples_per_complex", DEFAULT_SAMPLES, 1, max_samples),
        random_seed=integer("random_seed", 0, 0, MAX_SEED),
        pocket=parse_pocket(fields.get("pocket")),
    )
