"""Pocket-conditioned docking: parse `params.pocket`, resolve it on the receptor, say which residues stay.

Only gemmi and numpy (no torch): the job service imports this to turn a bad pocket into a 400 before
any credit is taken, and the model resolves the very same request again, so what validation accepts is
what the model runs.

`params.pocket` takes one of these JSON shapes (coordinates in Å, in the submitted PDB's frame):
* `{"center": [x, y, z], "radius": r}` — a sphere; `radius` defaults to `DEFAULT_RADIUS`;
* `{"residues": ["A:45", "A:48"], "radius": r}` — residue ids `CHAIN:NUMBER[INSERTION]`, as a list or one
  comma-separated string; the centre is the centroid of their CA atoms and, without `radius`, the
  radius is their largest CA distance from that centroid plus `RESIDUE_MARGIN`;
* `"A:45,A:48"` or `["A:45", "A:48"]` — shorthand for the residue form without a radius.
A chain without a chain id (a file that gives none) is named by an empty chain part: ":45".
Chains are named as docked (a segment's chains by segment, e.g. "PROA:45", or segment + chain id). Where the
file gives two protein chains one id (blocks separated by TER) the second is relabelled on reading
(`receptor_prep`): "A#1:45" / "A#2:45" then name the file's first / second chain A, the new label ("B:45")
works too, and a bare "A:45" that both chains have is refused as ambiguous, naming those ids. Each id
resolved through a relabelled or repeated chain id gets a note in the job's warnings saying which chain it is.
Blind docking (no pocket) stays the default.

What the model does with it, as DiffDock's pocket-conditioned inference (DiffDock-Pocket) does: the
receptor is restricted to the residues whose CA lies within `radius + RECEPTOR_MARGIN` of the centre and
is centred on the pocket centre instead of its own mean CA, the initial ligand centroids are drawn in
the pocket sphere (`sampling.initial_pose`), and every pose reports its distance to the centre.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gemmi
import numpy as np

from phonos_config.json_text import json_value_text
from phonos_models.common.errors import BadInput

from .pipe_validate import MIN_RESIDUES, protein_residues
from .receptor_prep import is_protein_residue, original_chain_ids

MIN_RADIUS = 3.0  # Å; smaller than one residue's reach: no ligand centroid fits a tighter sphere usefully
MAX_RADIUS = 30.0  # Å; a sphere this wide covers most single-domain proteins: that is blind docking
DEFAULT_RADIUS = 10.0  # Å; a typical docking box half-width (Vina-style boxes of ~20 Å a side)
# A residue lines a pocket with its side chain, whose tip is up to ~5–6 Å from the CA (Arg, Lys): a
# ligand centroid can sit that far beyond the outermost pocket CA.
RESIDUE_MARGIN = 5.0  # Å
# Residues kept around the sphere: a ligand atom can sit ~half a ligand length (≤ ~8 Å for drug-sized
# molecules) beyond its centroid, and residues up to a few Å further shape its contacts; 10 Å keeps
# that shell while dropping the rest of the protein, which is what makes the run pocket-restricted.
RECEPTOR_MARGIN = 10.0  # Å
MAX_RESIDUE_IDS = 200
# Å; a PDB file's coordinate columns (8.3f) hold -999.999..9999.999: a centre beyond this is in no
# receptor's frame (and 1e308 would put the nearest residue at an infinite distance).
MAX_COORDINATE = 10_000.0
# chain label (a segment + chain id is up to 8 characters), optionally "#n" for the file's n-th chain of that id
# (empty for the chain of a file without chain ids: ":45")
_RESIDUE_ID = re.compile(r"^((?:[A-Za-z0-9]{1,8}(?:#[1-9][0-9]?)?)?):(-?\d{1,6})([A-Za-z]?)$")
_SHAPES = ('{"center": [x, y, z], "radius": r}, {"residues": ["A:45", "A:48"]} (optionally with "radius"), '
           'or the residue ids alone as "A:45,A:48" or ["A:45", "A:48"]')


class PocketError(BadInput):
    """`params.pocket` cannot be used; the message says why (a 400 in the job service)."""


@dataclass(frozen=True)
class PocketRequest:
    """What the user asked for, normalised; exactly one of `center` / `residues` is set."""

    center: tuple[float, float, float] | None = None  # Å, the PDB's frame
    residues: tuple[str, ...] = ()  # "A:45", "A:45A" (chain label : number [insertion code])
    radius: float | None = None  # Å; None → DEFAULT_RADIUS (centre) or derived from the residues

    def as_json(self) -> dict[str, Any]:
        """The stored / forwarded form, read back by `parse_pocket`."""
        body: dict[str, Any] = {"center": list(self.center)} if self.center is not None else {"residues": list(self.residues)}
        return body | ({"radius": self.radius} if self.radius is not None else {})


@dataclass(frozen=True)
class Pocket:
    """A resolved pocket on one receptor."""

    center: np.ndarray  # [3] float64, Å, in the submitted PDB's frame
    radius: float  # Å
    radius_source: str  # "given", "default" or "derived from the residues"
    residues: tuple[str, ...]  # the residue ids that defined it (empty for a centre)
    keep: np.ndarray  # [R] bool over the receptor's residues (file order): the restricted receptor
    residues_as_docked: tuple[str, ...] = ()  # `residues` as the docked receptor's chain labels name them
    notes: tuple[str, ...] = ()  # which chain a residue id means where the file's chain ids were relabelled

    @property
    def receptor_cutoff(self) -> float:
        return self.radius + RECEPTOR_MARGIN

    def as_json(self) -> dict[str, Any]:
        return {
            "center": [round(float(c), 3) for c in self.center],
            "radius": round(self.radius, 3),
            "radius_source": self.radius_source,
            "residues": list(self.residues),
            "residues_as_docked": list(self.residues_as_docked),
            "receptor_cutoff": round(self.receptor_cutoff, 3),
            "receptor_residues_kept": int(self.keep.sum()),
            "receptor_residues_total": int(self.keep.size),
        }


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PocketError(f"{what} must be a finite number (Å), got {json_value_text(value)}")
    return float(value)


def _coordinate(value: Any) -> float:
    coordinate = _number(value, "pocket center coordinate")
    if abs(coordinate) > MAX_COORDINATE:
        raise PocketError(f"pocket center coordinates must be between {-MAX_COORDINATE:g} and {MAX_COORDINATE:g} Å "
                          f"(the submitted PDB's frame), got {json_value_text(value)}")
    return coordinate


def _radius(value: Any) -> float | None:
    if value is None:
        return None
    radius = _number(value, "pocket radius")
    if not MIN_RADIUS <= radius <= MAX_RADIUS:
        raise PocketError(f"pocket radius must be between {MIN_RADIUS:g} and {MAX_RADIUS:g} Å, got {radius:g}")
    return radius


def _residue_ids(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items: Sequence[Any] = [value]
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise PocketError(f"pocket residues must be a list of ids or one comma-separated string, like \"A:45,A:48\"; "
                          f"got {json_value_text(value)}")
    ids: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise PocketError(f"pocket residue ids must be strings like \"A:45\", got {json_value_text(item)}")
        ids.extend(part.strip() for part in item.split(",") if part.strip())
    if not ids:
        raise PocketError("pocket residues is empty: list at least one residue id, like \"A:45\"")
    if len(ids) > MAX_RESIDUE_IDS:
        raise PocketError(f"pocket lists {len(ids)} residues; the limit is {MAX_RESIDUE_IDS}")
    bad = [i for i in ids if not _RESIDUE_ID.match(i)]
    if bad:
        raise PocketError(f"pocket residue ids must look like CHAIN:NUMBER (e.g. \"A:45\", \"B:102A\", \":45\" for a "
                          f"chain without an id); "
                          f"not understood: {', '.join(json_value_text(b) for b in bad[:5])}")
    return tuple(dict.fromkeys(ids))  # duplicates once, order kept


def parse_pocket(value: Any) -> PocketRequest | None:
    """`params.pocket` as sent → `PocketRequest` (None for no pocket); `PocketError` for a bad shape."""
    if value is None:
        return None
    if isinstance(value, (str, list, tuple)):
        return PocketRequest(residues=_residue_ids(value))
    if not isinstance(value, Mapping):
        raise PocketError(f"pocket must be an object, a string or a list; accepted shapes: {_SHAPES}")
    unknown = sorted(set(value) - {"center", "residues", "radius"})
    if unknown:
        raise PocketError(f"unknown pocket field(s): {', '.join(unknown)}; accepted shapes: {_SHAPES}")
    has_center, has_residues = value.get("center") is not None, value.get("residues") is not None
    if has_center == has_residues:
        raise PocketError(f"pocket needs exactly one of \"center\" and \"residues\"; accepted shapes: {_SHAPES}")
    radius = _radius(value.get("radius"))
    if has_residues:
        return PocketRequest(residues=_residue_ids(value["residues"]), radius=radius)
    center = value["center"]
    if not isinstance(center, (list, tuple)) or len(center) != 3:
        raise PocketError(f"pocket center must be a list of three numbers [x, y, z] in Å, got {json_value_text(center)}")
    x, y, z = (_coordinate(c) for c in center)
    return PocketRequest(center=(x, y, z), radius=radius)


@dataclass(frozen=True)
class _Chain:
    """How a user may name one protein chain of the receptor (after `receptor_prep` relabelled it)."""

    label: str  # segment + chain name, as docked (the ESM-2 chain key); unique
    name: str  # the chain name as docked (the label without its segment)
    segment: str
    file_id: str  # the chain id the file gave it ("" for none)
    ordinal: int  # 1 for the file's first protein chain with this id, 2 for the second, ...
    repeats: int  # protein chains with this file id

    @property
    def relabelled(self) -> bool:
        return self.name != self.file_id

    def names(self) -> set[str]:
        """Every chain part of a residue id that may mean this chain (some may mean other chains too)."""
        ordinal = {f"{self.file_id}#{self.ordinal}"} if self.file_id else set()
        blank = {""} if not self.label else set()  # ":45", the one chain of a file without chain ids
        return {n for n in (self.label, self.name, self.segment, self.file_id) if n} | ordinal | blank

    def describe(self) -> str:
        if self.segment:
            return f"chain {self.name or 'without an id'} of segment {self.segment}"
        nth = f"{_ORDINAL.get(self.ordinal, f'{self.ordinal}th')} " if self.repeats > 1 else ""
        file_chain = f"the file's {nth}chain {self.file_id}" if self.file_id else "a chain without an id in the file"
        return file_chain + (f", relabelled {self.label} on reading" if self.relabelled else "")


_ORDINAL = {1: "first", 2: "second", 3: "third"}


def _chains(structure: gemmi.Structure, renamed: Mapping[str, str]) -> list[tuple[_Chain, gemmi.Residue]]:
    """(chain, residue) per receptor residue node, in `protein_residues` order."""
    original = original_chain_ids(renamed)
    infos: dict[str, _Chain] = {}
    nodes: list[tuple[str, gemmi.Residue]] = list(protein_residues(structure))
    for label, residue in nodes:
        if label not in infos:
            segment = residue.segment.strip()
            name = label[len(segment):]
            file_id = original.get(name, name)
            ordinal = 1 + sum(1 for c in infos.values() if c.file_id == file_id)
            infos[label] = _Chain(label, name, segment, file_id, ordinal, 0)
    repeats = Counter(c.file_id for c in infos.values())
    chains = {k: dataclasses.replace(c, repeats=repeats[c.file_id]) for k, c in infos.items()}
    return [(chains[label], residue) for label, residue in nodes]


def _number_text(residue: gemmi.Residue) -> str:
    return f"{residue.seqid.num}{residue.seqid.icode.strip()}"


def _ambiguous(query: str, candidates: list[tuple[_Chain, str]], index: Mapping[str, set[int]]) -> PocketError:
    """`query` names residues of several chains; the message names an unambiguous id for each."""
    chain_part, number = query.split(":", 1)
    options = []
    for chain, own in candidates:
        unique = own if own != query and len(index.get(own, ())) == 1 else f"{chain.file_id}#{chain.ordinal}:{number}"
        options.append(f"{unique} ({chain.describe()})")
    return PocketError(f"pocket residue {query} is ambiguous: {len(candidates)} protein chains of the receptor answer to "
                       f"{json_value_text(chain_part)} and have a residue {number}; name the one you mean: "
                       + " or ".join(options))


def _group_hints(structure: gemmi.Structure, missing: Sequence[str]) -> str:
    """For pocket ids that name a non-protein group of the receptor (a co-crystallised ligand, a cofactor, a metal
    ion: the usual way to say "dock where the native ligand sits"), what it is and the centre to give instead; the
    model's receptor is the protein residues only, so such a group is no pocket residue. "" when none does."""
    groups: dict[str, gemmi.Residue] = {}
    for chain in structure[0]:
        for residue in chain:
            if not is_protein_residue(residue):
                for name in {chain.name, residue.segment.strip() + chain.name}:
                    groups.setdefault(f"{name}:{_number_text(residue)}", residue)
    hints = []
    for query in missing:
        group = groups.get(query)
        if group is None:
            continue
        center = np.mean([atom.pos.tolist() for atom in group], axis=0)
        hints.append(f"{query} is {group.name}, a non-protein group (ligand, cofactor or ion) that DiffDock does not "
                     f"see; to dock where it sits, give its centre: {{\"center\": [{center[0]:.3f}, {center[1]:.3f}, "
                     f"{center[2]:.3f}]}}")
    return "".join(f". {hint}" for hint in hints[:3])


