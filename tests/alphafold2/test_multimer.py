"""AlphaFold-Multimer (tiny v3 weights of the real architecture) on complexes written with ':' chain breaks."""

from __future__ import annotations

import json

import gemmi
import numpy as np
import pytest
from af2_helpers import QUERY, mutate
from phonos_models.alphafold2 import serving
from phonos_models.alphafold2.pipeline import Engine, Request, RequestError
from phonos_models.common import result_files

pytestmark = pytest.mark.integration

CHAIN_A = QUERY[:20]
CHAIN_B = "PDLSKEALRQAIEEAVRNGNT"  # 21 aa; 41 in all, the 48 bucket
COMPLEX = f"{CHAIN_A}:{CHAIN_B}"


def files_of(prediction) -> dict[str, result_files.ResultFile]:
    result = result_files.decode(result_files.encode(serving.result(prediction), batched=False))
    return {f.format: f for f in result.files} | {"_result": result}  # type: ignore[dict-item]


@pytest.fixture(scope="module")
def heterodimer(engine: Engine):
    return engine.predict(Request(sequence=COMPLEX, model_preset="multimer", num_recycles=1, num_models=2))


def test_a_heterodimer_comes_back_with_chains_a_and_b_and_interface_confidence(heterodimer) -> None:
    prediction = heterodimer
    files = files_of(prediction)
    result = files.pop("_result")

    pdb = gemmi.read_pdb_string(files["pdb"].content.decode())
    chains = {chain.name: chain for chain in pdb[0]}
    assert list(chains) == ["A", "B"]
    for name, sequence in (("A", CHAIN_A), ("B", CHAIN_B)):
        residues = list(chains[name])
        assert gemmi.one_letter_code([r.name for r in residues]).upper() == sequence
        assert [r.seqid.num for r in residues] == list(range(1, len(sequence) + 1))  # numbered per chain
    assert files["pdb"].content.decode().count("TER") == 2
    cif = gemmi.cif.read_string(files["cif"].content.decode()).sole_block()
    assert sorted(set(cif.find_loop("_atom_site.auth_asym_id"))) == ["A", "B"]
    assert "NOT A REAL PREDICTION" in files["cif"].content.decode().split("loop_")[0]

    scores = json.loads(files["json"].content)
    assert scores["sequence"] == COMPLEX
    assert [(c["id"], c["length"]) for c in scores["chains"]] == [("A", 20), ("B", 21)]
    assert all(0 <= c["ptm"] <= 1 and 0 <= c["mean_plddt"] <= 100 for c in scores["chains"])
    assert np.array(scores["pae"]).shape == (41, 41) and len(scores["plddt"]) == 41
    assert 0 < scores["iptm"] < 1 and 0 < scores["ptm"] < 1
    [interface] = scores["interfaces"]
    assert interface["chains"] == ["A", "B"] and 0 < interface["iptm"] < 1 and interface["mean_pae"] > 0
    best = prediction.ranked[0]
    pae = best.pae
    assert interface["mean_pae"] == pytest.approx((pae[:20, 20:].sum() + pae[20:, :20].sum()) / (2 * 20 * 21), abs=1e-3)
    # Ranked as DeepMind ranks multimer models: 0.8 ipTM + 0.2 pTM.
    assert scores["ranked_by"] == "0.8*iptm+0.2*ptm"
    confidences = [entry["ranking_confidence"] for entry in scores["ranking"]]
    assert confidences == sorted(confidences, reverse=True) and len(confidences) == 2
    for entry in scores["ranking"]:
        assert entry["ranking_confidence"] == pytest.approx(0.8 * entry["iptm"] + 0.2 * entry["ptm"], abs=2e-4)

    assert result.metrics["iptm"] == round(scores["iptm"], 4) and "ptm" in result.metrics
    meta = result.metadata
    assert [w["model"] for w in meta["weights"]] == ["model_1_multimer_v3", "model_2_multimer_v3"]
    assert [(c["id"], c["length"], c["msa_depth"]) for c in meta["chains"]] == [("A", 20, 1), ("B", 21, 1)]
    assert meta["model_preset"] == "multimer" and meta["msa_pairing"].startswith("query rows only")
    assert all(0 <= n <= 1 for n in meta["recycles"].values())
    assert files["rank_2_pdb"].extension == "rank_2.pdb"
    assert files["a3m"].content.decode() == f"#chain A\n>query\n{CHAIN_A}\n#chain B\n>query\n{CHAIN_B}\n"



