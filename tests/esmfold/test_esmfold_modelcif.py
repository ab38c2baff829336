"""ESMFold's mmCIF as a structural biologist's tools read it: ModelCIF's QA metrics (what Mol*, ModelArchive and
python-modelcif take confidence from; before, pLDDT was only in the B-factors) and PDBx's one-letter codes, read
back with gemmi and Biopython and checked against the scores JSON. Tiny random weights, one real fold."""

from __future__ import annotations

import io
import json

import gemmi
import pytest
from Bio.PDB import MMCIFParser
from Bio.PDB.MMCIF2Dict import MMCIF2Dict
from phonos_models.common.structure import pdb_to_mmcif
from phonos_models.esmfold import files
from phonos_models.esmfold.batching import FoldJob
from phonos_models.esmfold.predict import fold

pytestmark = pytest.mark.integration

CHAIN_A = "MKTVRQXRLKSIVRILERS"  # 19 aa, an unknown residue at 7
CHAIN_B = "GSHMASMTGWQQ"  # 12 aa


@pytest.fixture(scope="module")
def dimer(tiny):
    (result,) = fold(tiny.model, [FoldJob(f"{CHAIN_A}:{CHAIN_B}", 1, None)])
    built = files.model_result(result, tiny.weights, tiny.instance)
    by_format = {f.format: f.content.decode() for f in built.files if f.format in ("cif", "json")}
    return result, by_format["cif"], json.loads(by_format["json"])


def category(mmcif: str, name: str) -> list[dict[str, str]]:
    table = gemmi.cif.read_string(mmcif).sole_block().find_mmcif_category(f"_{name}.")
    tags = [tag.removeprefix(f"_{name}.") for tag in table.tags]
    return [dict(zip(tags, (gemmi.cif.as_string(v) for v in row), strict=True)) for row in table]


def check_qa_metrics(mmcif: str, scores: dict) -> None:
    """Every residue's local pLDDT is the JSON's value, chain by chain; the globals are the JSON's numbers."""
    metrics = {row["id"]: row for row in category(mmcif, "ma_qa_metric")}
    by_type = {(row["type"], row["mode"]): row["id"] for row in metrics.values()}
    assert set(by_type) == {("pLDDT", "global"), ("pLDDT", "local"), ("pTM", "global"), ("ipTM", "global")}
    groups = {row["group_id"] for row in category(mmcif, "ma_software_group")}
    assert {row["software_group_id"] for row in metrics.values()} <= groups
    models = {row["model_id"] for row in category(mmcif, "ma_model_list")}
    assert models == {"1"}
    assert category(mmcif, "audit_conform")[0]["dict_name"] == "mmcif_ma.dic"

    globals_ = {row["metric_id"]: float(row["metric_value"]) for row in category(mmcif, "ma_qa_metric_global")}
    assert globals_[by_type["pLDDT", "global"]] == pytest.approx(scores["mean_plddt_ca"], abs=0.006)
    assert globals_[by_type["pTM", "global"]] == pytest.approx(scores["ptm"], abs=1e-4)
    assert globals_[by_type["ipTM", "global"]] == pytest.approx(scores["iptm"], abs=1e-4)

    local = category(mmcif, "ma_qa_metric_local")
    assert {row["metric_id"] for row in local} == {by_type["pLDDT", "local"]}
    assert {row["model_id"] for row in local} <= models
    # one row per residue, in the JSON's order (chains A then B), the JSON's values
    assert [(row["label_asym_id"], int(row["label_seq_id"])) for row in local] == \
        [("A", n) for n in range(1, len(CHAIN_A) + 1)] + [("B", n) for n in range(1, len(CHAIN_B) + 1)]
    assert [float(row["metric_value"]) for row in local] == scores["plddt"]
    assert [gemmi.find_tabulated_residue(row["label_comp_id"]).one_letter_code.upper() for row in local] == \
        list(CHAIN_A + CHAIN_B)
    # each row points at a residue of _entity_poly_seq through _struct_asym
    entity_of = {row["id"]: row["entity_id"] for row in category(mmcif, "struct_asym")}
    poly = {(row["entity_id"], row["num"]): row["mon_id"] for row in category(mmcif, "entity_poly_seq")}
    assert all(poly[entity_of[row["label_asym_id"]], row["label_seq_id"]] == row["label_comp_id"] for row in local)


def test_mmcif_carries_the_jsons_confidence_as_modelcif_qa_metrics(dimer) -> None:
    _, mmcif, scores = dimer
    check_qa_metrics(mmcif, scores)