def _residue_cas(queries: Sequence[str], nodes: Sequence[tuple[_Chain, gemmi.Residue]], ca: np.ndarray,
                 renamed: Mapping[str, str], structure: gemmi.Structure | None = None,
                 ) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """The CA positions [k, 3] Å of the residues `queries` name, their ids as docked, and a note for each
    id whose chain was relabelled, shares its file chain id, or is named otherwise than as docked."""
    index: dict[str, set[int]] = {}
    for node, (chain, residue) in enumerate(nodes):
        for name in chain.names():
            index.setdefault(f"{name}:{_number_text(residue)}", set()).add(node)
    missing = [i for i in queries if i not in index]
    if missing:
        chains = ", ".join(sorted({chain.label or 'one without an id (write ":45")' for chain, _ in nodes}))
        relabelled = ", ".join(f"{what} -> {new}" for what, new in renamed.items())
        raise PocketError(f"pocket residue(s) {', '.join(missing[:10])} are not protein residues with a CA atom "
                          f"in the receptor (its chains: {chains}"
                          + (f"; relabelled on reading: {relabelled})" if relabelled else ")")
                          + (_group_hints(structure, missing) if structure is not None else ""))
    docked = [f"{chain.label}:{_number_text(residue)}" for chain, residue in nodes]
    for query in queries:
        if len(index[query]) > 1:
            raise _ambiguous(query, [(nodes[n][0], docked[n]) for n in sorted(index[query])], index)
    chosen = [next(iter(index[query])) for query in queries]
    notes = tuple(f"pocket residue {query} is {docked[n]} as docked ({nodes[n][0].describe()})"
                  for query, n in zip(queries, chosen, strict=True)
                  if nodes[n][0].relabelled or nodes[n][0].repeats > 1 or query.split(":")[0] != nodes[n][0].label)
    return ca[chosen], tuple(docked[n] for n in chosen), notes


