"""One AlphaFold2 request end to end: MSAs → features → models → ranked outputs.

`Engine` is long-lived (one per Triton instance): it keeps compiled programs
and loaded parameters, so only the first request of a length bucket pays the
XLA compile (and with the persistent cache, only the first ever). Monomer
presets run DeepMind's TF-free input pipeline per model; the multimer preset
merges per-chain features once and lets the model sample its MSA.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax

from phonos_config.alphafold2 import AlphaFold2Settings
from phonos_models.alphafold2 import architecture, msa, multimer_features, search, templates
from phonos_models.alphafold2 import features as feats
from phonos_models.alphafold2 import weights as w
from phonos_models.alphafold2.request import Request, RequestError
from phonos_models.alphafold2.runner import (
    CompiledModel,
    ModelOutput,
    MultimerModel,
    _Network,
    configure_compile_cache,
)
from phonos_models.common import software
from phonos_models.common.chains import ChainLayout
from phonos_models.common.letters import chain_name
from phonos_models.common.progress import Progress, Report, ShouldStop, ignore
from phonos_models.common.unknown import unknown_residues, unknown_warning

__all__ = ["Engine", "Prediction", "Request", "RequestError"]

_COMPILED: dict[architecture.ArchitectureKey, _Network] = {}
_compiled_lock = threading.Lock()


def compiled_model(key: architecture.ArchitectureKey, cfg: Any) -> _Network:
    """Process-wide: XLA's in-memory cache belongs to the jitted function, so
    engines with other settings (databases, weights) reuse the same programs."""
    with _compiled_lock:
        if key not in _COMPILED:
            _COMPILED[key] = MultimerModel(cfg) if key.preset == architecture.MULTIMER else CompiledModel(cfg)
        return _COMPILED[key]


@dataclass(frozen=True)
class Prediction:
    """Everything one request produced; `ranked[0]` is the download."""

    request: Request
    ranked: tuple[ModelOutput, ...]  # best ranking confidence first
    alignments: tuple[msa.Alignment, ...]  # per chain: every row the models could sample from
    msa_depth: int  # rows the models sample from (a complex: after pairing and merging the chains' MSAs)
    msa_stacks: dict[str, dict[str, int]]  # model -> cluster centres and extra rows it sampled per pass, in model order
    weights: tuple[w.ModelWeights, ...]  # same order as the models ran
    databases: tuple[search.DatabaseIdentity, ...]
    bucket: int  # padded length
    templates: tuple[templates.TemplateResult, ...] | None = None  # per chain; None: templates did not run
    timings: dict[str, Any] = field(default_factory=dict)  # seconds
    software: dict[str, str] = field(default_factory=dict)  # package -> version (common.software), per Engine

    @property
    def layout(self) -> ChainLayout:
        return self.request.layout

    @property
    def real_weights(self) -> bool:
        return all(weights.real for weights in self.weights)

    def weights_label(self) -> str:
        return ", ".join(f"{x.model_name}={x.source} sha256:{x.sha256[:16]}" for x in self.weights)

    def databases_label(self) -> str | None:
        """The sequence databases the MSA came from (msa_mode search), each with its version: what the files
        say about how their MSA was made. None when nothing was searched."""
        if not self.databases:
            return None
        return ", ".join(f"{db.name} {_short_version(db.version)}" for db in self.databases)

    def templates_label(self) -> str:
        """Whether the structure saw PDB templates, which, from which database and read by which models, or why
        none: a template-based model must say so in its own files (metadata alone does not travel with them)."""
        info = self._template_info()
        if not info["used"]:
            return f"none ({info['reason']})"
        assert self.templates is not None  # used
        if self.request.multimer:
            hits = "; ".join(f"chain {cid}: {', '.join(names) or 'none'}" for cid, names in info["hits_by_chain"].items())
        else:
            hits = ", ".join(dict.fromkeys(info["hits"]))
        database = self.templates[0].database
        return (f"{hits} from {database.name} {_short_version(database.version)}, "
                f"read by {', '.join(info['models_using_templates'])}")

    def a3m_text(self) -> str:
        """The MSA the models saw; a complex has one A3M section per chain, each after a `#chain X` line."""
        if len(self.alignments) == 1:
            return self.alignments[0].to_a3m()
        return "".join(f"#chain {cid}\n{alignment.to_a3m()}"
                       for cid, alignment in zip(self.layout.ids, self.alignments, strict=True))

    def _template_info(self) -> dict[str, Any]:
        if self.templates is None:
            return {"used": False, "reason": self.request.templates_note or "use_templates was false"}
        names = [name for found in self.templates for name in found.names]
        info: dict[str, Any] = {"used": bool(names), "hits": names, "database": self.templates[0].database.as_json()}
        if self.request.multimer:
            info["hits_by_chain"] = {cid: list(found.names) for cid, found in zip(self.layout.ids, self.templates, strict=True)}
            info["models_using_templates"] = [x.model_name for x in self.weights]
        else:
            # DeepMind's monomer models 3-5 have no template stack; only models 1-2 read templates.
            info["models_using_templates"] = [x.model_name for x in self.weights if x.model_name.split("_")[1] in ("1", "2")]
        if not names:
            info["reason"] = "the template search found no usable template"
        warnings = [warning for found in self.templates for warning in found.warnings]
        if warnings:
            info["warnings"] = warnings[:10]
        return info

    def metadata(self) -> dict[str, Any]:
        request = self.request
        return {
            "model": "alphafold2",
            **request.as_json(),
            "weights": [{"model": x.model_name, "source": x.source, "sha256": x.sha256, "real": x.real} for x in self.weights],
            "real_weights": self.real_weights,
            **({} if self.real_weights else {"note": "not a real prediction: tiny randomly initialised weights"}),
            "chains": [{"id": cid, "length": n, "msa_depth": alignment.depth}
                       for cid, n, alignment in zip(self.layout.ids, self.layout.lengths, self.alignments, strict=True)],
            "msa_depth": self.msa_depth,
            "msa_stacks": self.msa_stacks,
            **({"msa_pairing": "query rows only (per-chain MSAs stay unpaired)"} if len(self.alignments) > 1 else {}),
            "databases": [db.as_json() for db in self.databases],
            "templates": self._template_info(),
            "recycles": architecture.in_model_order({out.model_name: out.recycles for out in self.ranked}),
            "ranking": [out.model_name for out in self.ranked],
            "ranked_by": self.ranked[0].confidence.ranked_by,
            "padded_length": self.bucket,
            "timings": self.timings,
            **({"software": dict(self.software)} if self.software else {}),
        } | _unknown(self.layout.sequences)


def _short_version(version: str) -> str:
    """A database version as the files print it: a content hash cut to 16 hex digits, like the weights'."""
    return version[:len("sha256:") + 16] if version.startswith("sha256:") else version


