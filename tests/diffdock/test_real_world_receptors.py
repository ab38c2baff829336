"""Receptor files as structural biologists send them: prepared (force-field residue names), crystal
(MSE, altlocs, ligands, waters), NMR (several models), chains without ids, mmCIF. Each is either read
with a record of what was changed or refused with a message naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from phonos_models.diffdock import receptor
from phonos_models.diffdock.pipe_validate import check_receptor, protein_residues
from phonos_models.diffdock.pocket import PocketError, parse_pocket, resolve

pytestmark = pytest.mark.unit

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()
ATOMS = [line for line in PDB.splitlines() if line.startswith("ATOM")]
SEQUENCES = {"A": "MKTAYIAKQRQISFVKSHFSRQ", "B": "GSWTEHLK"}


def _text(lines: list[str]) -> str:
    return "\n".join(lines) + "\nEND\n"


def _rename(line: str, old: str, new: str) -> str:
    return line[:17] + new + line[20:] if line[17:20] == old else line


def _blank_chain(line: str) -> str:
    return line[:21] + " " + line[22:]


def test_force_field_residue_names_are_read_as_their_amino_acids() -> None:
    # An Amber-prepared receptor: histidines as HIE/HIP, serines written as CYX here just to have a
    # disulfide name. Before: gemmi does not know these names, so every one of them vanished.
    lines = [_rename(_rename(line, "HIS", "HIE"), "SER", "CYX") for line in ATOMS]
    rec = receptor.featurize(_text(lines))
    assert rec.num_residues == 30
    assert rec.esm_sequences == {"A": "MKTAYIAKQRQICFVKCHFCRQ", "B": "GCWTEHLK"}
    assert rec.aa[17] == receptor.AMINO_ACIDS.index("HIE")  # the reference vocabulary lists HIE
    assert rec.preparation.mapped_residues == {"HIE": "H", "CYX": "C"}
    assert check_receptor(_text(lines)).residues == 30


def test_selenomethionine_keeps_its_selenium_in_the_sd_slot() -> None:
    lines = [line.replace("ATOM  ", "HETATM") if line[17:20] == "MET" else line for line in ATOMS]
    mse = [_rename(line, "MET", "MSE") for line in lines]
    mse = [line[:12] + "SE  " + line[16:76] + "SE" if line[12:16] == " SD " else line for line in mse]
    plain = receptor.featurize(_text(lines))
    rec = receptor.featurize(_text(mse))
    assert rec.atom_x.shape == plain.atom_x.shape  # before: the selenium was dropped
    assert torch.equal(rec.atom_x, plain.atom_x) and torch.allclose(rec.atom_pos, plain.atom_pos)
    assert rec.preparation.mapped_residues == {"MSE": "M"} and rec.preparation.residues_missing_atoms == 0


def test_two_chains_without_ids_separated_by_ter_stay_two_chains() -> None:
    a = [_blank_chain(line) for line in ATOMS if line[21] == "A"]
    b = [_blank_chain(line) for line in ATOMS if line[21] == "B"]
    rec = receptor.featurize(_text([*a, "TER", *b, "TER"]))
    # before: one chain, chain B's residue 8 merged into chain A's residue 8 and its other residues
    # embedded by ESM-2 as the continuation of chain A
    assert rec.num_residues == 30
    assert sorted(rec.esm_sequences.values()) == sorted(SEQUENCES.values())
    assert list(rec.preparation.renamed_chains.values()) == ["A", "B"]


def test_two_chains_with_one_id_separated_by_ter_stay_two_chains() -> None:
    a = [line for line in ATOMS if line[21] == "A"]
    b = [line[:21] + "A" + line[22:] for line in ATOMS if line[21] == "B"]
    ligand = "HETATM 9999  C1  LIG A 900      10.000  10.000  10.000  1.00  0.00           C"
    rec = receptor.featurize(_text([*a, "TER", *b, "TER", ligand]))
    # before: both blocks were labelled "A", so ESM-2 embedded chain B as the continuation of chain A
    assert rec.num_residues == 30
    assert rec.esm_sequences == {"A": SEQUENCES["A"], "B": SEQUENCES["B"]}
    assert rec.preparation.renamed_chains == {"chain A #2": "B"}  # the ligand's chain A is no protein chain
    assert "chain A #2 -> B" in " ".join(rec.preparation.warnings())
    assert check_receptor(_text([*a, "TER", *b])).chains == {"A": 22, "B": 8}
    # a pocket residue not found says which chains were relabelled (the second block is "B" now, not "A")
    with pytest.raises(PocketError, match=r"A:30 .*its chains: A, B; relabelled on reading: chain A #2 -> B\)"):
        resolve(rec.structure, parse_pocket("A:30"), rec.preparation.renamed_chains)
    assert resolve(rec.structure, parse_pocket("B:5"), rec.preparation.renamed_chains).keep.sum() > 0


def _two_chains_a() -> str:
    a = [line for line in ATOMS if line[21] == "A"]
    b = [line[:21] + "A" + line[22:] for line in ATOMS if line[21] == "B"]
    return _text([*a, "TER", *b, "TER"])


def test_a_pocket_residue_both_chains_of_one_id_have_is_refused_naming_ids_that_work() -> None:
    rec = receptor.featurize(_two_chains_a())  # chain A (22 residues), TER, chain A again (8, relabelled B)
    # before: "A:5" silently meant the first chain A
    with pytest.raises(PocketError, match=r"^pocket residue A:5 is ambiguous: 2 protein chains of the receptor answer "
                       r"to \"A\" and have a residue 5; name the one you mean: A#1:5 \(the file's first chain A\) or "
                       r"B:5 \(the file's second chain A, relabelled B on reading\)$"):
        resolve(rec.structure, parse_pocket("A:15,A:5"), rec.preparation.renamed_chains)
    cas = {f"{label}:{residue.seqid.num}": residue["CA"][0].pos for label, residue in protein_residues(rec.structure)}
    for given, docked in (("A#1:5", "A:5"), ("A#2:5", "B:5"), ("B:5", "B:5"), ("A:15", "A:15")):
        pocket = resolve(rec.structure, parse_pocket(given), rec.preparation.renamed_chains)
        assert pocket.residues_as_docked == (docked,) and pocket.as_json()["residues_as_docked"] == [docked]
        assert pocket.center.tolist() == pytest.approx(cas[docked].tolist())
        chain = "the file's first chain A" if docked.startswith("A") else "the file's second chain A, relabelled B"
        assert pocket.notes == (f"pocket residue {given} is {docked} as docked ({chain}" + (" on reading)" if "B" in docked
                                                                                            else ")"),)
    with pytest.raises(PocketError, match=r"A#3:5 are not protein residues"):
        resolve(rec.structure, parse_pocket("A#3:5"), rec.preparation.renamed_chains)


def test_a_chain_id_shared_by_charmm_segments_is_ambiguous_and_segments_name_their_chains() -> None:
    lines = [line[:21] + "A" + line[22:72] + ("PROA" if line[21] == "A" else "PROB") + line[76:] for line in ATOMS]
    rec = receptor.featurize(_text(lines))
    assert sorted(rec.esm_sequences) == ["PROAA", "PROBA"]
    with pytest.raises(PocketError, match=r"A:5 is ambiguous: .* PROAA:5 \(chain A of segment PROA\) or PROBA:5 "
                       r"\(chain A of segment PROB\)$"):
        resolve(rec.structure, parse_pocket("A:5"), {})
    for given, docked in (("PROBA:5", "PROBA:5"), ("PROB:5", "PROBA:5"), ("A#2:5", "PROBA:5"), ("A:15", "PROAA:15")):
        assert resolve(rec.structure, parse_pocket(given), {}).residues_as_docked == (docked,)  # before: PROBA refused


def test_the_one_chain_of_a_file_without_chain_ids_is_named_by_an_empty_chain_part() -> None:
    rec = receptor.featurize(_text([_blank_chain(line) for line in ATOMS if line[21] == "A"]))
    assert list(rec.esm_sequences) == [""]
    # before: no residue id could name it (":5" was malformed, "A:5" missing from "its chains: )")
    assert resolve(rec.structure, parse_pocket(":5,:6"), {}).residues_as_docked == (":5", ":6")
    with pytest.raises(PocketError, match=r'A:5 are not protein residues .*\(its chains: one without an id \(write ":45"\)\)'):
        resolve(rec.structure, parse_pocket("A:5"), {})


def test_a_free_amino_acid_ligand_after_the_chains_is_a_ligand_not_a_residue() -> None:
    # As a glutamate-receptor structure is written: the chains, TER, then the bound glutamate as HETATM
    # records with chain A's id (and a sulfate after it)
    glutamate = ["HETATM" + line[6:21] + "A 901" + line[26:] for line in ATOMS if line[17:26] == "GLU B   5"]
    sulfate = "HETATM 9999  S   SO4 A 902      10.000  10.000  10.000  1.00  0.00           S"
    rec = receptor.featurize(_text([*ATOMS, "TER", *glutamate, sulfate]))
    # before: a receptor residue, embedded by ESM-2 as the end of chain A's sequence (or a chain of its own)
    assert rec.num_residues == 30 and rec.esm_sequences == SEQUENCES
    assert rec.preparation.other_groups == {"GLU": 1, "SO4": 1} and rec.preparation.renamed_chains == {}
    assert check_receptor(_text([*ATOMS, "TER", *glutamate])).residues == 30
    hetatm_protein = [line.replace("ATOM  ", "HETATM") for line in ATOMS]  # some tools write every record so
    assert receptor.featurize(_text(hetatm_protein)).esm_sequences == SEQUENCES


def test_chains_that_share_an_id_and_residue_numbers_are_refused() -> None:
    a = [_blank_chain(line) for line in ATOMS if line[21] == "A"]
    b = [_blank_chain(line) for line in ATOMS if line[21] == "B"]
    with pytest.raises(receptor.ReceptorError, match=r"LYS 8 has atom \w+ twice.*own chain id"):
        check_receptor(_text(a + b))  # no TER: gemmi would keep one atom of each name, silently


def test_chains_numbered_alike_without_ter_are_refused_not_cut() -> None:
    a = [_blank_chain(line) for line in ATOMS if line[21] == "A"]
    b = [_blank_chain(line) for line in ATOMS if line[21] == "B" and int(line[22:26]) < 8]
    # before: gemmi read chain B's residues 1-7 as alternative conformations of chain A's and dropped them
    with pytest.raises(receptor.ReceptorError, match=r"chain without an id has two residues numbered 1: .*own chain id"):
        check_receptor(_text(a + b))


def test_charmm_segments_with_blank_chain_ids_are_two_chains() -> None:
    # CHARMM-GUI / NAMD / VMD write the chain as a segment id (columns 73-76) and leave the chain id blank
    lines = [_blank_chain(line)[:72] + ("PROA" if line[21] == "A" else "PROB") + line[76:] for line in ATOMS]
    rec = receptor.featurize(_text(lines))
    # before: 22 residues: chain B's 8, numbered like chain A's first 8, were dropped as "alternative conformations"
    assert rec.num_residues == 30
    assert rec.esm_sequences == {"PROA": SEQUENCES["A"], "PROB": SEQUENCES["B"]}
    assert rec.preparation.renamed_chains == {}


def test_crystal_and_nmr_files_say_what_was_dropped_or_chosen() -> None:
    model_2 = [line[:30] + f"{float(line[30:38]) + 50:8.3f}" + line[38:] for line in ATOMS]
    altloc = []
    for line in ATOMS:
        if line[21] == "A" and line[22:26].strip() == "3":
            # microheterogeneity: THR in altloc A, a VAL 3 Å away in B (gemmi makes that two residues)
            shifted = line[:30] + f"{float(line[30:38]) + 3:8.3f}" + line[38:]
            altloc.append(line[:16] + "A" + line[17:])
            if line[12:16] in (" N  ", " CA ", " C  ", " O  ", " CB "):
                altloc.append(shifted[:16] + "BVAL" + shifted[20:])
        else:
            altloc.append(line)
        if line[12:16] == " N  ":
            altloc.append(line[:12] + " H  " + line[16:76] + " H")
    no_ca = [line for line in altloc if not (line[21] == "B" and line[22:26].strip() == "2" and line[12:16] == " CA ")]
    extra = ["HETATM 9001  C1  LIG A 101       1.000   1.000   1.000  1.00  0.00           C",
             "HETATM 9002  O   HOH A 201       2.000   2.000   2.000  1.00  0.00           O"]
    text = "\n".join(["MODEL        1", *no_ca, *extra, "ENDMDL", "MODEL        2", *model_2, "ENDMDL", "END"])
    rec = receptor.featurize(text)
    prep = rec.preparation
    assert (prep.models, prep.altloc_residues, prep.waters_removed) == (2, 1, 1)
    assert prep.hydrogens_removed == sum(1 for line in ATOMS if line[12:16] == " N  ")
    assert prep.other_groups == {"LIG": 1} and prep.residues_without_ca == ("B:2",)
    assert rec.num_residues == 29
    ca_3 = rec.pos[2].double().numpy() + rec.center  # altloc A kept, not B's shifted copy
    assert abs(ca_3[0] - float(next(line for line in ATOMS if line[21] == "A" and line[22:26].strip() == "3"
                                      and line[12:16] == " CA ")[30:38])) < 1e-3
    joined = " ".join(prep.warnings())
    assert "2 models" in joined and "alternative locations" in joined and "B:2" in joined


def test_mmcif_is_refused_with_a_message_saying_so() -> None:
    import gemmi

    structure = gemmi.read_pdb_string(PDB)
    structure.setup_entities()
    with pytest.raises(receptor.ReceptorError, match="looks like mmCIF.*PDB format"):
        check_receptor(structure.make_mmcif_document().as_string())


def test_crlf_line_endings_read_like_lf() -> None:
    rec = receptor.featurize("\r\n".join(ATOMS) + "\r\nEND\r\n")
    assert rec.esm_sequences == SEQUENCES and rec.num_residues == 30


def test_records_cut_after_the_coordinates_and_no_final_newline_are_read() -> None:
    rec = receptor.featurize("\n".join(line[:54] for line in ATOMS))  # before: "line is too short" on the last one
    assert rec.esm_sequences == SEQUENCES and rec.atom_x.shape[0] == 253


def test_charmm_atom_names_fill_the_same_slots() -> None:
    # CHARMM-GUI writes HSD for histidine, CD for isoleucine's CD1 and OT1/OT2 for the C-terminal oxygens
    def charmm(line: str) -> str:
        line = _rename(line, "HIS", "HSD")
        if line[17:20] == "ILE" and line[12:16] == " CD1":
            line = line[:12] + " CD " + line[16:]
        if line[21] == "B" and line[22:26].strip() == "8" and line[12:16] in (" O  ", " OXT"):
            line = line[:12] + (" OT1" if line[12:16] == " O  " else " OT2") + line[16:]
        return line

    plain = receptor.featurize(_text(ATOMS))
    rec = receptor.featurize(_text([charmm(line) for line in ATOMS]))
    assert rec.preparation.residues_missing_atoms == 0  # before: every ILE and the last residue lacked atoms
    assert torch.allclose(rec.atom_pos, plain.atom_pos) and rec.esm_sequences == SEQUENCES


def test_a_chain_too_long_for_esm2_is_named_by_its_chain_id_in_json_words() -> None:
    lines = [f"ATOM  {n:5d}  CA  ALA B{n:4d}    {n * 3.8 % 900:8.3f}{0:8.3f}{0:8.3f}  1.00  0.00           C"
             for n in range(1, 1024)]
    with pytest.raises(receptor.ReceptorError, match='^receptor chain "B" has 1023 residues; ESM-2 embeds at most 1022'):
        check_receptor(_text(lines))  # before: chain 'B' (Python's quotes; the API speaks JSON)


@pytest.mark.parametrize("count", [1, 9])
def test_a_receptor_of_fewer_than_ten_residues_is_refused_by_the_model_too(count: int) -> None:
    """A direct Triton client meets the same rule as the API: featurisation refuses it, saying how many it found."""
    lines = [line for line in ATOMS if line[21] == "A" and int(line[22:26]) <= count]
    with pytest.raises(receptor.ReceptorError, match=rf"^protein has {count} amino-acid residues? with a CA atom "
                                                      rf"\(chain \"A\": {count}\); DiffDock needs a protein receptor "
                                                      r"of at least 10 "):
        receptor.featurize(_text(lines))
    ten = [line for line in ATOMS if line[21] == "A" and int(line[22:26]) <= 10]
    assert receptor.featurize(_text(ten)).num_residues == 10
    ca_only = [line for line in ten if line[12:16] == " CA "]  # a CA trace counts, as in the reference
    assert check_receptor(_text(ca_only)).residues == 10
