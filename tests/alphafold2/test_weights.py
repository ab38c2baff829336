"""Parameters: DeepMind's npz layout in and out, content hashes, the production loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from af2_helpers import settings_env
from phonos_models.alphafold2 import architecture, runner
from phonos_models.alphafold2 import weights as w
from phonos_models.alphafold2.pipeline import Engine, compiled_model
from phonos_models.alphafold2.runner import CompiledModel, MultimerModel

from phonos_config.alphafold2 import AlphaFold2Settings

pytestmark = pytest.mark.integration

TRI = "alphafold/alphafold_iteration/evoformer/evoformer_iteration/triangle_multiplication_outgoing"


def compiled_for(model_name: str, *, tiny: bool, use_templates: bool) -> tuple[architecture.ArchitectureKey, CompiledModel]:
    """The process-wide compiled model (shared with the other tests, so shapes are traced once)."""
    preset = "monomer_ptm" if model_name.endswith("_ptm") else "monomer"
    cfg = architecture.build_config(model_name, preset, tiny=tiny, use_templates=use_templates, num_recycles=0)
    key = architecture.architecture_key(cfg, preset, tiny)
    return key, (compiled_model(key, cfg) if tiny else CompiledModel(cfg))


def test_tiny_weights_are_written_in_deepminds_unfused_layout_and_round_trip(tmp_path: Path) -> None:
    _, compiled = compiled_for("model_1", tiny=True, use_templates=True)  # the templates test's network
    shapes = compiled.param_shapes()
    flat = w.random_deepmind_params(shapes, seed=3)
    assert all("//" in key for key in flat)
    # DeepMind stores the triangle-multiplication projections separately; the fork runs them fused.
    assert f"{TRI}//left_projection" not in flat and f"{TRI}/left_projection//weights" in flat
    assert f"{TRI}/center_layer_norm//scale" in flat and f"{TRI}/projection//weights" not in flat
    assert any(key.startswith("alphafold/alphafold_iteration/evoformer/template_embedding") for key in flat)

    path = tmp_path / "params" / "params_model_1.npz"
    w.write_npz(path, flat)
    assert w.npz_path(tmp_path, "model_1") == path
    loaded = w.load_npz(path)
    assert w.content_hash(loaded) == w.content_hash(flat)
    fused = w.select_expected(w.from_deepmind_layout(loaded), shapes, "test")
    assert fused[f"{TRI}/projection"]["weights"].shape == shapes[f"{TRI}/projection"]["weights"].shape

    assert w.content_hash(w.random_deepmind_params(shapes, seed=3)) == w.content_hash(flat)  # reproducible
    assert w.content_hash(w.random_deepmind_params(shapes, seed=4)) != w.content_hash(flat)


def test_mismatched_parameters_are_refused_with_names() -> None:
    _, compiled = compiled_for("model_3", tiny=True, use_templates=False)
    shapes = compiled.param_shapes()
    params = w.from_deepmind_layout(w.random_deepmind_params(shapes, seed=0))
    scope = next(iter(sorted(params)))
    name = next(iter(params[scope]))
    params[scope][name] = np.zeros((1, 2, 3), np.float32)
    del params[f"{TRI}/projection"]
    with pytest.raises(w.WeightsError, match=r"2 missing .*triangle_multiplication_outgoing/projection//bias.*1 misshapen"):
        w.select_expected(params, shapes, "params_model_3.npz")
    with pytest.raises(w.WeightsError, match="DeepMind's params/params_<model>.npz layout"):
        w.load_npz(Path("/nonexistent/params_model_1.npz"))


def test_production_loader_reads_full_size_params_in_deepminds_layout(tmp_path: Path) -> None:
    """Full-size random params shaped like DeepMind's params_model_1_ptm.npz (templates included)."""
    _, writer = compiled_for("model_1_ptm", tiny=False, use_templates=True)
    flat = w.random_deepmind_params(writer.param_shapes(), seed=0)
    total = sum(a.size for a in flat.values())
    # DeepMind's monomer pTM models hold ~93 M parameters (models-on-cpu.md: ~356 MiB per file).
    assert 90e6 < total < 97e6, total
    path = tmp_path / "params" / "params_model_1_ptm.npz"
    w.write_npz(path, flat)
    del flat

    engine = Engine(AlphaFold2Settings.from_env(settings_env(PHONOS_ALPHAFOLD2_PARAMS_DIR=str(tmp_path))))
    key, runner = compiled_for("model_1_ptm", tiny=False, use_templates=False)
    loaded = engine.weights("model_1_ptm", key, runner)
    assert loaded.real and loaded.source == str(path) and loaded.sha256 == w.file_sha256(path)
    expected = runner.param_shapes()
    assert set(loaded.params) == set(expected)  # template weights in the file are left out, nothing missing
    assert not any("template" in scope for scope in loaded.params)
    evoformer_blocks = loaded.params[f"{TRI}/projection"]["weights"].shape[0]
    assert evoformer_blocks == 48


