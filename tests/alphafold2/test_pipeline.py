"""AlphaFold2 end to end in-process: tiny weights of the real architecture, one length bucket.

Everything runs through one session `Engine` (see conftest), so each
architecture (monomer, monomer_ptm, monomer_casp14) compiles once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import gemmi
import jax
import numpy as np
import pytest
from af2_helpers import BUCKET, QUERY, mutate, settings_env
from phonos_models.alphafold2 import build_db, serving
from phonos_models.alphafold2.pipeline import Engine, Request, RequestError
from phonos_models.common import errors, result_files
from phonos_models.common.errors import Cancelled

from jobservice.modelspecs.alphafold2 import build_spec
from phonos_config.alphafold2 import AlphaFold2Settings
from tests.bundle_checks import check_bundle

pytestmark = pytest.mark.integration


FILE_NAMES = {"pdb": "PDB", "cif": "CIF", "json": "SCORES", "a3m": "MSA"}


def texts(prediction) -> dict[str, str]:
    """The result files the model sends (through the response envelope), by name, plus its metadata."""
    result = result_files.decode(result_files.encode(serving.result(prediction), batched=False))
    out = {FILE_NAMES[f.format]: f.content.decode() for f in result.files if f.format in FILE_NAMES}
    return out | {"METADATA": json.dumps(result.metadata)}


@pytest.fixture(scope="module")
def monomer(engine: Engine) -> tuple:
    prediction = engine.predict(Request(sequence=QUERY, num_recycles=1, num_models=2))
    return prediction, texts(prediction)


def test_monomer_files_carry_plddt_provenance_and_float32_coordinates(monomer: tuple) -> None:
    prediction, out = monomer
    best = prediction.ranked[0]
    assert best.positions.dtype == np.float32 and best.positions.shape == (len(QUERY), 37, 3)
    # float16 would put every coordinate on a ~0.008 Å grid at 10 Å; float32 does not.
    assert np.abs(best.positions - best.positions.astype(np.float16).astype(np.float32)).max() > 1e-3

    # the TITLE names the model and weights, then the REMARKs say the rest
    assert out["PDB"].startswith("TITLE     AlphaFold2 prediction, rank 1")
    assert "\nREMARK 250 NOT A REAL PREDICTION" in out["PDB"]
    structure = gemmi.read_pdb_string(out["PDB"])
    residues = list(structure[0][0])
    assert "".join(gemmi.find_tabulated_residue(r.name).one_letter_code.upper() for r in residues) == QUERY
    ca_b = np.array([r["CA"][0].b_iso for r in residues])
    assert np.allclose(ca_b, best.plddt, atol=0.01) and ((ca_b >= 0) & (ca_b <= 100)).all()
    ca_xyz = np.array([r["CA"][0].pos.tolist() for r in residues])
    assert np.allclose(ca_xyz, best.positions[:, 1], atol=6e-4)

    cif = gemmi.cif.read_string(out["CIF"]).sole_block()
    assert len(cif.find_loop("_atom_site.id")) == sum(len(r) for r in residues)
    assert "NOT A REAL PREDICTION" in out["CIF"].split("loop_")[0]

    scores = json.loads(out["SCORES"])
    assert "pae" not in scores and "ptm" not in scores  # plain monomer models have no PAE head
    assert scores["plddt"] == pytest.approx(best.plddt.tolist(), abs=0.01)
    assert scores["mean_plddt"] == pytest.approx(float(best.plddt.mean()), abs=1e-3)
    ranking = [entry["mean_plddt"] for entry in scores["ranking"]]
    assert [e["model"] for e in scores["ranking"]] == [o.model_name for o in prediction.ranked]
    assert sorted({e["model"] for e in scores["ranking"]}) == ["model_1", "model_2"]
    assert ranking == sorted(ranking, reverse=True) and scores["real_prediction"] is False

    meta = json.loads(out["METADATA"])
    assert meta["real_weights"] is False and "not a real prediction" in meta["note"]
    assert [w["model"] for w in meta["weights"]] == ["model_1", "model_2"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", w["sha256"]) for w in meta["weights"])
    assert meta["weights"][0]["sha256"] != meta["weights"][1]["sha256"]  # five different models, as DeepMind's
    assert meta["msa_mode"] == "single_sequence" and meta["msa_depth"] == 1 and meta["databases"] == []
    assert meta["padded_length"] == BUCKET
    assert set(meta["timings"]["models"]) == {"model_1", "model_2"}
    software = meta["software"]  # what produced the result; openmm joins it only when a relax ran
    assert set(software) == {"phonos", "python", "jax", "jaxlib", "dm-haiku", "alphafold-colabfold", "numpy"}
    assert software["jax"] == jax.__version__
    assert meta["msa_stacks"] == {"model_1": {"clusters": 1, "extra": 0}, "model_2": {"clusters": 1, "extra": 0}}
    assert out["MSA"] == f">query\n{QUERY}\n"
    # Every model's structure is downloadable: rank 1 as `pdb`, the others as `rank_N_pdb`.
    files = {f.format: f for f in serving.result(prediction).files}
    assert files["rank_2_pdb"].extension == "rank_2.pdb" and "rank_3_pdb" not in files
    second = gemmi.read_pdb_string(files["rank_2_pdb"].content.decode())
    assert np.allclose([r["CA"][0].pos.tolist() for r in second[0][0]], prediction.ranked[1].positions[:, 1], atol=6e-4)


def test_ptm_preset_reports_ptm_and_pae_through_the_spec(engine: Engine) -> None:
    prediction = engine.predict(Request(sequence=QUERY, model_preset="monomer_ptm", num_recycles=0))
    result = serving.result(prediction)
    always = build_spec(settings_env()).formats
    assert "pae" not in always and "pae_plot" not in always  # only models with a PAE head make them, as this one:
    with_pae = (*always[:always.index("plddt_plot")], "pae", "plddt_plot", "pae_plot",
                *always[always.index("coverage_plot"):])
    archive = check_bundle(result, with_pae, "alphafold2")  # formats, zip, PNG sizes
    assert "NOT A REAL PREDICTION" in archive.read("README.md").decode()
    scores = json.loads(result.files[2].content)
    pae = np.array(scores["pae"])
    assert pae.shape == (len(QUERY), len(QUERY))
    # max_pae is the matrix's largest entry (ColabFold's scores JSON), not the last bin edge (31.75 Å).
    assert 0 <= pae.min() and scores["max_pae"] == pytest.approx(pae.max(), abs=0.006) and scores["max_pae"] < 31.75
    assert 0 < scores["ptm"] < 1
    assert result.metrics == {"mean_plddt": round(scores["mean_plddt"], 2), "ptm": round(scores["ptm"], 4)}
    assert result.metadata["model_preset"] == "monomer_ptm"
    assert json.loads(result.files[4].content)["models"].keys() == {"model_1_ptm"}


def test_casp14_preset_ensembles_eight_times(engine: Engine) -> None:
    prediction = engine.predict(Request(sequence=QUERY, model_preset="monomer_casp14", num_recycles=0))
    out = texts(prediction)
    assert json.loads(out["METADATA"])["model_preset"] == "monomer_casp14"
    assert "pae" not in json.loads(out["SCORES"])
    from phonos_models.alphafold2 import pipeline

    ensembles = {key.preset: model.num_ensemble for key, model in pipeline._COMPILED.items() if key.preset != "multimer"}
    assert ensembles["monomer_casp14"] == 8 and ensembles["monomer"] == 1


def test_max_msa_seqs_samples_cluster_centres_and_keeps_every_other_row_for_the_extra_stack(engine: Engine) -> None:
    homologs = [mutate(QUERY, every=k) for k in (3, 4, 5, 6, 7, 9, 11)]
    a3m = f">query\n{QUERY}\n" + "".join(f">hom{i}\n{s}\n" for i, s in enumerate(homologs))
    prediction = engine.predict(Request(sequence=QUERY, msa_mode="a3m", a3m=a3m, max_msa_seqs=6, num_recycles=0))
    out = texts(prediction)
    assert out["MSA"] == a3m  # nothing is cut before featurisation
    meta = json.loads(out["METADATA"])
    assert (meta["msa_mode"], meta["msa_depth"], meta["max_msa_seqs"]) == ("a3m", 8, 6)
    assert meta["msa_stacks"] == {"model_1": {"clusters": 6, "extra": 2}}  # DeepMind's max_msa_clusters meaning
    # The MSA reaches the model: the same query without it folds differently.
    alone = engine.predict(Request(sequence=QUERY, num_recycles=0))
    assert not np.allclose(alone.ranked[0].positions, prediction.ranked[0].positions)


def test_the_model_reads_an_a3m_that_starts_with_a_byte_order_mark(engine: Engine) -> None:
    # Triton called without the job service (which drops the mark too); before: "params.a3m must start with a
    # FASTA header line ('>name')".
    result = serving.handle(engine, QUERY, json.dumps({"msa_mode": "a3m", "a3m": f"\ufeff>query\n{QUERY}\n",
                                                       "num_recycles": 0}), lambda: False)
    assert next(f for f in result.files if f.format == "a3m").content.decode() == f">query\n{QUERY}\n"


def test_the_extra_msa_stack_gets_the_rows_beyond_the_cluster_centres() -> None:
    """What the model reads: 6 sampled centres + the 2 other rows in the extra stack, padded with masked rows."""
    from phonos_models.alphafold2 import architecture
    from phonos_models.alphafold2 import features as feats
    from phonos_models.alphafold2.msa import parse_a3m

    homologs = [mutate(QUERY, every=k) for k in (3, 4, 5, 6, 7, 9, 11)]
    alignment = parse_a3m(f">query\n{QUERY}\n" + "".join(f">hom{i}\n{s}\n" for i, s in enumerate(homologs)), QUERY)
    cfg = architecture.build_config("model_1", "monomer", tiny=True, use_templates=False, num_recycles=0)
    sizing = architecture.size_msa(cfg, "monomer", alignment.depth, 6, tiny=True)
    processed = feats.pad_msa_rows(feats.process(feats.raw_features(QUERY, alignment), cfg, BUCKET, 0), cfg, sizing)
    msa_rows = processed["msa_mask"][0].sum(-1) > 0
    extra_rows = processed["extra_msa_mask"][0].sum(-1) > 0
    assert processed["msa_feat"].shape[1:3] == (8, BUCKET) and processed["extra_msa"].shape[1:] == (16, BUCKET)
    assert msa_rows.sum() == 6 and extra_rows.sum() == 2
    # Together the two stacks hold all eight sequences (residue types in the 21-letter model alphabet).
    seen = {tuple(row) for row in processed["true_msa"][0][msa_rows][:, :len(QUERY)]}
    seen |= {tuple(row) for row in processed["extra_msa"][0][extra_rows][:, :len(QUERY)]}
    assert len(seen) == 8


def test_search_mode_runs_jackhmmer_on_a_database_built_by_build_db(engine: Engine, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    homologs = [mutate(QUERY, every=k, offset=k) for k in (4, 5, 6, 8, 10)]
    unrelated = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=60)) for _ in range(20)]
    fasta = tmp_path / "seqs.fasta"
    fasta.write_text("".join(f">hom{i}\n{s}\n" for i, s in enumerate(homologs))
                     + "".join(f">rnd{i}\n{s}\n" for i, s in enumerate(unrelated)))
    built = build_db.build(fasta, tmp_path / "db", "uniref90")
    searcher = Engine(AlphaFold2Settings.from_env(settings_env(PHONOS_ALPHAFOLD2_UNIREF90=str(built.fasta))))
    prediction = searcher.predict(Request(sequence=QUERY, msa_mode="search", num_recycles=0))
    out = texts(prediction)
    names = re.findall(r"^>(\S+)", out["MSA"], flags=re.M)
    assert names[0] == "query" and {n.split("/")[0] for n in names[1:]} == {f"hom{i}" for i in range(5)}
    meta = json.loads(out["METADATA"])
    assert meta["msa_mode"] == "search" and meta["msa_depth"] == 6
    assert meta["databases"] == [{"name": "uniref90", "path": str(built.fasta), "version": built.version, "num_sequences": 25}]
    assert meta["timings"]["msa_hits_per_database"] == {"uniref90": 5}

    # A cancelled job kills the running search.
    with pytest.raises(Cancelled, match="uniref90 search"):
        searcher.predict(Request(sequence=QUERY, msa_mode="search", num_recycles=0), should_stop=lambda: True)


def test_lengths_in_one_bucket_share_one_compiled_program(engine: Engine) -> None:
    from phonos_models.alphafold2 import pipeline

    engine.predict(Request(sequence=QUERY[:30], num_recycles=0))
    monomer = next(m for k, m in pipeline._COMPILED.items() if k.preset == "monomer" and not k.use_templates)
    programs = monomer._apply._cache_size()
    engine.predict(Request(sequence=QUERY[:35], num_recycles=0))
    engine.predict(Request(sequence=QUERY[:44], num_recycles=0))
    assert monomer._apply._cache_size() == programs  # 30, 35 and 44 aa all ran padded to 48


def test_cancellation_stops_between_recycling_passes(engine: Engine) -> None:
    calls: list[int] = []

    def stop_on_third_check() -> bool:
        calls.append(1)
        return len(calls) >= 3

    with pytest.raises(Cancelled, match="before pass 3 of model_1"):
        engine.predict(Request(sequence=QUERY, num_recycles=5), should_stop=stop_on_third_check)
    assert len(calls) == 3  # two passes ran, the remaining four never started


def test_engine_refuses_what_the_server_cannot_do(engine: Engine) -> None:
    with pytest.raises(RequestError, match="no template database"):
        engine.predict(Request(sequence=QUERY, use_templates=True))
    with pytest.raises(RequestError, match="at most 48"):
        engine.predict(Request(sequence="A" * 49))
    with pytest.raises(RequestError, match="first record"):
        serving.handle(engine, QUERY, json.dumps({"msa_mode": "a3m", "a3m": ">x\n" + "A" * len(QUERY)}), lambda: False)
    with pytest.raises(RequestError, match="^sequence contains invalid amino-acid letters: 1. Use the 20 standard"):
        serving.handle(engine, "MKT1", "{}", lambda: False)
    with pytest.raises(RequestError, match="unknown REQUEST fields"):
        serving.handle(engine, QUERY, json.dumps({"bogus": 1}), lambda: False)
    # before: folded, and every file had no atoms at all (AlphaFold builds none for X)
    with pytest.raises(RequestError, match="sequence is only X"):
        serving.handle(engine, "XXXXXX", "{}", lambda: False)
    # before: the model's own check knew only the letters, so a direct Triton client folded a gene or an mRNA as a
    # "protein" of Ala, Cys, Gly and Thr; the job service refused it. Now the same rule and words on both sides.
    gene = "atgaaaacagcgtatattgcgaaacagcgt"
    with pytest.raises(RequestError, match=r"^sequence looks like a DNA sequence \(only the letters A, C, G, T and N\): "
                                           "this model folds proteins; translate"):
        serving.handle(engine, gene, "{}", lambda: False)
    with pytest.raises(RequestError, match=r"^sequence chain 2 looks like an RNA sequence"):
        serving.handle(engine, f"{QUERY[:10]}:AUGAAAACAGCGUAUAUUGCG", json.dumps({"model_preset": "multimer"}),
                       lambda: False)


def test_residues_given_as_x_are_reported_with_what_the_files_hold(engine: Engine) -> None:
    sequence = QUERY[:4] + "XX" + QUERY[6:]
    out = texts(engine.predict(Request(sequence=sequence, num_recycles=0)))
    unknown = {"count": 2, "residues": ["A:5", "A:6"]}
    metadata = json.loads(out["METADATA"])
    assert metadata["unknown_residues"] == unknown and "no atoms in the PDB/mmCIF" in metadata["warnings"][0]
    assert json.loads(out["SCORES"])["unknown_residues"] == unknown
    numbers = {residue.seqid.num for residue in gemmi.read_pdb_string(out["PDB"])[0][0]}
    assert numbers == set(range(1, len(sequence) + 1)) - {5, 6}  # what the warning says


def test_out_of_memory_becomes_a_clear_resource_error() -> None:
    """XLA's allocation failure (what a too-long sequence hits on a GPU) maps to ResourceExhausted."""
    import jax
    from phonos_models.alphafold2 import architecture
    from phonos_models.alphafold2 import features as feats
    from phonos_models.alphafold2.msa import Alignment
    from phonos_models.alphafold2.runner import CompiledModel, ResourceExhausted
    from phonos_models.common.chains import ChainLayout

    cfg = architecture.build_config("model_3", "monomer", tiny=True, use_templates=False, num_recycles=0)
    model = CompiledModel(cfg)
    error_type = jax.errors.JaxRuntimeError

    def out_of_memory(*_: object) -> None:
        raise error_type("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 81.2GiB.")

    model._apply = out_of_memory  # the failure XLA raises; nothing else is replaced
    processed = feats.process(feats.raw_features(QUERY, Alignment.single(QUERY)), cfg, BUCKET, 0)
    with pytest.raises(ResourceExhausted, match=f"out of memory running model_3 on {len(QUERY)} residues .padded to {BUCKET}"):
        model.run("model_3", {}, processed, ChainLayout.of(QUERY), 0, 0, lambda: False)
    assert ResourceExhausted is errors.ResourceExhausted  # the adapter answers it as a (refunded) model failure