def _unknown(chains: tuple[str, ...]) -> dict[str, Any]:
    """Metadata for residues given as X: AlphaFold writes no atoms for its unknown type (upstream too)."""
    unknown = unknown_residues(chains)
    if unknown is None:
        return {}
    return {"unknown_residues": unknown,
            "warnings": [unknown_warning(unknown, "it has no atom template, so these residues have no atoms in the "
                                                  "PDB/mmCIF files (their pLDDT and PAE are still reported)")]}


@dataclass
class _Run:
    """What the model loop of one request collects."""

    outputs: list[ModelOutput] = field(default_factory=list)
    weights: list[w.ModelWeights] = field(default_factory=list)
    stacks: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    feature_seconds: float = 0.0
    setup_seconds: float = 0.0  # building networks, reading their weights: a process's first request per model only
    depth: int = 0  # MSA rows the models sample from

    def add(self, output: ModelOutput, weights: w.ModelWeights, sizing: architecture.MsaSizing) -> None:
        self.outputs.append(output)
        self.weights.append(weights)
        self.stacks[output.model_name] = sizing.as_json()
        self.seconds[output.model_name] = round(output.seconds, 3)


def _announced(request: Request, report: Report) -> Iterator[tuple[str, tuple[int, int]]]:
    """The request's model names with their positions (number, how many), reporting each as it starts. Progress
    stage `model`, then the runner's `recycle`: `step` counts the passes done of every model (num_recycles + 1
    each) of `total` for them all, so a request's progress only goes forward from model to model."""
    assert request.num_recycles is not None  # with_defaults()
    names = architecture.model_names(request.model_preset, request.num_models)
    passes = request.num_recycles + 1
    for number, model_name in enumerate(names, start=1):
        report(Progress("model", (number - 1) * passes, len(names) * passes, f"{model_name} ({number} of {len(names)})"))
        yield model_name, (number, len(names))


