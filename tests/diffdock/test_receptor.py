"""Receptor featurisation from PDB text and ESM-2 embeddings."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from phonos_models.diffdock import receptor
from phonos_models.diffdock.data import RECEPTOR_ATOM_FEATURE_DIMS
from phonos_models.diffdock.esm_embedding import ESM2_VOCAB, EsmEmbedder, TinyEsmShape, tokenize

pytestmark = pytest.mark.unit

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()


@pytest.fixture(scope="module")
def rec() -> receptor.Receptor:
    return receptor.featurize(PDB)


def test_residues_are_amino_acids_with_ca_in_file_order(rec: receptor.Receptor) -> None:
    # 22 + 8 residues; the water and the calcium ion named CA are ignored.
    assert rec.num_residues == 30
    assert rec.esm_sequences == {"A": "MKTAYIAKQRQISFVKSHFSRQ", "B": "GSWTEHLK"}
    assert rec.chain_ids == ("A",) * 22 + ("B",) * 8
    assert rec.aa[:3].tolist() == [12, 11, 16]  # MET, LYS, THR in the reference vocabulary
    assert torch.allclose(rec.pos.mean(0), torch.zeros(3), atol=1e-4)  # centred on the mean CA


def test_heavy_atoms_follow_the_reference_slots(rec: receptor.Receptor) -> None:
    expected = sum(len(receptor.ATOM_ORDER[c]) for c in "MKTAYIAKQRQISFVKSHFSRQ" + "GSWTEHLK")
    assert rec.atom_x.shape == (expected, 4)  # every slot present, no OXT, no hydrogens
    assert (rec.atom_x < torch.tensor(RECEPTOR_ATOM_FEATURE_DIMS)).all()
    # the first atom is MET N: residue MET, nitrogen (7 → slot 6), class "N*", name "N"
    assert rec.atom_x[0].tolist() == [12, 6, receptor.ATOM_TYPE_2.index("N*"), receptor.ATOM_TYPE_3.index("N")]
    ca_rows = (rec.atom_x[:, 3] == receptor.ATOM_TYPE_3.index("CA")).nonzero().flatten()
    assert torch.allclose(rec.atom_pos[ca_rows], rec.pos, atol=1e-5)
    assert rec.atom_res.max() == 29 and (rec.atom_res.diff() >= 0).all()


def test_modified_and_unknown_residues() -> None:
    lines = [line for line in PDB.splitlines() if line.startswith("ATOM") and line[21] == "A"]  # MKTAYIAK... (22)
    mse = [line.replace("MET", "MSE").replace("ATOM  ", "HETATM") if " MET " in line else line for line in lines]
    rec = receptor.featurize("\n".join(mse) + "\nEND\n")
    assert rec.esm_sequences["A"].startswith("MKT")
    assert rec.aa.tolist()[:2] == [12, 11]  # MSE is read as MET
    unk = [line.replace("MET", "UNK") for line in lines]
    rec = receptor.featurize("\n".join(unk) + "\nEND\n")
    assert rec.esm_sequences["A"].startswith("GKT")  # non-standard → G for ESM
    assert rec.aa[0] == len(receptor.AMINO_ACIDS)  # misc


@pytest.mark.parametrize(
    "text",
    [
        "",
        "HETATM    1  O   HOH W   1      20.000  20.000  20.000  1.00  0.00           O\nEND\n",
        "HETATM    1 CA    CA C   1     -15.000   0.000   0.000  1.00  0.00          CA\nEND\n",
        "this is not a pdb file\n",
    ],
)
def test_pdb_without_protein_is_rejected(text: str) -> None:
    with pytest.raises(receptor.ReceptorError):
        receptor.featurize(text)


def test_tiny_esm_embeddings_are_per_chain_and_deterministic(rec: receptor.Receptor) -> None:
    embedder = EsmEmbedder.tiny_random(TinyEsmShape(hidden_size=32))
    again = EsmEmbedder.tiny_random(TinyEsmShape(hidden_size=32))
    assert embedder.weights.sha256 == again.weights.sha256 and not embedder.weights.real
    emb = embedder.embed_residues(rec.chain_ids, rec.esm_sequences)
    assert emb.shape == (30, 32) and torch.isfinite(emb).all()
    # chain B is embedded on its own: its rows equal embedding "GSWTEHLK" alone
    assert torch.allclose(emb[22:], embedder.embed("GSWTEHLK"), atol=1e-6)
    assert tokenize("AC").tolist() == [[0, 5, 23, 2]]


def test_esm_checkpoint_directory_loads_and_embeds_identically(tmp_path: Path) -> None:
    tiny = EsmEmbedder.tiny_random(TinyEsmShape(hidden_size=32))
    tiny.model.save_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_text("\n".join(ESM2_VOCAB))
    loaded = EsmEmbedder.from_dir(tmp_path)
    assert loaded.weights.real and loaded.weights.sha256 == tiny.weights.sha256 and loaded.dim == 32
    assert torch.allclose(loaded.embed("MKTAYIAK"), tiny.embed("MKTAYIAK"), atol=1e-6)
    (tmp_path / "vocab.txt").write_text("A\nB\n")
    with pytest.raises(ValueError, match="vocabulary"):
        EsmEmbedder.from_dir(tmp_path)