def resolve(structure: gemmi.Structure, request: PocketRequest, renamed: Mapping[str, str] | None = None) -> Pocket:
    """The pocket on this receptor (the cleaned structure of `pipe_validate.read_structure`).

    `PocketError` when a residue id is not a protein residue of the receptor, when it is ambiguous (a chain
    id the file gives two chains, relabelled on reading, or a chain id repeated in several segments), when
    the derived radius is out of range, or when no residue lies within the receptor cutoff of the centre (a
    centre far outside the protein, typically coordinates from another frame). `renamed`: the chains reading
    the file relabelled (`Preparation.renamed_chains`). A residue of the file's second chain A, relabelled B,
    is "B:45" or "A#2:45"; the first chain A's is "A#1:45", or "A:45" when only one chain A has a residue 45."""
    nodes = _chains(structure, renamed or {})
    cas = [residue.find_atom("CA", "*").pos.tolist() for _, residue in nodes]
    ca = np.asarray(cas, dtype=np.float64).reshape(-1, 3)
    as_docked: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    if request.center is not None:
        center = np.asarray(request.center, dtype=np.float64)
        radius = request.radius if request.radius is not None else DEFAULT_RADIUS
        source = "given" if request.radius is not None else "default"
    else:
        chosen, as_docked, notes = _residue_cas(request.residues, nodes, ca, renamed or {}, structure)
        center = chosen.mean(axis=0)
        if request.radius is not None:
            radius, source = request.radius, "given"
        else:
            radius = max(MIN_RADIUS, float(np.linalg.norm(chosen - center, axis=1).max()) + RESIDUE_MARGIN)
            source = "derived from the residues"
            if radius > MAX_RADIUS:
                raise PocketError(f"the pocket residues spread over a sphere of {radius:.1f} Å (CA spread + "
                                  f"{RESIDUE_MARGIN:g} Å); the limit is {MAX_RADIUS:g} Å: list the residues of one "
                                  "pocket, or give a radius")
    distances = np.linalg.norm(ca - center, axis=1)
    cutoff = radius + RECEPTOR_MARGIN
    keep = distances <= cutoff
    where = ", ".join(f"{c:.1f}" for c in center)
    if not keep.any():
        nearest = float(distances.min())
        raise PocketError(f"the pocket centre ({where}) is {nearest:.1f} Å from the nearest residue (CA), far outside "
                          f"the protein: no residue lies within radius + {RECEPTOR_MARGIN:g} Å = {cutoff:g} Å. "
                          "Give the centre in the submitted PDB's coordinates")
    kept = int(keep.sum())
    if kept < MIN_RESIDUES:  # the receptor DiffDock sees would be smaller than any it accepts whole
        raise PocketError(f"only {kept} residue{'s' if kept > 1 else ''} (CA) lie within radius + {RECEPTOR_MARGIN:g} Å = "
                          f"{cutoff:g} Å of the pocket centre ({where}), and docking needs at least {MIN_RESIDUES} "
                          "around it: the centre is at the protein's surface or outside it. Move it into the protein, "
                          "or give a larger radius")
    return Pocket(center=center, radius=float(radius), radius_source=source, residues=request.residues, keep=keep,
                  residues_as_docked=as_docked, notes=notes)