def test_multimer_v3_weights_keep_deepminds_fused_layout(tmp_path: Path) -> None:
    """params_model_N_multimer_v3.npz stores the triangle multiplications fused, as the network runs them."""
    def multimer(tiny: bool) -> tuple[architecture.ArchitectureKey, object]:
        cfg = architecture.build_config("model_1_multimer_v3", "multimer", tiny=tiny, use_templates=False, num_recycles=0)
        key = architecture.architecture_key(cfg, "multimer", tiny)
        return key, compiled_model(key, cfg) if tiny else MultimerModel(cfg)

    full_shapes = multimer(tiny=False)[1].param_shapes()  # type: ignore[attr-defined]
    # AlphaFold-Multimer v3 (DeepMind's released files): ~93 M parameters, 48 evoformer blocks.
    total = sum(int(np.prod(spec.shape)) for names in full_shapes.values() for spec in names.values())
    assert 90e6 < total < 97e6, total
    assert full_shapes[f"{TRI}/projection"]["weights"].shape[0] == 48

    key, tiny = multimer(tiny=True)
    shapes = tiny.param_shapes()  # type: ignore[attr-defined]
    flat = w.random_deepmind_params(shapes, seed=1, fused_layout=True)
    assert f"{TRI}/projection//weights" in flat and f"{TRI}/center_norm//scale" in flat
    assert f"{TRI}/left_projection//weights" not in flat
    path = tmp_path / "params" / "params_model_1_multimer_v3.npz"
    w.write_npz(path, flat)
    assert w.npz_path(tmp_path, "model_1_multimer_v3") == path
    loaded = w.select_expected(w.from_deepmind_layout(w.load_npz(path)), shapes, str(path))
    assert w.content_hash({k: v for k, v in w.flatten(loaded).items()}) == w.content_hash(flat)
    # The engine's tiny multimer weights are generated the same way.
    engine_weights = Engine(AlphaFold2Settings.from_env(settings_env())).weights("model_1_multimer_v3", key, tiny)  # type: ignore[arg-type]
    assert engine_weights.sha256 == w.content_hash(w.random_deepmind_params(shapes, seed=1, fused_layout=True))


def test_parameter_shapes_are_kept_beside_the_compile_cache_for_the_next_process(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Tracing a network for its parameter shapes takes seconds; a restarted server reads them back from the
    persistent cache instead (a new network object stands for the new process; no trace is run here)."""
    _, traced = compiled_for("model_3", tiny=True, use_templates=False)  # process-wide: traced once per run
    expected = traced.param_shapes()
    monkeypatch.setattr(runner, "_cache_dir", tmp_path)
    traces: list[object] = []

    def eval_shape(*args: object) -> object:
        traces.append(args)
        return expected

    monkeypatch.setattr(runner.jax, "eval_shape", eval_shape)
    assert CompiledModel(traced.cfg).param_shapes() is expected and len(traces) == 1  # traced, then kept
    assert len(list((tmp_path / "param-shapes").glob("*.json"))) == 1
    read_back = CompiledModel(traced.cfg).param_shapes()
    assert len(traces) == 1  # the next process read the file
    assert {s: {n: (v.shape, v.dtype) for n, v in names.items()} for s, names in read_back.items()} == \
           {s: {n: (v.shape, v.dtype) for n, v in names.items()} for s, names in expected.items()}
    # Another MSA depth or number of recycles is the same network (the same parameters): the same entry.
    deeper = architecture.build_config("model_3", "monomer", tiny=True, use_templates=False, num_recycles=5)
    architecture.size_msa(deeper, "monomer", 300, 512, tiny=True)
    assert deeper.to_json() != traced.cfg.to_json()
    assert CompiledModel(deeper).param_shapes() is not expected and len(traces) == 1
    # Another architecture is another entry; a damaged entry is traced again, not trusted.
    other = architecture.build_config("model_1", "monomer", tiny=True, use_templates=True, num_recycles=0)
    CompiledModel(other).param_shapes()
    assert len(traces) == 2 and len(list((tmp_path / "param-shapes").glob("*.json"))) == 2
    for entry in (tmp_path / "param-shapes").glob("*.json"):
        entry.write_text('{"alphafold/alphafold_iteration": {"w": [[1, 2]')
    assert CompiledModel(traced.cfg).param_shapes() is expected and len(traces) == 3