def test_msa_stacks_are_sized_to_the_msa_depth_bucket() -> None:
    """Full-size models: max_msa_seqs cluster centres, the rest extra rows up to the model's cap, padded to buckets."""
    from phonos_models.alphafold2 import architecture

    def sized(rows: int, max_msa_seqs: int = 512, use_templates: bool = False, model: str = "model_1",
              preset: str = "monomer") -> tuple[int, int, int, int]:
        cfg = architecture.build_config(model, preset, tiny=False, use_templates=use_templates, num_recycles=0)
        s = architecture.size_msa(cfg, preset, rows, max_msa_seqs, tiny=False)
        return s.clusters, s.extra, s.padded_clusters, s.padded_extra

    assert sized(1) == (1, 0, 1, 1)
    assert sized(6) == (6, 0, 16, 1)
    assert sized(300) == (300, 0, 512, 1)
    assert sized(3000) == (512, 2488, 512, 4096)
    assert sized(50_000) == (512, 5120, 512, 5120)  # DeepMind's sizes exactly
    assert sized(50_000, model="model_2") == (512, 1024, 512, 1024)
    assert sized(3000, max_msa_seqs=64) == (64, 2936, 64, 4096)
    assert sized(6, use_templates=True) == (6, 0, 16, 1)
    assert sized(600, use_templates=True) == (508, 92, 508, 256)  # 4 of 512 kept back for template rows
    assert sized(3000, max_msa_seqs=508, model="model_1_multimer_v3", preset="multimer") == (508, 2048, 508, 2048)
    assert sized(6, max_msa_seqs=508, model="model_1_multimer_v3", preset="multimer") == (6, 0, 16, 1)


