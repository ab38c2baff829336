"""DiffDock: validation before credits and the request's tensors (the model builds the files).

Params (seed + issue 5):
* `protein_pdb` — the receptor as PDB text, or the id of a completed esmfold/alphafold2 job of the
  same account (fold-then-dock in one request). Never a server path: anything that is neither PDB
  text nor a job id is refused; mmCIF text is refused as mmCIF (send PDB format).
* `ligand_smiles` — one SMILES. The request's `sequence` may carry it instead (the seed says
  `sequence` is the SMILES for diffdock); when both are given they must be the same molecule.
* `inference_steps` 10–40 (default 20): the length of the diffusion time grid; as in the reference,
  one step fewer is run and the last one jumps to t = 0.
* `samples_per_complex` 1–40 (default 10): poses generated and ranked.
* `random_seed` (optional): fixes the conformer and the sampling noise; when absent one is drawn
  here and stored with the job, so a completed job always says how to reproduce it.
* `pocket` (optional; blind docking without it): `{"center": [x, y, z], "radius": r}` in Å, or residue
  ids `{"residues": ["A:45", "A:48"], "radius"?: r}`, or the ids alone (`"A:45,A:48"` or a list);
  shapes and behaviour in `phonos_models.diffdock.pocket`. Resolved here on the receptor, so unknown
  residues, a radius out of range or a centre far outside the protein are 400s too.
An invalid SMILES, a PDB without protein residues, a bad pocket or an out-of-range value is a 400 before
credits. So is a ligand RDKit cannot put in 3D with the job's seed: the model's own embedding is run here,
bounded by `SUBMIT_EMBED_CHECK_S`, so a SMILES such as `C1#CC1` no longer fails after submission, charged.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from phonos_models.diffdock.conformer import EmbeddingFailed, check_embeds
from phonos_models.diffdock.pipe_validate import (
    LigandError,
    ReceptorError,
    canonical_smiles,
    check_receptor,
    parse_smiles,
)
from phonos_models.diffdock.pocket import PocketError, PocketRequest, parse_pocket, resolve
from phonos_models.diffdock.receptor_prep import read_structure_with_report, refuse_mmcif

from jobservice.errors import InvalidArgument
from jobservice.inference import Tensor, text_tensor
from jobservice.job_ids import canonical_job_id, is_job_id
from jobservice.modelspecs.account_lines import AccountLines
from jobservice.modelspecs.base import JobOutputs, ModelInfo, ModelSpec, ValidatedJob
from jobservice.modelspecs.params import ParamReader
from jobservice.modelspecs.text_checks import off_loop
from phonos_config.diffdock import (
    DEFAULT_INFERENCE_STEPS,
    DEFAULT_SAMPLES,
    MAX_INFERENCE_STEPS,
    MAX_PDB_BYTES,
    MAX_SEED,
    MIN_INFERENCE_STEPS,
    DiffDockSettings,
)
from phonos_config.env import current_env
from phonos_config.json_text import json_value_text

INFO = ModelInfo(
    id="diffdock",
    name="DiffDock",
    description="Molecular docking for protein-ligand interactions",
    type="docking",
    cost_credits=30,
)
FORMATS = ("pdb", "sdf", "json", "confidence_plot", "zip")
_PDB_RECORD = re.compile(r"^(ATOM  |HETATM)", re.MULTILINE)
# A protein sequence as people paste one (either case, line breaks, ':' between chains) and a PDB id (classic
# `1abc` or extended `pdb_00001abc`): named as such when sent where a structure or a SMILES belongs.
_AMINO_ACID_TEXT = re.compile(r"[ACDEFGHIKLMNPQRSTVWYX:\s]+", re.IGNORECASE)
MIN_SEQUENCE_LETTERS = 10
# Records of a PDB file other than atoms: such a file without ATOM/HETATM lines is a PDB without coordinates
# (a header, SEQRES only, a bare END), not a path.
_PDB_OTHER_RECORD = re.compile(r"^(HEADER|TITLE |COMPND|SOURCE|REMARK|SEQRES|CRYST1|MODEL |ENDMDL|END|TER)(\s|$)",
                               re.MULTILINE)
# Amino-acid letters that are no atom of SMILES' organic subset (B C N O P S F I; aromatic b c n o p s): a protein
# sequence has some, a SMILES of amino-acid letters only (C, N, O, S, P, I, F) has none.
_NOT_SMILES_ATOMS = frozenset("ADEGHKLMQRTVWYX")
# How much of a text the mistake naming reads to decide what it is (a sequence, FASTA, a PDB without atoms): the
# first 64 kB say it as well as 5 MB do, and reading all of it (a regex, a per-character count) held the event
# loop ~0.5-1 s for a 5 MB `protein_pdb` of sequence letters. Only the residue count of a text found to be a
# sequence reads the rest, in C (`_letters`).
SNIFF_CHARS = 64 * 1024
# Every byte but the ASCII letters: what `_letters` drops before counting.
_NOT_LETTER_BYTES = bytes(b for b in range(256) if not chr(b).isascii() or not chr(b).isalpha())
_PDB_ID = re.compile(r"[0-9][A-Za-z0-9]{3}|pdb_[0-9]{4}[0-9][A-Za-z0-9]{3}", re.IGNORECASE)
# Wall clock the submission may spend embedding the ligand in 3D to find one RDKit cannot embed. Drug-like
# ligands take 0.01-0.3 s; impossible ones fail in 0.1 s (a triple bond in a 3-ring) to ~4 s (bridgehead
# stereo a bicycle cannot take: ETKDG's tries all fail). Past it the ligand is accepted undecided (large
# flexible ones take 8 s and more, `bench/diffdock_ligand_embed.py`) and the model's own budget applies.
SUBMIT_EMBED_CHECK_S = 5.0
# Two threads of their own (not `TEXT_CHECKS`: slow ligands never queue the receptor parsing behind them), at most one
# per account (account_lines.py), so one key's slow ligands hold one thread, never both, and another account's ligand
# finds the other (unless a second account's slow check holds it). The price: an account's next ligand waits for its
# own slow check's thread (RDKit may run past its budget) and may be accepted undecided where a free thread would have
# decided it.
_EMBED_CHECKS = AccountLines(max_workers=2, name="diffdock-embed-check")
# params.ligand_smiles is read up to this length so that a pasted ligand file (an SDF of one ligand is 2-20 kB)
# is refused as a file, not as "6233 characters"; `parse_smiles` applies MAX_SMILES_LENGTH after that check.
MAX_LIGAND_TEXT = 200_000


@dataclass(frozen=True)
class DiffDockSpec:
    settings: DiffDockSettings
    info: ModelInfo = INFO
    triton_model: str = "diffdock"
    formats: tuple[str, ...] = FORMATS
    provenance_params: tuple[str, ...] = ("protein_source", "protein_file", "random_seed")
    stored_only_params: tuple[str, ...] = ("protein_source", "protein_file", "protein_residues")

    @property
    def timeout_s(self) -> float:
        return float(self.settings.timeout_s)

    @property
    def triton_dependencies(self) -> tuple[str, ...]:
        """Triton models to load before `diffdock`: the ESM-2 model when DiffDock calls one."""
        return (self.settings.esm_triton_model,) if self.settings.esm_triton_model else ()

    async def validate(self, sequence: str, params: Mapping[str, Any], outputs: JobOutputs) -> ValidatedJob:
        reader = ParamReader(INFO.name, params)
        protein = reader.string("protein_pdb", None, max_length=MAX_PDB_BYTES)
        # MAX_LIGAND_TEXT, not the SMILES limit: `parse_smiles` says what a long text is (a pasted SDF/MOL2/PDB)
        smiles_param = reader.string("ligand_smiles", None, max_length=MAX_LIGAND_TEXT)
        steps = reader.integer("inference_steps", DEFAULT_INFERENCE_STEPS, MIN_INFERENCE_STEPS, MAX_INFERENCE_STEPS)
        samples = reader.integer("samples_per_complex", DEFAULT_SAMPLES, 1, self.settings.max_samples)
        seed = reader.integer("random_seed", None, 0, MAX_SEED)
        pocket = _pocket_request(reader.structured("pocket"))
        reader.finish()
        smiles = _ligand(sequence, smiles_param)
        pdb_text, source, file_format = await _protein(protein, outputs)
        try:
            # parsing a multi-MB PDB takes a while: in the submission-text threads (with AlphaFold2's A3M checks),
            # never on the event loop
            summary = await off_loop(outputs.account_id, check_receptor, pdb_text)
        except ReceptorError as exc:
            raise InvalidArgument(f"params.protein_pdb: {exc}") from None
        if pocket is not None:
            await off_loop(outputs.account_id, _check_pocket, pdb_text, pocket)
        if seed is None:
            seed = secrets.randbelow(MAX_SEED + 1)
        # No account (a tool's): one key shared by all such, still at most one thread.
        await _ligand_embeds(smiles, seed, min(SUBMIT_EMBED_CHECK_S, float(self.settings.ligand_embed_s)),
                             outputs.account_id)
        stored: dict[str, Any] = {
            "protein_pdb": pdb_text,
            "protein_source": source,
            "protein_residues": summary.residues,
            "ligand_smiles": smiles,
            "inference_steps": steps,
            "samples_per_complex": samples,
            "random_seed": seed,
        }
        if file_format is not None:  # which of the structure job's files: its relaxed one when it has one
            stored["protein_file"] = file_format
        if pocket is not None:
            stored["pocket"] = pocket.as_json()
        return ValidatedJob(sequence=smiles, params=stored)

    def inputs(self, job: ValidatedJob) -> tuple[Tensor, ...]:
        keys = ("inference_steps", "samples_per_complex", "random_seed", "pocket")
        request = {k: job.params[k] for k in keys if k in job.params}  # no "pocket": blind docking
        return (
            text_tensor("PROTEIN_PDB", job.params["protein_pdb"], batched=True),
            text_tensor("LIGAND_SMILES", job.params["ligand_smiles"], batched=True),
            text_tensor("REQUEST", json.dumps(request), batched=True),
        )


def _pocket_request(value: object) -> PocketRequest | None:
    try:
        return parse_pocket(value)
    except PocketError as exc:
        raise InvalidArgument(f"params.pocket: {exc}") from None


async def _ligand_embeds(smiles: str, seed: int, budget_s: float, account: int | None = None) -> None:
    """`InvalidArgument` when the model could not embed this ligand; waits at most `budget_s`.

    RDKit looks at its timeout only now and then (a 121-atom PEG took 7-15 s against a 5 s timeout), so the
    wait is bounded here and an unfinished check is left to end in its thread (RDKit releases the GIL; its
    own timeout ends it); a check still queued when its time is up is dropped.

    One check per `account` at a time (`_EMBED_CHECKS`): a second waits, within its own budget, for the first's
    thread to be done (not for its submission: an undecided check runs on to RDKit's timeout), else it is accepted
    undecided like any other. Before, one key's slow flexible ligands (a batch, or a script submitting in a loop)
    held both threads for seconds each, and every other account's ligands were accepted undecided meanwhile, the
    impossible ones failing after submission, charged, as before the check existed."""
    try:
        await _EMBED_CHECKS.run(account, _check_ligand_embeds, smiles, seed, budget_s, budget_s=budget_s)
    except TimeoutError:
        return  # undecided: the model's own, larger budget applies


def _check_ligand_embeds(smiles: str, seed: int, budget_s: float) -> None:
    """The model will get 3D coordinates for this ligand with this seed (same function, same seed)."""
    try:
        check_embeds(parse_smiles(smiles), seed, budget_s)
    except EmbeddingFailed as exc:
        raise InvalidArgument(f"invalid ligand: {exc}") from None


def _check_pocket(pdb_text: str, pocket: PocketRequest) -> None:
    """The pocket resolves on this receptor: its residues exist, its centre is near the protein."""
    try:
        structure, preparation = read_structure_with_report(pdb_text)
        resolve(structure, pocket, preparation.renamed_chains)
    except PocketError as exc:
        raise InvalidArgument(f"params.pocket: {exc}") from None


def _ligand(sequence: str, smiles_param: str | None) -> str:
    """The SMILES from `params.ligand_smiles` and/or `sequence`; both given must be the same molecule."""
    from_sequence = sequence.strip() or None
    if smiles_param is not None and not smiles_param.strip():
        smiles_param = None
    if from_sequence is None and smiles_param is None:
        raise InvalidArgument("DiffDock needs a ligand: set params.ligand_smiles (or put the SMILES in sequence)")
    chosen = smiles_param.strip() if smiles_param is not None else from_sequence
    assert chosen is not None
    _refuse_protein_sequence("sequence", from_sequence)
    _refuse_protein_sequence("params.ligand_smiles", smiles_param)
    try:
        canonical = canonical_smiles(chosen)
        if from_sequence is not None and smiles_param is not None and from_sequence != chosen:
            if canonical_smiles(from_sequence) != canonical:
                raise InvalidArgument(
                    "sequence and params.ligand_smiles are different molecules; give the SMILES once "
                    "(either field) or the same molecule in both"
                )
    except LigandError as exc:  # its words begin with "ligand": said once ("invalid ligand: ligand SMILES ..." was twice)
        raise InvalidArgument(f"invalid ligand: {str(exc).removeprefix('ligand ')}") from None
    return chosen


async def _protein(value: str | None, outputs: JobOutputs) -> tuple[str, str, str | None]:
    """(PDB text, where it came from: "inline" or "job:<id>", and that job's file: "relaxed_pdb" or "pdb")."""
    if value is None or not value.strip():
        raise InvalidArgument(
            "DiffDock needs a receptor: set params.protein_pdb to PDB text or to the job_id of a completed "
            "esmfold/alphafold2 job"
        )
    stripped = value.strip()
    if is_job_id(stripped):
        job_id = canonical_job_id(stripped)
        structure = await outputs.structure_pdb(job_id)
        return structure.content.decode(errors="replace"), f"job:{job_id}", structure.format
    # Up to MAX_PDB_BYTES scanned for records (and a sequence's letters counted): off the event loop, which a 5 MB
    # text held for ~0.1 s (~0.5-1 s before the mistake naming read only its first SNIFF_CHARS).
    return (*await off_loop(outputs.account_id, _inline_receptor, value, stripped), None)


def _inline_receptor(value: str, stripped: str) -> tuple[str, str]:
    """(`value`, "inline") when it is PDB text, else `InvalidArgument` saying what it is (mmCIF, a sequence, ...)."""
    try:
        refuse_mmcif(value)  # first: mmCIF's `ATOM 1 ...` lines are no PDB records, but it is no path either
    except ReceptorError as exc:
        raise InvalidArgument(f"params.protein_pdb: {exc}") from None
    if not _PDB_RECORD.search(value):
        mixup = _not_a_structure(stripped)
        if mixup is not None:
            raise InvalidArgument(mixup)
        raise InvalidArgument(
            "params.protein_pdb must be the PDB file content (ATOM records) or the job_id of a completed "
            "esmfold/alphafold2 job; file paths and URLs are not accepted"
        )
    return value, "inline"


def _protein_sequence_length(text: str) -> int | None:
    """Residues of `text` when it reads as a protein sequence (amino-acid letters in either case, whitespace,
    ':' chain breaks; at least `MIN_SEQUENCE_LETTERS`), else None. Its first `SNIFF_CHARS` decide."""
    head = text[:SNIFF_CHARS]
    if not _AMINO_ACID_TEXT.fullmatch(head) or not _NOT_SMILES_ATOMS.intersection(head.upper()):
        return None  # "CCCCCCCCCCCC" is dodecane (a SMILES too long to parse stays a SMILES problem)
    letters = _letters(text)
    return letters if letters >= MIN_SEQUENCE_LETTERS else None


def _letters(text: str) -> int:
    """The ASCII letters of `text`, counted in C: a Python loop over a 5 MB text took ~0.4 s."""
    return len(text.encode("ascii", "ignore").translate(None, _NOT_LETTER_BYTES))


def _not_a_structure(text: str) -> str | None:
    """What a `protein_pdb` without PDB records is, when it is a sequence or a PDB id rather than a path: the
    seed's `sequence` is "Protein sequence (amino acids) or SMILES", so users paste the receptor's sequence (or
    FASTA, or its PDB id) here, and "file paths and URLs are not accepted" told them nothing they had done."""
    fold_first = ("DiffDock docks into a 3D structure: fold the sequence first (an esmfold or alphafold2 job) and "
                  "pass that job's job_id as protein_pdb, or send a PDB file's content")
    head = text[:SNIFF_CHARS]  # a PDB's records begin at its first line: the head says it
    if _PDB_OTHER_RECORD.search(head):
        return ("params.protein_pdb is a PDB file without ATOM or HETATM records (no coordinates: only headers, "
                "SEQRES or END lines); send the whole file, or the job_id of a completed esmfold/alphafold2 job")
    if text.startswith(">"):
        return f"params.protein_pdb looks like FASTA (it starts with '>'), a sequence, not a structure; {fold_first}"
    residues = _protein_sequence_length(text)
    if residues is not None:
        return (f"params.protein_pdb looks like a protein sequence ({residues} residues), not a structure; "
                f"{fold_first}")
    if _PDB_ID.fullmatch(text):
        return (f"params.protein_pdb looks like a PDB id ({json_value_text(text)}); this server does not download "
                f"structures: send the PDB file's content (e.g. https://files.rcsb.org/download/{text.upper()}.pdb) "
                "or the job_id of a completed esmfold/alphafold2 job")
    return None


def _refuse_protein_sequence(field: str, text: str | None) -> None:
    """A protein sequence where DiffDock takes the ligand's SMILES is named as one (RDKit's "syntax error (check
    brackets, ring closures ...)" blamed the SMILES, even when `params.ligand_smiles` held a good one)."""
    if text is None:
        return
    residues = _protein_sequence_length(text)
    if residues is None:
        return
    try:
        parse_smiles(text)
    except LigandError:
        raise InvalidArgument(
            f"invalid ligand: {field} looks like a protein sequence ({residues} residues), not a SMILES; for DiffDock "
            "`sequence` (or params.ligand_smiles) is the ligand's SMILES, and the protein goes in params.protein_pdb "
            "as PDB file content or the job_id of a completed esmfold/alphafold2 job (fold the sequence first)"
        ) from None


def build_spec(env: Mapping[str, str] | None = None) -> ModelSpec:
    return DiffDockSpec(DiffDockSettings.from_env(current_env() if env is None else env))
