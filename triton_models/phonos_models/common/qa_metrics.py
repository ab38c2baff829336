"""ModelCIF's quality-assessment categories in a predicted structure's mmCIF, as AlphaFold DB writes them.

A viewer or pipeline that reads a predicted mmCIF (Mol*'s pLDDT colouring, ModelArchive, PDBe's tools,
python-modelcif) takes its confidence from `_ma_qa_metric` and its companions, not from the B-factor column:

* `_ma_qa_metric`: which scores the file holds (pLDDT global and local, pTM and ipTM where computed);
* `_ma_qa_metric_global`: one value per global score for model 1;
* `_ma_qa_metric_local`: the pLDDT of every residue of `_entity_poly_seq`, per chain (label_asym_id) and
  position (label_seq_id), residues without atoms included (AlphaFold2's X: the JSON lists them too).

They hang off ModelCIF's minimal model description (`_audit_conform` naming mmcif_ma.dic, `_software`,
`_ma_software_group`, `_ma_data`, `_ma_target_entity[_instance]`, `_ma_model_list`, `_ma_protocol_step`),
added only where the file lacks it (DeepMind's writer adds its own, and a global pLDDT from the atoms'
B-factors, which this replaces so the file states the JSON's numbers). Category and item names follow the
ModelCIF dictionary (mmcif_ma.dic; metric types `pLDDT`, `pTM`, `ipTM`).

Also here: `_entity_poly`'s one-letter codes as PDBx writes them, `(UNK)` in `pdbx_seq_one_letter_code` and
`X` in `pdbx_seq_one_letter_code_can` (gemmi writes `X` in the first and leaves the second out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import gemmi

# 1.4.x: the metric types pTM and ipTM are in its enumeration (1.3.9, which DeepMind names, predates them).
MODELCIF_DICT = ("mmcif_ma.dic", "1.4.6", "https://raw.githubusercontent.com/ihmwg/ModelCIF/master/dist/mmcif_ma.dic")
STANDARD = {"ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q", "GLU": "E", "GLY": "G",
            "HIS": "H", "ILE": "I", "LEU": "L", "LYS": "K", "MET": "M", "PHE": "F", "PRO": "P", "SER": "S",
            "THR": "T", "TRP": "W", "TYR": "Y", "VAL": "V"}  # fmt: skip
SEQUENCE_LINE = 80  # PDB wraps the one-letter codes at 80 columns (CIF lines may not pass 2048)
_QA = ("_ma_qa_metric.", "_ma_qa_metric_global.", "_ma_qa_metric_local.")


@dataclass(frozen=True)
class Confidence:
    """What a structure file says about its own reliability; `plddt` maps each chain (label_asym_id) to the pLDDT
    (0–100) of its residues 1..L, the values of the scores JSON."""

    plddt: Mapping[str, Sequence[float]]
    software: str  # "ESMFold", "AlphaFold2"
    version: str
    ptm: float | None = None
    iptm: float | None = None

    @property
    def mean_plddt(self) -> float:
        """Global pLDDT: the mean over every residue of every chain (AlphaFold's mean pLDDT)."""
        values = [float(v) for chain in self.plddt.values() for v in chain]
        return sum(values) / len(values) if values else 0.0


def add_confidence(block: gemmi.cif.Block, confidence: Confidence) -> None:
    """Write `confidence` into `block` as ModelCIF QA metrics (replacing any there), with the model description
    they refer to when the block has none. Raises ValueError when a chain's values do not match its residues."""
    residues = _polymer_residues(block)
    if set(residues) != set(confidence.plddt):
        raise ValueError(f"pLDDT given for chains {sorted(confidence.plddt)}, the file has {sorted(residues)}")
    for asym_id, names in residues.items():
        if len(names) != len(confidence.plddt[asym_id]):
            raise ValueError(f"chain {asym_id}: {len(names)} residues, {len(confidence.plddt[asym_id])} pLDDT values")
    if not _has(block, "_ma_model_list."):
        _add_model_description(block, confidence)
    name, version, location = MODELCIF_DICT
    block.set_mmcif_category("_audit_conform.", {"dict_name": [name], "dict_version": [version],
                                                 "dict_location": [location]})
    for prefix in _QA:
        if _has(block, prefix):
            block.find_mmcif_category(prefix).erase()
    group = _first(block, "_ma_software_group.", "group_id") or "1"
    model_id = _first(block, "_ma_model_list.", "model_id") or "1"
    # (name = ModelCIF type, mode, description, global value, decimals); metric 2 is the local pLDDT
    metrics: list[tuple[str, str, str, float | None, int]] = [
        ("pLDDT", "global", "mean of the per-residue pLDDT values (0-100)", confidence.mean_plddt, 2),
        ("pLDDT", "local", "predicted lDDT-Ca per residue (0-100)", None, 2)]
    if confidence.ptm is not None:
        metrics.append(("pTM", "global", "predicted TM-score (0-1)", confidence.ptm, 4))
    if confidence.iptm is not None:
        metrics.append(("ipTM", "global", "interface predicted TM-score (0-1)", confidence.iptm, 4))
    block.set_mmcif_category("_ma_qa_metric.", {
        "id": [str(n) for n in range(1, len(metrics) + 1)],
        "name": [m[0] for m in metrics],
        "description": [m[2] for m in metrics],
        "type": [m[0] for m in metrics],
        "mode": [m[1] for m in metrics],
        "software_group_id": [group] * len(metrics),
    })
    globals_ = [(str(n), _number(value, digits)) for n, (*_, value, digits) in enumerate(metrics, start=1)
                if value is not None]
    block.set_mmcif_category("_ma_qa_metric_global.", {
        "ordinal_id": [str(n) for n in range(1, len(globals_) + 1)],
        "model_id": [model_id] * len(globals_),
        "metric_id": [metric_id for metric_id, _ in globals_],
        "metric_value": [value for _, value in globals_],
    }, raw=True)
    local = [(asym_id, seq_id, name, value) for asym_id, names in residues.items()
             for seq_id, (name, value) in enumerate(zip(names, confidence.plddt[asym_id], strict=True), start=1)]
    block.set_mmcif_category("_ma_qa_metric_local.", {
        "ordinal_id": [str(n) for n in range(1, len(local) + 1)],
        "model_id": [model_id] * len(local),
        "label_asym_id": [row[0] for row in local],
        "label_seq_id": [str(row[1]) for row in local],
        "label_comp_id": [row[2] for row in local],
        "metric_id": ["2"] * len(local),
        "metric_value": [_number(row[3], 2) for row in local],
    }, raw=True)


def set_one_letter_codes(block: gemmi.cif.Block) -> None:
    """`_entity_poly.pdbx_seq_one_letter_code` as PDBx writes it (a residue without a standard one-letter code in
    parentheses: `(UNK)`) and `pdbx_seq_one_letter_code_can` (its parent's letter, `X` for UNK), from
    `_entity_poly_seq`; long sequences wrapped at 80 columns in a text field, as the PDB's files have them."""
    table = block.find_mmcif_category("_entity_poly.")
    if not _has(block, "_entity_poly.") or "_entity_poly.entity_id" not in list(table.tags):
        return
    sequences = _entity_sequences(block)
    data: dict[str, list[str]] = {tag.removeprefix("_entity_poly."): list(table.find_column(tag.removeprefix(
        "_entity_poly."))) for tag in table.tags}
    codes, canonical = [], []
    for entity_id in data["entity_id"]:
        names = sequences.get(gemmi.cif.as_string(entity_id), [])
        codes.append(_text(_wrap("".join(STANDARD.get(name, f"({name})") for name in names))))
        canonical.append(_text(_wrap("".join(STANDARD.get(name) or _parent_letter(name) for name in names))))
    data["pdbx_seq_one_letter_code"] = codes
    data["pdbx_seq_one_letter_code_can"] = canonical
    block.set_mmcif_category("_entity_poly.", data, raw=True)


def _parent_letter(name: str) -> str:
    info = gemmi.find_tabulated_residue(name)
    letter = info.one_letter_code.upper() if info is not None and info.is_amino_acid() else "X"
    return letter if letter in STANDARD.values() else "X"


def _wrap(sequence: str) -> list[str]:
    return [sequence[i:i + SEQUENCE_LINE] for i in range(0, len(sequence), SEQUENCE_LINE)] or ["?"]


def _text(lines: list[str]) -> str:
    """A raw CIF value: a bare word when it fits one line, else a semicolon text field."""
    return lines[0] if len(lines) == 1 else ";" + "\n".join(lines) + "\n;"


def _number(value: float, digits: int) -> str:
    return f"{float(value):.{digits}f}"


def _has(block: gemmi.cif.Block, prefix: str) -> bool:
    return len(list(block.find_mmcif_category(prefix).tags)) > 0


def _first(block: gemmi.cif.Block, prefix: str, item: str) -> str | None:
    if not _has(block, prefix):
        return None
    column = block.find_mmcif_category(prefix).find_column(item)
    return gemmi.cif.as_string(column[0]) if len(column) else None


def _entity_sequences(block: gemmi.cif.Block) -> dict[str, list[str]]:
    """entity id → its residues' names in `_entity_poly_seq` order."""
    table = block.find_mmcif_category("_entity_poly_seq.")
    sequences: dict[str, list[tuple[int, str]]] = {}
    for entity_id, num, mon_id in zip(table.find_column("entity_id"), table.find_column("num"),
                                      table.find_column("mon_id"), strict=True):
        sequences.setdefault(gemmi.cif.as_string(entity_id), []).append((int(num), gemmi.cif.as_string(mon_id)))
    return {entity: [name for _, name in sorted(rows)] for entity, rows in sequences.items()}


def _polymer_residues(block: gemmi.cif.Block) -> dict[str, list[str]]:
    """label_asym_id → residue names at label_seq_id 1..L, for every polymer chain of `_struct_asym`."""
    sequences = _entity_sequences(block)
    table = block.find_mmcif_category("_struct_asym.")
    out: dict[str, list[str]] = {}
    for asym_id, entity_id in zip(table.find_column("id"), table.find_column("entity_id"), strict=True):
        names = sequences.get(gemmi.cif.as_string(entity_id))
        if names:
            out[gemmi.cif.as_string(asym_id)] = names
    return out


def _add_model_description(block: gemmi.cif.Block, confidence: Confidence) -> None:
    """ModelCIF's minimal description of one ab initio model made by one piece of software: what the QA metrics'
    `model_id` and `software_group_id` point at."""
    if not _has(block, "_software."):
        block.set_mmcif_category("_software.", {
            "pdbx_ordinal": ["1"], "name": [confidence.software], "classification": ["other"],
            "version": [confidence.version], "type": ["package"], "description": ["Structure prediction"]})
    block.set_mmcif_category("_ma_software_group.", {"ordinal_id": ["1"], "group_id": ["1"], "software_id": ["1"]})
    block.set_mmcif_category("_ma_data.", {"id": ["1"], "name": ["Model"], "content_type": ["model coordinates"]})
    table = block.find_mmcif_category("_struct_asym.")
    asym_ids = [gemmi.cif.as_string(v) for v in table.find_column("id")]
    entity_ids = [gemmi.cif.as_string(v) for v in table.find_column("entity_id")]
    entities = list(dict.fromkeys(entity_ids))
    block.set_mmcif_category("_ma_target_entity.", {"entity_id": entities, "data_id": ["1"] * len(entities),
                                                    "origin": [False] * len(entities)})
    block.set_mmcif_category("_ma_target_entity_instance.", {"asym_id": asym_ids, "entity_id": entity_ids,
                                                             "details": [False] * len(asym_ids)})
    block.set_mmcif_category("_ma_model_list.", {
        "ordinal_id": ["1"], "model_id": ["1"], "model_group_id": ["1"], "model_name": ["Top ranked model"],
        "model_group_name": [f"{confidence.software} model"], "data_id": ["1"], "model_type": ["Ab initio model"]})
    block.set_mmcif_category("_ma_protocol_step.", {"ordinal_id": ["1"], "protocol_id": ["1"], "step_id": ["1"],
                                                    "method_type": ["modeling"], "software_group_id": ["1"]})
