"""Entities of DeepMind's mmCIF as the PDB and AlphaFold DB write them.

DeepMind's `protein.to_mmcif` gives every chain its own entity, numbered from 0: a homotrimer's three identical
chains were three entities (0, 1, 2), so a viewer colouring or counting by entity (Mol*, ChimeraX) showed three
different molecules, and the relaxed mmCIF of the same model (gemmi's writer, phonos_models.common.structure)
numbered its entities differently. Here chains with the same sequence share one entity, numbered 1, 2, ... in chain
order, as the ESMFold files and AlphaFold DB's have them; `_entity_poly.pdbx_strand_id` lists each entity's chains.
Only the entity ids change: chains, residues and coordinates are left as written.
"""

from __future__ import annotations

import gemmi

# Categories with one row per entity (key column), and the columns elsewhere that name an entity.
_PER_ENTITY = (("_entity.", "id"), ("_entity_poly.", "entity_id"), ("_ma_target_entity.", "entity_id"))
_REFERENCES = (("_struct_asym.", "entity_id"), ("_ma_target_entity_instance.", "entity_id"),
               ("_atom_site.", "label_entity_id"))


def _rows(block: gemmi.cif.Block, category: str) -> tuple[list[str], list[list[str]]]:
    """A category's column names and its rows as raw (still quoted) values."""
    table = block.find_mmcif_category(category)
    names = [tag.removeprefix(category) for tag in table.tags]
    return names, [[row[i] for i in range(len(names))] for row in table]


def share_entities(block: gemmi.cif.Block) -> None:
    """Merge the entities of identical chains in `block` and number them 1, 2, ... (see the module docstring)."""
    names, seq_rows = _rows(block, "_entity_poly_seq.")
    if not seq_rows or "entity_id" not in names or "mon_id" not in names:
        return
    entity_col, mon_col = names.index("entity_id"), names.index("mon_id")
    sequences: dict[str, list[str]] = {}
    for row in seq_rows:
        sequences.setdefault(row[entity_col], []).append(row[mon_col])
    new_id: dict[str, str] = {}  # old entity id -> new one
    first_of: dict[tuple[str, ...], str] = {}  # sequence -> the new id of its first entity
    for old, sequence in sequences.items():  # in file order: chain order
        residues = tuple(sequence)
        if residues not in first_of:
            first_of[residues] = str(len(first_of) + 1)
        new_id[old] = first_of[residues]
    if all(old == new for old, new in new_id.items()):
        return
    kept: set[str] = set()  # each new entity's first old one, whose rows stay
    for old, new in new_id.items():
        if new not in {new_id[k] for k in kept}:
            kept.add(old)

    # chains of each new entity, for _entity_poly.pdbx_strand_id ("A,C")
    asym_names, asym_rows = _rows(block, "_struct_asym.")
    strands: dict[str, list[str]] = {}
    if "id" in asym_names and "entity_id" in asym_names:
        for row in asym_rows:
            old = row[asym_names.index("entity_id")]
            strands.setdefault(new_id.get(old, old), []).append(row[asym_names.index("id")])

    for category, key in _PER_ENTITY:
        columns, rows = _rows(block, category)
        if key not in columns:
            continue
        at = columns.index(key)
        rows = [row for row in rows if row[at] not in new_id or row[at] in kept]
        for row in rows:
            row[at] = new_id.get(row[at], row[at])
            if category == "_entity_poly." and "pdbx_strand_id" in columns and row[at] in strands:
                row[columns.index("pdbx_strand_id")] = gemmi.cif.quote(",".join(strands[row[at]]))
        block.set_mmcif_category(category, {name: [row[i] for row in rows] for i, name in enumerate(columns)},
                                 raw=True)
    seq_rows = [row for row in seq_rows if row[entity_col] in kept]
    for row in seq_rows:
        row[entity_col] = new_id[row[entity_col]]
    block.set_mmcif_category("_entity_poly_seq.", {name: [row[i] for row in seq_rows] for i, name in enumerate(names)},
                             raw=True)
    for category, key in _REFERENCES:  # in place: _atom_site is large
        table = block.find_mmcif_category(category)
        if f"{category}{key}" not in list(table.tags):
            continue
        column = table.find_column(key)
        for i in range(len(column)):
            column[i] = new_id.get(column[i], column[i])
