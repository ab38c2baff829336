"""Result files: ranked PDB and mmCIF (pLDDT 0–100 in B-factors; the mmCIF also as ModelCIF QA metrics), scores JSON.

Structures are written with AlphaFold's own `alphafold.common.protein` writers;
provenance (weights, MSA, "not a real prediction") goes into PDB REMARK 250
lines and the mmCIF's leading comment block, so a file that leaves the service
still says what produced it.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from dataclasses import dataclass

import gemmi
import numpy as np
from alphafold.common import protein, residue_constants

from phonos_models.alphafold2.mmcif_entities import share_entities
from phonos_models.alphafold2.runner import ModelOutput
from phonos_models.common.chains import CHAIN_BREAK, ChainLayout
from phonos_models.common.qa_metrics import Confidence, add_confidence, set_one_letter_codes
from phonos_models.common.structure import remark_records, title_records
from phonos_models.common.unknown import unknown_residues

try:  # what `_software` names when DeepMind's writer has not (the relaxed mmCIF)
    _PACKAGE_VERSION = f"alphafold-colabfold {importlib.metadata.version('alphafold-colabfold')}"
except importlib.metadata.PackageNotFoundError:
    _PACKAGE_VERSION = "alphafold-colabfold"
# The mmCIF files' id (DeepMind's writer upper-cases it into the data block's name and `_entry.id`).
MMCIF_ID = "phonos_alphafold2"
NOT_REAL = "NOT A REAL PREDICTION: tiny randomly initialised AlphaFold2 weights (architecture test only)"
# DeepMind's mmCIF writer (`alphafold.common.mmcif_metadata`) states "ALPHAFOLD DATA, COPYRIGHT (2021) DEEPMIND ..."
# and a CC-BY-4.0 licence for the file: right for a prediction made with their parameters (CC BY 4.0), false for
# one made with any other weights (the tiny random ones of the tests and the default `serve`), which are not
# theirs and predict nothing. Such a file says instead which weights made it.
OTHER_WEIGHTS_NOTICE = ("Made by phonos with DeepMind's AlphaFold2 model code and weights {weights}, which are not "
                        "DeepMind's AlphaFold2 parameters: {why} DeepMind's copyright notice and CC-BY-4.0 licence "
                        "for AlphaFold data do not apply to this file.")


@dataclass(frozen=True)
class Provenance:
    """What every file states about how it was made."""

    weights: str  # e.g. "tiny-random-seed0 sha256:ab12..." or "params_model_1_ptm.npz sha256:..."
    real_weights: bool
    preset: str
    msa_mode: str
    msa_depth: int
    databases: str | None = None  # msa_mode search: the databases searched, with versions
    templates: str | None = None  # the PDB templates the models read (or "none (why)"); None: not stated

    def lines(self) -> list[str]:
        lines = [] if self.real_weights else [NOT_REAL]
        lines += [
            "phonos AlphaFold2 (DeepMind model code via alphafold-colabfold)",
            f"model_preset {self.preset}, msa_mode {self.msa_mode}, MSA depth {self.msa_depth}",
            *([f"MSA databases {self.databases}"] if self.databases else []),
            *([f"templates {self.templates}"] if self.templates is not None else []),
            f"weights {self.weights}",
        ]
        return lines

    def title(self, rank: int, model_name: str, relaxed: bool = False) -> str:
        """The PDB's TITLE and the mmCIF's `_struct.title` of one ranked structure: the model and the weights that
        made it, what a viewer shows on opening the file (the REMARKs hold the rest of the provenance)."""
        # `weights` is "model_1=<source> sha256:<16 hex>, model_2=...": this structure's own entry.
        sources = dict(part.split("=", 1) for part in self.weights.split(", ") if "=" in part)
        source = sources.get(model_name, "").split(" sha256:")[0]
        return (f"AlphaFold2 prediction{', Amber-relaxed' if relaxed else ''}, rank {rank}: {model_name}"
                + (f", weights {source}" if source else "") + ("" if self.real_weights else " (NOT A REAL PREDICTION)"))


def _protein(layout: ChainLayout, output: ModelOutput) -> protein.Protein:
    aatype = np.array([residue_constants.restype_order_with_x.get(letter, 20) for letter in layout.residues], np.int32)
    b_factors = np.repeat(output.plddt[:, None], residue_constants.atom_type_num, axis=1) * output.atom_mask
    return protein.Protein(
        atom_positions=output.positions,
        aatype=aatype,
        atom_mask=output.atom_mask,
        residue_index=layout.residue_index,  # 1-based within each chain
        chain_index=layout.chain_index,  # written as A, B, ... (AlphaFold's PDB_CHAIN_IDS)
        b_factors=b_factors,
    )


def pdb_remarks(lines: Sequence[str], title: str | None = None) -> str:
    """`title`'s PDB TITLE records, then the free-text REMARK 250 records, written as every model writes them
    (DeepMind's writer has neither)."""
    return "".join([*([] if title is None else title_records(title)), *remark_records(lines)])


def ranked_model_line(rank: int, model_name: str) -> str:
    """Which of the listed models made this file: the provenance names every model's weights, and a
    rank_N file downloaded on its own must still say whose structure it is."""
    return f"this structure: rank {rank}, {model_name}"


def to_pdb(layout: ChainLayout, output: ModelOutput, provenance: Provenance, rank: int = 1) -> str:
    return (pdb_remarks([*provenance.lines(), ranked_model_line(rank, output.model_name)],
                        provenance.title(rank, output.model_name))
            + protein.to_pdb(_protein(layout, output)))


def confidence(layout: ChainLayout, output: ModelOutput) -> Confidence:
    """The scores JSON's numbers as ModelCIF QA metrics: per-residue pLDDT per chain, X residues included (as in
    `plddt`, though they have no atoms), their mean (the JSON's `mean_plddt`), pTM and ipTM where computed."""
    spans = np.cumsum((0, *layout.lengths))
    return Confidence(plddt={chain_id: [round(float(v), 2) for v in output.plddt[start:end]]
                             for chain_id, start, end in zip(layout.ids, spans[:-1], spans[1:], strict=True)},
                      software="AlphaFold", version=_PACKAGE_VERSION,
                      ptm=output.ptm if output.pae is not None else None,
                      iptm=output.iptm if output.pae is not None else None)


def with_confidence(mmcif: str, quality: Confidence, title: str | None = None,
                    provenance: Provenance | None = None) -> str:
    """`mmcif` with ModelCIF QA metrics (replacing DeepMind's global pLDDT, a mean over atoms' B-factors, with the
    JSON's per-residue mean), PDBx's one-letter codes, identical chains sharing an entity (ids 1, 2, ...) and `title` as `_struct.title` (DeepMind's writer has none:
    the file named neither model nor weights outside its comments, which no viewer shows); with `provenance`, only
    the protocol steps that ran."""
    document = gemmi.cif.read_string(mmcif)
    block = document.sole_block()
    share_entities(block)  # before the metrics and codes, which read the entities
    set_one_letter_codes(block)
    add_confidence(block, quality)
    if title is not None:
        block.set_mmcif_category("_struct.", {"entry_id": [block.name], "title": [title]})
    if provenance is not None:
        _steps_that_ran(block, provenance)
        _data_usage(block, provenance)
    return document.as_string()


def to_mmcif(layout: ChainLayout, output: ModelOutput, provenance: Provenance, file_id: str, rank: int = 1) -> str:
    model_type = "Multimer" if len(layout.sequences) > 1 else "Monomer"
    body = protein.to_mmcif(_protein(layout, output), file_id=file_id, model_type=model_type)
    return with_cif_comments(with_confidence(body, confidence(layout, output), provenance.title(rank, output.model_name),
                                             provenance),
                             [*provenance.lines(), ranked_model_line(rank, output.model_name)])


def _data_usage(block: gemmi.cif.Block, provenance: Provenance) -> None:
    """The file's licence and disclaimer (`_pdbx_data_usage`) and authors: DeepMind's, as their writer gives it, for DeepMind's
    parameters (`real_weights`: the params_model_*.npz files `phonos weights fetch alphafold2` downloads); for any
    other weights, one disclaimer naming them (DeepMind's claimed their copyright over a file they did not make)."""
    if provenance.real_weights:
        return
    # DeepMind's writer also names its people as the file's authors (`_audit_author`): not theirs either. The
    # method's paper (`_citation`, `_citation_author`) stays: the model code is theirs.
    block.find_mmcif_category("_audit_author.").erase()
    block.set_mmcif_category("_pdbx_data_usage.", {
        "id": ["1"], "type": ["disclaimer"],
        "details": [OTHER_WEIGHTS_NOTICE.format(weights=provenance.weights, why=f"{NOT_REAL}.")],
        "url": [None], "name": [None]})  # None: written as `?` (no licence is claimed)


def _steps_that_ran(block: gemmi.cif.Block, provenance: Provenance) -> None:
    """Keep only the `_ma_protocol_step`s that ran: DeepMind's writer always lists "coevolution MSA" and
    "template search" before "modeling", so a single-sequence prediction without templates claimed both."""
    skipped = set()
    if provenance.msa_mode == "single_sequence":
        skipped.add("coevolution MSA")
    if provenance.templates is not None and provenance.templates.startswith("none"):
        skipped.add("template search")
    table = block.find_mmcif_category("_ma_protocol_step.")
    if not skipped or "_ma_protocol_step.method_type" not in list(table.tags):
        return
    names = [tag.removeprefix("_ma_protocol_step.") for tag in table.tags]
    rows = [[row[i] for i in range(len(names))] for row in table]
    rows = [row for row in rows if gemmi.cif.as_string(row[names.index("method_type")]) not in skipped]
    for number, row in enumerate(rows, start=1):  # the steps that remain, numbered 1, 2, ...
        for key in ("ordinal_id", "step_id"):
            if key in names:
                row[names.index(key)] = str(number)
    block.set_mmcif_category("_ma_protocol_step.", {name: [row[i] for row in rows] for i, name in enumerate(names)},
                             raw=True)


def with_cif_comments(body: str, lines: Sequence[str]) -> str:
    # CIF comments must follow the data_ line to stay inside the data block for strict readers.
    head, _, rest = body.partition("\n")
    comments = "\n".join(f"# {line}" for line in lines)
    return f"{head}\n{comments}\n{rest}"


def _round(values: np.ndarray, digits: int) -> list:
    return np.round(values.astype(np.float64), digits).tolist()


def _ranking_entry(rank: int, out: ModelOutput) -> dict:
    entry: dict = {"rank": rank, "model": out.model_name, "mean_plddt": round(out.mean_plddt, 3)}
    if out.ptm is not None:
        entry["ptm"] = round(out.ptm, 4)
    if out.iptm is not None:
        entry["iptm"] = round(out.iptm, 4)
        entry["ranking_confidence"] = round(out.ranking_confidence, 4)
    return entry


def scores(layout: ChainLayout, ranked: Sequence[ModelOutput], provenance: Provenance) -> dict:
    """ColabFold-style scores of the rank-1 model plus the ranking of all models."""
    best = ranked[0]
    result: dict = {
        "model": best.model_name,
        "sequence": CHAIN_BREAK.join(layout.sequences),
        "plddt": _round(best.plddt, 2),  # per residue, 0–100, chains concatenated
        "mean_plddt": round(best.mean_plddt, 3),
        "chains": [chain.as_json() for chain in best.confidence.chains],
        "ranking": [_ranking_entry(i + 1, out) for i, out in enumerate(ranked)],
        "ranked_by": best.confidence.ranked_by,
        "real_prediction": provenance.real_weights,
        "unknown_residues": unknown_residues(layout.sequences),  # X: no atoms in the files (null when none)
    }
    if not provenance.real_weights:
        result["note"] = NOT_REAL
    if best.pae is not None and best.ptm is not None:
        result["ptm"] = round(best.ptm, 4)
        if best.iptm is not None:
            result["iptm"] = round(best.iptm, 4)
            result["interfaces"] = [pair.as_json() for pair in best.confidence.interfaces]
        result["pae"] = _round(best.pae, 2)  # [L][L] Å, row = aligned residue, column = scored residue
        # The largest entry of the matrix, as ColabFold's scores JSON has it (DeepMind's AFDB JSON
        # writes the last bin edge, 31.75 Å, which says nothing about this prediction).
        result["max_pae"] = round(float(best.max_pae or 0.0), 3)
    return result