def test_mmcif_with_qa_metrics_still_parses_in_gemmi_and_biopython(dimer) -> None:
    _, mmcif, scores = dimer
    structure = gemmi.make_structure_from_block(gemmi.cif.read_string(mmcif).sole_block())
    assert [(chain.name, len(chain)) for chain in structure[0]] == [("A", len(CHAIN_A)), ("B", len(CHAIN_B))]
    bio = MMCIFParser(QUIET=True).get_structure("esmfold", io.StringIO(mmcif))
    chains = {chain.id: list(chain) for chain in bio[0]}
    assert [len(chains["A"]), len(chains["B"])] == [len(CHAIN_A), len(CHAIN_B)]
    # the CA's B-factor (Biopython) and the local metric (MMCIF2Dict) agree with the JSON
    ca_b = [residue["CA"].get_bfactor() for residue in chains["A"] + chains["B"]]
    assert ca_b == pytest.approx(scores["plddt"], abs=0.006)
    raw = MMCIF2Dict(io.StringIO(mmcif))
    assert [float(v) for v in raw["_ma_qa_metric_local.metric_value"]] == scores["plddt"]


def test_unknown_residue_is_parenthesised_in_the_one_letter_code_and_x_in_the_canonical_one(dimer) -> None:
    _, mmcif, _ = dimer
    rows = {row["entity_id"]: row for row in category(mmcif, "entity_poly")}
    # before: gemmi wrote "MKTVRQXRLK..." in pdbx_seq_one_letter_code and no canonical code
    assert rows["1"]["pdbx_seq_one_letter_code"] == CHAIN_A.replace("X", "(UNK)")
    assert rows["1"]["pdbx_seq_one_letter_code_can"] == CHAIN_A
    assert rows["2"]["pdbx_seq_one_letter_code"] == rows["2"]["pdbx_seq_one_letter_code_can"] == CHAIN_B


def test_long_one_letter_codes_are_wrapped_as_the_pdb_writes_them(tiny) -> None:
    sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ" * 3 + "X"  # 100 aa
    (result,) = fold(tiny.model, [FoldJob(sequence, 0, None)])
    row = category(files.mmcif_text(result, tiny.weights), "entity_poly")[0]
    # a text field of 80-column lines (CIF lines may not pass 2048 characters; a 2,500-aa chain would)
    assert row["pdbx_seq_one_letter_code"].split("\n") == [sequence[:80], sequence[80:-1] + "(UNK)"]
    assert row["pdbx_seq_one_letter_code_can"].replace("\n", "") == sequence


def test_relaxed_mmcif_carries_the_same_qa_metrics(tiny, dimer) -> None:
    """The relaxed mmCIF is rebuilt from a PDB (OpenMM's output, here the unrelaxed one: same chains and residues);
    its QA metrics are the fold's, not numbers read back from B-factors."""
    result, _, scores = dimer
    mmcif = pdb_to_mmcif(files.pdb_text(result, tiny.weights), {"relax": "test"}, files.confidence(result, tiny.weights), name="test")
    check_qa_metrics(mmcif, scores)


def test_a_one_residue_chain_is_a_polymer_entity_with_its_sequence(tiny) -> None:
    """gemmi types a polymer by its linked residues, so a one-residue chain's entity had no `_entity_poly` row
    (no sequence, no strand id, no one-letter code), though `_entity` called it a polymer: seen for "M" and for
    the 1-aa chain of "M:GSHMAS" through the API."""
    results = fold(tiny.model, [FoldJob("M", 0, None), FoldJob("M:GSHMAS", 0, None)])
    for result, expected in zip(results, ([["1", "polypeptide(L)", "A", "M", "M"]],
                                          [["1", "polypeptide(L)", "A", "M", "M"],
                                           ["2", "polypeptide(L)", "B", "GSHMAS", "GSHMAS"]]), strict=True):
        mmcif = files.mmcif_text(result, tiny.weights)
        assert [list(row.values()) for row in category(mmcif, "entity_poly")] == expected
        assert {row["id"]: row["type"] for row in category(mmcif, "entity")} == \
            {row[0]: "polymer" for row in expected}
        structure = gemmi.read_structure_string(mmcif)
        assert [entity.polymer_type for entity in structure.entities] == [gemmi.PolymerType.PeptideL] * len(expected)
        assert [row["label_asym_id"] for row in category(mmcif, "ma_qa_metric_local")] == \
            [row[2] for row in expected for _ in row[3]]


def test_mmcif_software_is_the_code_that_ran_and_the_weights_stay_in_the_provenance(dimer, tiny) -> None:
    # `_software.version` held the weights' name ("esmfold-tiny-random-seed0"): ModelCIF's `_software` names software
    _, mmcif, _ = dimer
    (row,) = category(mmcif, "software")
    assert row["name"] == "ESMFold" and row["version"] == f"transformers {files.software.package_version('transformers')}"
    provenance = {r["key"]: r["value"] for r in category(mmcif, "phonos_provenance")}
    assert provenance["weights"] == tiny.weights.name and provenance["weights_sha256"] == tiny.weights.sha256
