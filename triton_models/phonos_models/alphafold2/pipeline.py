"""One AlphaFold2 request end to end: MSA → features → models → ranked outputs.

`Engine` is long-lived (one per Triton instance): it keeps compiled programs
and loaded parameters, so only the first request of a length bucket pays the
XLA compile (and with the persistent cache, only the first ever).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax

from phonos_config.alphafold2 import (
    DEFAULT_MAX_MSA_SEQS,
    DEFAULT_RECYCLES,
    MAX_MSA_SEQS,
    MAX_RECYCLES,
    MSA_MODES,
    AlphaFold2Settings,
)
from phonos_models.alphafold2 import architecture, msa, search, templates
from phonos_models.alphafold2 import features as feats
from phonos_models.alphafold2 import weights as w
from phonos_models.alphafold2.runner import CompiledModel, ModelOutput, ShouldStop, configure_compile_cache
from phonos_models.common.errors import BadInput
from phonos_models.common.progress import Progress, Report, ignore
from phonos_models.common.requests import request_fields

_PROTEIN_LETTERS = frozenset("ACDEFGHIKLMNPQRSTVWYX")


_COMPILED: dict[architecture.ArchitectureKey, CompiledModel] = {}
_compiled_lock = threading.Lock()


def compiled_model(key: architecture.ArchitectureKey, cfg: Any) -> CompiledModel:
    """Process-wide: XLA's in-memory cache belongs to the jitted function, so
    engines with other settings (databases, weights) reuse the same programs."""
    with _compiled_lock:
        if key not in _COMPILED:
            _COMPILED[key] = CompiledModel(cfg)
        return _COMPILED[key]


class RequestError(BadInput):
    """The request cannot run; the message says what to fix (Triton answers it as an error)."""


@dataclass(frozen=True)
class Request:
    """A validated AlphaFold2 job (the job service's normalised params)."""

    sequence: str
    model_preset: str = "monomer"
    msa_mode: str = "single_sequence"
    a3m: str | None = None
    max_msa_seqs: int = DEFAULT_MAX_MSA_SEQS  # MSA rows kept, query included
    use_templates: bool = False
    num_recycles: int = DEFAULT_RECYCLES
    random_seed: int = 0
    num_models: int = 1
    templates_note: str | None = None  # why templates did not run, when the user did not ask for them

    @classmethod
    def from_json(cls, sequence: str, text: str) -> Request:
        params = request_fields(text, set(cls.__dataclass_fields__) - {"sequence"}, RequestError)
        request = cls(sequence=sequence.strip().upper(), **params)
        request.check()
        return request

    def check(self) -> None:
        if not self.sequence or not set(self.sequence) <= _PROTEIN_LETTERS:
            raise RequestError("sequence must be one-letter amino-acid codes (the 20 standard ones and X)")
        if self.model_preset not in architecture.PRESETS:
            raise RequestError(f"model_preset must be one of {', '.join(architecture.PRESETS)}")
        if self.msa_mode not in MSA_MODES:
            raise RequestError(f"msa_mode must be one of {', '.join(MSA_MODES)}")
        if (self.msa_mode == "a3m") != (self.a3m is not None):
            raise RequestError("a3m text is required exactly when msa_mode is 'a3m'")
        if not 1 <= self.num_models <= architecture.MAX_MODELS:
            raise RequestError(f"num_models must be between 1 and {architecture.MAX_MODELS}")
        if not 0 <= self.num_recycles <= MAX_RECYCLES:
            raise RequestError(f"num_recycles must be between 0 and {MAX_RECYCLES}")
        if not 1 <= self.max_msa_seqs <= MAX_MSA_SEQS:
            raise RequestError(f"max_msa_seqs must be between 1 and {MAX_MSA_SEQS}")


@dataclass(frozen=True)
class Prediction:
    """Everything one request produced; `ranked[0]` is the download."""

    request: Request
    ranked: tuple[ModelOutput, ...]  # best mean pLDDT first
    alignment: msa.Alignment  # the MSA the models saw (after max_msa_seqs)
    msa_depth_found: int  # rows before truncation
    weights: tuple[w.ModelWeights, ...]  # same order as the models ran
    databases: tuple[search.DatabaseIdentity, ...]
    bucket: int  # padded length
    templates: templates.TemplateResult | None = None  # None: templates did not run
    timings: dict[str, Any] = field(default_factory=dict)  # seconds

    @property
    def real_weights(self) -> bool:
        return all(weights.real for weights in self.weights)

    def weights_label(self) -> str:
        return ", ".join(f"{x.model_name}={x.source} sha256:{x.sha256[:16]}" for x in self.weights)

    def metadata(self) -> dict[str, Any]:
        request = self.request
        if self.templates is not None:
            found = self.templates
            template_info: dict[str, Any] = {
                "used": bool(found.names), "hits": list(found.names), "database": found.database.as_json(),
                # DeepMind's models 3-5 have no template stack; only models 1-2 read templates.
                "models_using_templates": [x.model_name for x in self.weights if x.model_name.split("_")[1] in ("1", "2")],
            }
            if not found.names:
                template_info["reason"] = "the template search found no usable template"
            if found.warnings:
                template_info["warnings"] = list(found.warnings)[:10]
        else:
            template_info = {"used": False, "reason": request.templates_note or "use_templates was false"}
        return {
            "model": "alphafold2",
            "model_preset": request.model_preset,
            "weights": [{"model": x.model_name, "source": x.source, "sha256": x.sha256, "real": x.real} for x in self.weights],
            "real_weights": self.real_weights,
            **({} if self.real_weights else {"note": "not a real prediction: tiny randomly initialised weights"}),
            "msa_mode": request.msa_mode,
            "msa_depth": self.alignment.depth,
            "msa_depth_found": self.msa_depth_found,
            "max_msa_seqs": request.max_msa_seqs,
            "databases": [db.as_json() for db in self.databases],
            "templates": template_info,
            "num_recycles": request.num_recycles,
            "num_models": request.num_models,
            "random_seed": request.random_seed,
            "ranking": [out.model_name for out in self.ranked],
            "padded_length": self.bucket,
            "timings": self.timings,
        }


class Engine:
    """Compiled models and parameters for one process."""

    def __init__(self, settings: AlphaFold2Settings) -> None:
        self.settings = settings
        configure_compile_cache(settings.compile_cache_dir)
        self._weights: dict[tuple[str, architecture.ArchitectureKey], w.ModelWeights] = {}
        self._lock = threading.Lock()  # one request computes at a time per process

    def compiled(self, key: architecture.ArchitectureKey, cfg: Any) -> CompiledModel:
        return compiled_model(key, cfg)

    def weights(self, model_name: str, key: architecture.ArchitectureKey, compiled: CompiledModel) -> w.ModelWeights:
        cached = self._weights.get((model_name, key))
        if cached is not None:
            return cached
        shapes = compiled.param_shapes()
        if self.settings.params_dir is None:
            model_number = int(model_name.split("_")[1])
            seed = self.settings.tiny_seed * 100 + model_number
            flat = w.random_deepmind_params(shapes, seed)
            source = f"tiny-random-seed{seed}"
            loaded = w.ModelWeights(model_name, source, w.content_hash(flat), False,
                                    w.select_expected(w.from_deepmind_layout(flat), shapes, source))
        else:
            path = w.npz_path(self.settings.params_dir, model_name)
            flat = w.load_npz(path)
            params = w.select_expected(w.from_deepmind_layout(flat), shapes, str(path))
            loaded = w.ModelWeights(model_name, str(path), w.file_sha256(path), True, jax.device_put(params))
        self._weights[(model_name, key)] = loaded
        return loaded

    def _alignment(self, request: Request, should_stop: ShouldStop, timings: dict[str, Any],
                   report: Report) -> tuple[msa.Alignment, tuple[search.DatabaseIdentity, ...]]:
        if request.msa_mode == "single_sequence":
            return msa.Alignment.single(request.sequence), ()
        if request.msa_mode == "a3m":
            try:
                return msa.parse_a3m(request.a3m or "", request.sequence), ()
            except msa.A3MError as exc:
                raise RequestError(str(exc)) from exc
        if not self.settings.databases:
            raise RequestError("msa_mode 'search' needs sequence databases; this server has none configured")
        databases = [search.Database(db.name, db.path, db.max_hits) for db in self.settings.databases]
        found = search.search(request.sequence, databases, binary=self.settings.jackhmmer_binary,
                              threads=self.settings.search_threads, should_stop=should_stop, report=report)
        report(Progress("msa_search_done", len(databases), len(databases),
                        f"MSA search done: {found.alignment.depth} sequences"))
        timings["msa_search_per_database"] = {k: round(v, 3) for k, v in found.seconds.items()}
        timings["msa_hits_per_database"] = found.hits
        return found.alignment, found.databases

    def predict(self, request: Request, should_stop: ShouldStop = lambda: False,
                report: Report = ignore) -> Prediction:
        request.check()
        length = len(request.sequence)
        if length > self.settings.max_length:
            raise RequestError(f"sequence is {length} residues; this server accepts at most {self.settings.max_length}")
        if request.use_templates and not self.settings.templates_configured:
            raise RequestError("use_templates is true but this server has no template database configured")
        with self._lock:
            return self._predict(request, should_stop, report)

    def _predict(self, request: Request, should_stop: ShouldStop, report: Report) -> Prediction:
        timings: dict[str, Any] = {}
        start = time.perf_counter()
        found, databases = self._alignment(request, should_stop, timings, report)
        alignment = found.truncated(request.max_msa_seqs)
        timings["msa"] = round(time.perf_counter() - start, 3)

        template_result = None
        if request.use_templates:
            report(Progress("templates", 0, 1, "template search started"))
            template_result = templates.search_templates(request.sequence, alignment, self._template_settings(), should_stop)
            report(Progress("templates", 1, 1, f"template search done: {len(template_result.names)} templates"))
            timings["templates"] = round(template_result.seconds, 3)
        bucket = feats.bucket_for(len(request.sequence), self.settings.length_buckets)
        tiny = self.settings.params_dir is None
        raw = feats.raw_features(request.sequence, alignment, template_result.features if template_result else None)
        # Features depend on the network (templates) and the MSA sizing (max_extra_msa differs by model).
        processed_by_key: dict[tuple[architecture.ArchitectureKey, int, int], Mapping[str, Any]] = {}
        outputs: list[ModelOutput] = []
        used: list[w.ModelWeights] = []
        per_model: dict[str, float] = {}
        feature_seconds = 0.0
        names = architecture.model_names(request.model_preset, request.num_models)
        for number, model_name in enumerate(names, start=1):
            report(Progress("model", number, len(names), f"{model_name} ({number} of {len(names)})"))
            cfg = architecture.build_config(model_name, request.model_preset, tiny=tiny,
                                            use_templates=request.use_templates, num_recycles=request.num_recycles)
            if not tiny:
                # Tiny stacks (8 + 16 rows) cost nothing padded; fitting them would only add programs.
                architecture.fit_msa_depth(cfg, alignment.depth)
            key = architecture.architecture_key(cfg, request.model_preset, tiny)
            compiled = self.compiled(key, cfg)
            loaded = self.weights(model_name, key, compiled)
            sizing = (key, int(cfg.data.eval.max_msa_clusters), int(cfg.data.common.max_extra_msa))
            if sizing not in processed_by_key:
                tick = time.perf_counter()
                processed_by_key[sizing] = feats.process(raw, cfg, bucket, request.random_seed)
                feature_seconds += time.perf_counter() - tick
            output = compiled.run(model_name, loaded.params, processed_by_key[sizing], len(request.sequence),
                                  request.num_recycles, request.random_seed, should_stop, report)
            outputs.append(output)
            used.append(loaded)
            per_model[model_name] = round(output.seconds, 3)
        timings["features"] = round(feature_seconds, 3)
        timings["models"] = per_model
        timings["total"] = round(time.perf_counter() - start, 3)
        ranked = tuple(sorted(outputs, key=lambda out: out.mean_plddt, reverse=True))
        return Prediction(request=request, ranked=ranked, alignment=alignment, msa_depth_found=found.depth,
                          weights=tuple(used), databases=databases, bucket=bucket, templates=template_result,
                          timings=timings)

    def _template_settings(self) -> templates.TemplateSettings:
        s = self.settings
        assert s.pdb_seqres is not None and s.template_mmcif_dir is not None  # checked in predict()
        return templates.TemplateSettings(pdb_seqres=s.pdb_seqres, mmcif_dir=s.template_mmcif_dir,
                                          max_template_date=s.max_template_date, hmmsearch_binary=s.hmmsearch_binary,
                                          hmmbuild_binary=s.hmmbuild_binary, kalign_binary=s.kalign_binary)