def test_the_complexs_pdb_and_mmcif_read_in_biopython_and_gemmi_with_chains_a_and_b(heterodimer) -> None:
    """What a structural biologist opens the files with: Biopython's PDB and mmCIF parsers (strict: a malformed
    record raises) and gemmi's mmCIF reader give the same two chains, residues and sequences."""
    import io

    from Bio.PDB import MMCIFParser, PDBParser
    from Bio.SeqUtils import seq1

    files = files_of(heterodimer)
    expected = [("A", CHAIN_A), ("B", CHAIN_B)]
    for parser, text in ((PDBParser(PERMISSIVE=False, QUIET=True), files["pdb"].content.decode()),
                         (MMCIFParser(QUIET=True), files["cif"].content.decode())):
        structure = parser.get_structure("complex", io.StringIO(text))
        assert len(structure) == 1
        assert [(chain.id, seq1("".join(r.get_resname() for r in chain))) for chain in structure[0]] == expected
    cif = gemmi.make_structure_from_block(gemmi.cif.read_string(files["cif"].content.decode()).sole_block())
    assert [(chain.name, gemmi.one_letter_code([r.name for r in chain]).upper()) for chain in cif[0]] == expected

def test_a_homodimer_with_one_user_a3m_per_chain(engine: Engine, heterodimer) -> None:
    a3m = f">query\n{CHAIN_B}\n" + "".join(f">hom{k}\n{mutate(CHAIN_B, every=k)}\n" for k in (3, 4, 5))
    prediction = engine.predict(Request(sequence=f"{CHAIN_B}:{CHAIN_B}", model_preset="multimer", msa_mode="a3m",
                                        a3m=(a3m, a3m), num_recycles=0))
    files = files_of(prediction)
    meta = files.pop("_result").metadata
    assert [(c["id"], c["msa_depth"]) for c in meta["chains"]] == [("A", 4), ("B", 4)]
    assert "msa_pairing" in meta and meta["msa_stacks"]["model_1_multimer_v3"]["clusters"] == min(8, meta["msa_depth"])
    assert files["a3m"].content.decode() == f"#chain A\n{a3m}#chain B\n{a3m}"
    pdb = gemmi.read_pdb_string(files["pdb"].content.decode())
    assert [(chain.name, len(chain)) for chain in pdb[0]] == [("A", 21), ("B", 21)]
    # The homomer's copies are told apart (sym_id) but are the same entity.
    from phonos_models.alphafold2 import multimer_features
    from phonos_models.alphafold2.msa import parse_a3m

    merged = multimer_features.assemble([multimer_features.chain_features(CHAIN_B, parse_a3m(a3m, CHAIN_B), None, False)
                                         for _ in range(2)])
    assert set(merged["entity_id"]) == {1} and list(np.unique(merged["sym_id"])) == [1, 2]
    assert list(np.unique(merged["asym_id"])) == [1, 2]


def test_chains_keep_the_order_of_the_sequence(engine: Engine) -> None:
    """DeepMind's merge runs A:B:A as A, A, B; the files keep the order (and labels) of the sequence."""
    from phonos_models.alphafold2 import multimer_features
    from phonos_models.alphafold2.msa import Alignment

    short_a, short_b = CHAIN_A[:12], CHAIN_B[:12]
    merged = multimer_features.assemble([multimer_features.chain_features(c, Alignment.single(c), None, True)
                                         for c in (short_a, short_b, short_a)])
    assert [int(merged["asym_id"][i]) for i in (0, 12, 24)] == [1, 3, 2]  # merged order: A, A(copy), B
    assert [int(merged["entity_id"][i]) for i in (0, 12, 24)] == [1, 1, 2]
    assert [int(merged["sym_id"][i]) for i in (0, 12, 24)] == [1, 2, 1]

    prediction = engine.predict(Request(sequence=f"{short_a}:{short_b}:{short_a}", model_preset="multimer",
                                        num_recycles=0))
    pdb = gemmi.read_pdb_string(files_of(prediction)["pdb"].content.decode())
    assert [(c.name, gemmi.one_letter_code([r.name for r in c]).upper()) for c in pdb[0]] == [
        ("A", short_a), ("B", short_b), ("C", short_a)]
    scores = json.loads(files_of(prediction)["json"].content)
    assert [pair["chains"] for pair in scores["interfaces"]] == [["A", "B"], ["A", "C"], ["B", "C"]]
    # The outputs are read back in input order: input chain B sits at merged residues 24-35.
    from phonos_models.alphafold2 import architecture
    from phonos_models.alphafold2.runner import MultimerModel

    model = MultimerModel(architecture.build_config("model_1_multimer_v3", "multimer", tiny=True,
                                                    use_templates=False, num_recycles=0))
    order = model._input_order(multimer_features.pad(merged, 48, 24), 36)
    assert list(order) == [*range(12), *range(24, 36), *range(12, 24)]


def test_recycling_stops_early_as_deepminds_multimer_does() -> None:
    from phonos_models.alphafold2 import architecture
    from phonos_models.alphafold2.runner import MultimerModel

    cfg = architecture.build_config("model_1_multimer_v3", "multimer", tiny=True, use_templates=False, num_recycles=20)
    model = MultimerModel(cfg)
    assert model.early_stop == 0.5  # AlphaFold 2.3's recycle_early_stop_tolerance
    assert not model._converged({"tol": 0.1}, 0)  # the first pass always recycles
    assert model._converged({"tol": 0.4}, 1) and not model._converged({"tol": 0.6}, 5)