def test_a_relax_that_runs_out_of_time_still_delivers_every_unrelaxed_file(monomer: tuple) -> None:
    """relax: all with a time limit the worker cannot meet: the job's files are all there, and it says why."""
    import dataclasses

    from phonos_config.relax import RelaxSettings

    prediction, _ = monomer
    asked = dataclasses.replace(prediction, request=dataclasses.replace(prediction.request, relax="all"))
    heard: list = []
    result = serving.result(asked, RelaxSettings(timeout_s=0.3), report=heard.append)
    assert [(p.stage, p.step, p.total) for p in heard] == [("relax", 0, 2), ("relax", 0, 2)]
    assert heard[-1].message == "Amber relax timed out"
    formats = [f.format for f in result.files]
    # no relaxed_* files; the plots and the zip follow the structure and score files
    assert formats == ["pdb", "cif", "json", "a3m", "timings", "rank_2_pdb", "plddt_plot", "coverage_plot", "zip"]
    relax = result.metadata["relax"]
    assert relax["mode"] == "all" and relax["status"] == "timed_out" and relax["relaxed"] == []
    assert set(relax["errors"]) == {"model_1", "model_2"}
    assert "did not finish within 0.3 s" in result.metadata["warnings"][0]
    assert "unrelaxed files are delivered" in result.metadata["warnings"][0]
    scores = json.loads(result.files[2].content)
    assert scores["relax"]["status"] == "timed_out" and scores["relax"]["models"] == {}
    assert "clashes_relaxed" not in result.metrics and result.metadata["timings"]["relax"] < 5
