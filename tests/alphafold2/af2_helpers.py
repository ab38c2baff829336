"""Constants and helpers shared by the AlphaFold2 tests (imported by module name)."""

from __future__ import annotations

import tempfile
from pathlib import Path

BUCKET = 48
COMPILE_CACHE = Path(tempfile.gettempdir()) / "phonos-af2-test-jax-cache"
QUERY = "MKTVRQERLKSIVRILERSKEPVSGAQLAEELSVSRQVIVQ"  # 41 aa, bucket 48


def settings_env(**extra: str) -> dict[str, str]:
    return {
        "PHONOS_ALPHAFOLD2_LENGTH_BUCKETS": str(BUCKET),
        "PHONOS_ALPHAFOLD2_COMPILE_CACHE": str(COMPILE_CACHE),
        **extra,
    }


def mutate(sequence: str, every: int, offset: int = 0) -> str:
    """A homolog: every `every`-th residue swapped for a chemically different one."""
    swap = str.maketrans("ACDEFGHIKLMNPQRSTVWY", "GSEDYAKRVIFQSNKTSILF")
    return "".join(c.translate(swap) if (i + offset) % every == 0 else c for i, c in enumerate(sequence))


def write_template_database(root: Path, pdb_id: str, sequence: str) -> tuple[Path, Path]:
    """A one-chain template database: `<root>/pdb_seqres.txt` + `<root>/mmcif/<pdb_id>.cif`.

    The chain is an extended backbone (3.8 Å CA spacing) written as a
    PDB-style mmCIF with the header fields DeepMind's parser reads (method,
    resolution, release date). Returns (pdb_seqres, mmcif_dir).
    """
    import re

    import gemmi
    import numpy as np
    from alphafold.common import protein
    from alphafold.common import residue_constants as rc

    length = len(sequence)
    positions = np.zeros((length, rc.atom_type_num, 3), np.float32)
    mask = np.zeros((length, rc.atom_type_num), np.float32)
    offsets = {"N": (-0.5, 1.0, 0.0), "CA": (0.0, 0.0, 0.0), "C": (1.2, 0.5, 0.0), "O": (1.4, 1.6, 0.0), "CB": (-0.5, -1.0, 1.0)}
    for i, letter in enumerate(sequence):
        for atom, offset in offsets.items():
            if atom == "CB" and letter == "G":
                continue
            positions[i, rc.atom_order[atom]] = np.array(offset) + np.array([3.8 * i, 0.0, 0.0])
            mask[i, rc.atom_order[atom]] = 1.0
    chain = protein.Protein(atom_positions=positions, aatype=np.array([rc.restype_order[c] for c in sequence]),
                            atom_mask=mask, residue_index=np.arange(1, length + 1), chain_index=np.zeros(length, int),
                            b_factors=np.zeros((length, rc.atom_type_num)))
    structure = gemmi.read_pdb_string(protein.to_pdb(chain))
    structure.setup_entities()
    structure.entities[0].full_sequence = [residue.name for residue in structure[0][0]]
    structure.assign_label_seq_id()
    document = structure.make_mmcif_document()
    block = document.sole_block()
    block.name = pdb_id.upper()
    block.set_pair("_exptl.method", "'X-RAY DIFFRACTION'")
    block.set_pair("_refine.ls_d_res_high", "2.0")
    block.set_pair("_pdbx_audit_revision_history.revision_date", "1999-01-01")
    # gemmi leaves _chem_comp.type unknown; DeepMind keeps only peptide-linked chains.
    text = re.sub(r"^([A-Z]{3}) \.$", r"\1 'L-peptide linking'", document.as_string(), flags=re.M)
    mmcif_dir = root / "mmcif"
    mmcif_dir.mkdir(parents=True, exist_ok=True)
    (mmcif_dir / f"{pdb_id}.cif").write_text(text)
    seqres = root / "pdb_seqres.txt"
    seqres.write_text(f">{pdb_id}_A mol:protein length:{length}  PHONOS TEST TEMPLATE\n{sequence}\n"
                      f">9zzz_A mol:protein length:30  UNRELATED\n{'GSHMASGSHMASPEPEPEKKKWWWLLLLAA'}\n")
    return seqres, mmcif_dir


def mmcif_category(mmcif: str, name: str) -> list[dict[str, str]]:
    """The rows of one mmCIF category (`name` without the leading underscore), values unquoted."""
    import gemmi

    table = gemmi.cif.read_string(mmcif).sole_block().find_mmcif_category(f"_{name}.")
    tags = [tag.removeprefix(f"_{name}.") for tag in table.tags]
    return [dict(zip(tags, (gemmi.cif.as_string(v) for v in row), strict=True)) for row in table]


def qa_metrics(mmcif: str) -> tuple[dict[str, float], list[tuple[str, int, str, float]]]:
    """ModelCIF's QA metrics of model 1: {metric type: global value}, and the local pLDDT rows
    (label_asym_id, label_seq_id, label_comp_id, value) in file order."""
    metrics = {row["id"]: row for row in mmcif_category(mmcif, "ma_qa_metric")}
    globals_ = {metrics[row["metric_id"]]["type"]: float(row["metric_value"])
                for row in mmcif_category(mmcif, "ma_qa_metric_global") if row["model_id"] == "1"}
    local = [(row["label_asym_id"], int(row["label_seq_id"]), row["label_comp_id"], float(row["metric_value"]))
             for row in mmcif_category(mmcif, "ma_qa_metric_local")
             if metrics[row["metric_id"]]["type"] == "pLDDT" and row["model_id"] == "1"]
    return globals_, local