def test_the_engine_refuses_malformed_complexes(engine: Engine) -> None:
    with pytest.raises(RequestError, match="needs model_preset \"multimer\""):
        engine.predict(Request(sequence=COMPLEX, model_preset="monomer_ptm"))
    with pytest.raises(RequestError, match="one A3M per chain"):
        engine.predict(Request(sequence=COMPLEX, model_preset="multimer", msa_mode="a3m", a3m=f">q\n{CHAIN_A}\n"))
    with pytest.raises(RequestError, match="sequence chain 2: the first record"):
        engine.predict(Request(sequence=COMPLEX, model_preset="multimer", msa_mode="a3m",
                               a3m=(f">q\n{CHAIN_A}\n", f">q\n{CHAIN_A}X\n")))
    with pytest.raises(RequestError, match="^sequence chain 2 is empty: put exactly one ':' between two chains"):
        engine.predict(Request(sequence=f"{CHAIN_A}::{CHAIN_B}", model_preset="multimer"))
    with pytest.raises(RequestError, match="complex has 2 chains and 51 residues"):
        engine.predict(Request(sequence=f"{QUERY}:{CHAIN_B[:10]}", model_preset="multimer"))


def test_a_complex_searches_msas_and_templates_chain_by_chain(tmp_path) -> None:
    from af2_helpers import settings_env, write_template_database
    from phonos_models.alphafold2 import build_db

    from phonos_config.alphafold2 import AlphaFold2Settings

    fasta = tmp_path / "seqs.fasta"
    homologs = [mutate(CHAIN_A, every=k, offset=k) for k in (4, 5, 7)] + [mutate(CHAIN_B, every=k) for k in (3, 5)]
    fasta.write_text("".join(f">hom{i}\n{s}\n" for i, s in enumerate(homologs)))
    built = build_db.build(fasta, tmp_path / "db", "uniref90")
    seqres, mmcif_dir = write_template_database(tmp_path / "pdb", "1tmp", mutate(CHAIN_A, every=6))
    engine = Engine(AlphaFold2Settings.from_env(settings_env(
        PHONOS_ALPHAFOLD2_UNIREF90=str(built.fasta), PHONOS_ALPHAFOLD2_PDB_SEQRES=str(seqres),
        PHONOS_ALPHAFOLD2_TEMPLATE_MMCIF_DIR=str(mmcif_dir))))
    prediction = engine.predict(Request(sequence=COMPLEX, model_preset="multimer", msa_mode="search",
                                        use_templates=True, num_recycles=0))
    meta = prediction.metadata()
    depths = {c["id"]: c["msa_depth"] for c in meta["chains"]}
    assert depths["A"] > 1 and depths["B"] > 1
    assert set(meta["timings"]["msa_hits_per_database"]) == {"A:uniref90", "B:uniref90"}
    templates = meta["templates"]
    assert templates["used"] is True and templates["hits_by_chain"] == {"A": ["1tmp_A"], "B": []}
    assert templates["models_using_templates"] == ["model_1_multimer_v3"]
    assert len(prediction.ranked[0].plddt) == 41


def test_the_complexs_mmcif_states_plddt_ptm_and_iptm_as_modelcif_qa_metrics(heterodimer) -> None:
    """Before: DeepMind's writer gave one global pLDDT (the mean over atoms' B-factors), no per-residue metric,
    no pTM or ipTM."""
    from af2_helpers import qa_metrics

    files = files_of(heterodimer)
    scores = json.loads(files["json"].content)
    globals_, local = qa_metrics(files["cif"].content.decode())
    assert globals_ == pytest.approx({"pLDDT": scores["mean_plddt"], "pTM": scores["ptm"], "ipTM": scores["iptm"]},
                                     abs=0.006)
    assert [(chain, number) for chain, number, _, _ in local] == \
        [("A", n) for n in range(1, len(CHAIN_A) + 1)] + [("B", n) for n in range(1, len(CHAIN_B) + 1)]
    assert [value for *_, value in local] == scores["plddt"]


def test_the_complexs_pae_download_is_the_scores_matrix_over_both_chains(heterodimer) -> None:
    """`?format=pae` (AFDB's PAE JSON) comes with multimer jobs too: 41 x 41, the scores' matrix to 0.1 Angstrom."""
    files = files_of(heterodimer)
    [document] = json.loads(files["pae"].content)
    assert document["max_predicted_aligned_error"] == 31.75
    scores = json.loads(files["json"].content)
    assert document["predicted_aligned_error"] == np.round(np.asarray(scores["pae"], np.float64), 1).tolist()
    assert np.array(document["predicted_aligned_error"]).shape == (41, 41)