class Engine:
    """Compiled models and parameters for one process."""

    def __init__(self, settings: AlphaFold2Settings) -> None:
        self.settings = settings
        configure_compile_cache(settings.compile_cache_dir)
        self.software = software.versions(software.ALPHAFOLD2)  # once per instance, as its weights are
        self._weights: dict[tuple[str, architecture.ArchitectureKey], w.ModelWeights] = {}
        self._lock = threading.Lock()  # one request computes at a time per process

    def compiled(self, key: architecture.ArchitectureKey, cfg: Any) -> _Network:
        return compiled_model(key, cfg)

    def weights(self, model_name: str, key: architecture.ArchitectureKey, compiled: _Network) -> w.ModelWeights:
        # The multimer's MSA stack sizes change the program, not the parameters.
        cache_key = (model_name, dataclasses.replace(key, msa_stacks=None))
        cached = self._weights.get(cache_key)
        if cached is not None:
            return cached
        shapes = compiled.param_shapes()
        multimer = key.preset == architecture.MULTIMER
        if self.settings.params_dir is None:
            model_number = int(model_name.split("_")[1])
            seed = self.settings.tiny_seed * 100 + model_number
            flat = w.random_deepmind_params(shapes, seed, fused_layout=multimer)
            source = f"tiny-random-seed{seed}"
            loaded = w.ModelWeights(model_name, source, w.content_hash(flat), False,
                                    w.select_expected(w.from_deepmind_layout(flat), shapes, source))
        else:
            path = w.npz_path(self.settings.params_dir, model_name)
            flat = w.load_npz(path)
            params = w.select_expected(w.from_deepmind_layout(flat), shapes, str(path))
            loaded = w.ModelWeights(model_name, str(path), w.file_sha256(path), True, jax.device_put(params))
        self._weights[cache_key] = loaded
        return loaded

    def _alignments(self, request: Request, should_stop: ShouldStop, timings: dict[str, Any],
                    report: Report) -> tuple[tuple[msa.Alignment, ...], tuple[search.DatabaseIdentity, ...]]:
        layout = request.layout
        if request.msa_mode == "single_sequence":
            return tuple(msa.Alignment.single(chain) for chain in layout.sequences), ()
        if request.msa_mode == "a3m":
            parsed = []
            for index, (chain, text) in enumerate(zip(layout.sequences, request.a3m_texts, strict=True)):
                try:
                    parsed.append(msa.parse_a3m(text, chain))
                except msa.A3MError as exc:
                    where = f"{chain_name(index)}: " if len(layout.sequences) > 1 else ""
                    raise RequestError(where + str(exc)) from exc
            problem = msa.copies_message(layout.sequences, parsed)
            if problem:
                raise RequestError(problem)
            return tuple(parsed), ()
        if not self.settings.databases:
            raise RequestError('msa_mode "search" needs sequence databases; this server has none configured')
        databases = [search.Database(db.name, db.path, db.max_hits) for db in self.settings.databases]
        found: dict[str, search.SearchResult] = {}
        for chain in layout.sequences:  # a homomer's copies share one search
            if chain not in found:
                found[chain] = search.search(chain, databases, binary=self.settings.jackhmmer_binary,
                                             threads=self.settings.search_threads, should_stop=should_stop,
                                             report=report)
        results = [found[chain] for chain in layout.sequences]
        depths = ", ".join(str(res.alignment.depth) for res in results)
        report(Progress("msa_search_done", len(databases), len(databases), f"MSA search done: {depths} sequences"))
        per_chain = len(layout.sequences) > 1
        timings["msa_search_per_database"] = {
            (f"{cid}:" if per_chain else "") + k: round(v, 3)
            for cid, res in zip(layout.ids, results, strict=True) for k, v in res.seconds.items()}
        timings["msa_hits_per_database"] = {
            (f"{cid}:" if per_chain else "") + k: v for cid, res in zip(layout.ids, results, strict=True) for k, v in res.hits.items()}
        return tuple(res.alignment for res in results), results[0].databases

    def _templates(self, request: Request, alignments: tuple[msa.Alignment, ...], should_stop: ShouldStop,
                   report: Report) -> tuple[templates.TemplateResult, ...]:
        report(Progress("templates", 0, 1, "template search started"))
        found: dict[str, templates.TemplateResult] = {}
        for chain, alignment in zip(request.layout.sequences, alignments, strict=True):
            if chain not in found:
                found[chain] = templates.search_templates(chain, alignment, self._template_settings(), should_stop)
        results = tuple(found[chain] for chain in request.layout.sequences)
        report(Progress("templates", 1, 1, f"template search done: {sum(len(r.names) for r in results)} templates"))
        return results

    def predict(self, request: Request, should_stop: ShouldStop = lambda: False,
                report: Report = ignore) -> Prediction:
        request = request.with_defaults()
        request.check()
        layout = request.layout
        length = len(layout.residues)
        if length > self.settings.max_length:
            what = "sequence is" if len(layout.sequences) == 1 else f"complex has {len(layout.sequences)} chains and"
            raise RequestError(f"{what} {length} residues; this server accepts at most {self.settings.max_length}")
        if request.use_templates and not self.settings.templates_configured:
            raise RequestError("use_templates is true but this server has no template database configured")
        with self._lock:
            return self._predict(request, should_stop, report)

    def _predict(self, request: Request, should_stop: ShouldStop, report: Report) -> Prediction:
        timings: dict[str, Any] = {}
        start = time.perf_counter()
        alignments, databases = self._alignments(request, should_stop, timings, report)
        timings["msa"] = round(time.perf_counter() - start, 3)
        template_results = None
        if request.use_templates:
            template_results = self._templates(request, alignments, should_stop, report)
            timings["templates"] = round(sum(found.seconds for found in template_results), 3)
        bucket = feats.bucket_for(len(request.layout.residues), self.settings.length_buckets)
        if request.multimer:
            run = self._run_multimer(request, alignments, template_results, bucket, should_stop, report)
        else:
            run = self._run_monomer(request, alignments[0], template_results[0] if template_results else None,
                                    bucket, should_stop, report)
        timings["features"] = round(run.feature_seconds, 3)
        # What this job paid once for the process: setting the models up (tracing the network's shapes, loading
        # or drawing its weights) and XLA compilation, which happens inside the first pass of a new length
        # bucket and is counted across the models' passes only, so it is part of `models`' seconds (0 once
        # compiled; the persistent cache's read when it has the program).
        timings["model_setup"] = round(run.setup_seconds, 3)
        timings["models"] = architecture.in_model_order(run.seconds)
        timings["compile"] = round(sum(out.compile_seconds for out in run.outputs), 3)
        timings["total"] = round(time.perf_counter() - start, 3)
        ranked = tuple(sorted(run.outputs, key=lambda out: out.ranking_confidence, reverse=True))
        return Prediction(request=request, ranked=ranked, alignments=alignments, msa_depth=run.depth,
                          msa_stacks=architecture.in_model_order(run.stacks),
                          weights=tuple(run.weights), databases=databases, bucket=bucket,
                          templates=template_results, timings=timings, software=self.software)

    def _model(self, request: Request, model_name: str, depth: int) -> tuple[Any, architecture.MsaSizing,
                                                                              _Network, w.ModelWeights]:
        tiny = self.settings.params_dir is None
        assert request.num_recycles is not None and request.max_msa_seqs is not None  # with_defaults()
        cfg = architecture.build_config(model_name, request.model_preset, tiny=tiny,
                                        use_templates=request.use_templates, num_recycles=request.num_recycles)
        sizing = architecture.size_msa(cfg, request.model_preset, depth, request.max_msa_seqs, tiny)
        key = architecture.architecture_key(cfg, request.model_preset, tiny)
        compiled = self.compiled(key, cfg)
        return cfg, sizing, compiled, self.weights(model_name, key, compiled)

    def _run_monomer(self, request: Request, alignment: msa.Alignment, found: templates.TemplateResult | None,
                     bucket: int, should_stop: ShouldStop, report: Report) -> _Run:
        raw = feats.raw_features(request.sequence, alignment, found.features if found else None)
        # Features depend on the network (templates, ensembling) and the MSA sizing (extra caps differ by model).
        processed: dict[tuple[int, architecture.MsaSizing], Mapping[str, Any]] = {}
        run = _Run(depth=alignment.depth)
        for model_name, position in _announced(request, report):
            tick = time.perf_counter()
            cfg, sizing, compiled, loaded = self._model(request, model_name, alignment.depth)
            run.setup_seconds += time.perf_counter() - tick
            cache_key = (id(compiled), sizing)
            if cache_key not in processed:
                tick = time.perf_counter()
                processed[cache_key] = feats.pad_msa_rows(feats.process(raw, cfg, bucket, request.random_seed), cfg, sizing)
                run.feature_seconds += time.perf_counter() - tick
            assert request.num_recycles is not None
            run.add(compiled.run(model_name, loaded.params, processed[cache_key], request.layout,
                                 request.num_recycles, request.random_seed, should_stop, report, position), loaded, sizing)
        return run

    def _run_multimer(self, request: Request, alignments: tuple[msa.Alignment, ...],
                      found: tuple[templates.TemplateResult, ...] | None, bucket: int, should_stop: ShouldStop,
                      report: Report) -> _Run:
        layout = request.layout
        tick = time.perf_counter()
        heteromer = len(set(layout.sequences)) > 1
        merged = multimer_features.assemble([
            multimer_features.chain_features(chain, alignment, found[index].features if found else None, heteromer)
            for index, (chain, alignment) in enumerate(zip(layout.sequences, alignments, strict=True))])
        depth = int(merged["msa"].shape[0])
        run = _Run(feature_seconds=time.perf_counter() - tick, depth=depth)
        batches: dict[int, Mapping[str, Any]] = {}
        for model_name, position in _announced(request, report):
            tick = time.perf_counter()
            _, sizing, compiled, loaded = self._model(request, model_name, depth)
            run.setup_seconds += time.perf_counter() - tick
            rows = architecture.multimer_raw_rows(sizing)
            if rows not in batches:
                batches[rows] = multimer_features.pad(merged, bucket, rows)
            assert request.num_recycles is not None
            run.add(compiled.run(model_name, loaded.params, batches[rows], layout, request.num_recycles,
                                 request.random_seed, should_stop, report, position), loaded, sizing)
        return run

    def _template_settings(self) -> templates.TemplateSettings:
        s = self.settings
        assert s.pdb_seqres is not None and s.template_mmcif_dir is not None  # checked in predict()
        return templates.TemplateSettings(pdb_seqres=s.pdb_seqres, mmcif_dir=s.template_mmcif_dir,
                                          max_template_date=s.max_template_date, hmmsearch_binary=s.hmmsearch_binary,
                                          hmmbuild_binary=s.hmmbuild_binary, kalign_binary=s.kalign_binary)
