"""The result files (`?format=` keys) a job of each model can have, so that `--formats pbd` (a typo) or a file no
job of that model makes is a usage error (exit 2) before anything is sent, not a job submitted, charged and
waited for whose file is then missing.

A job's own `formats` vary: every result of a model has its FIXED files (jobservice/modelspecs: FORMATS, in the
same order; a test keeps the two equal), and some jobs have more: ESMFold and AlphaFold2 jobs that asked for
`relax` have `relaxed_pdb` and `relaxed_cif` (and AlphaFold2's with `relax=all`, `rank_N_relaxed_pdb`), AlphaFold2
jobs of more than one model have `rank_N_pdb` (N from 2 to its most models), and the presets with a PAE head
have `pae` and `pae_plot` (triton_models/phonos_models: alphafold2/serving.py, common/relax_step.py). Only what no
job of the model can make is refused; a file this one job lacks is said after it ends (cli.follow).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Every result of the model has these (the service's ModelSpec.formats).
FIXED = {
    "esmfold": ("pdb", "cif", "json", "pae", "plddt_plot", "pae_plot", "zip"),
    "alphafold2": ("pdb", "cif", "json", "a3m", "timings", "plddt_plot", "coverage_plot", "zip"),
    "diffdock": ("pdb", "sdf", "json", "confidence_plot", "zip"),
    "echo": ("txt",),  # the diagnostic model (a server's PHONOS_MODELS may list it): its jobs can be downloaded
}
RELAXED = ("relaxed_pdb", "relaxed_cif")
ALPHAFOLD2_MAX_MODELS = 5  # phonos_config.alphafold2.MAX_MODELS: rank_2 ... rank_5
# Some jobs of the model have these as well.
SOME_JOBS = {
    "esmfold": RELAXED,
    "alphafold2": ("pae", "pae_plot", *RELAXED,
                   *(f"rank_{n}_pdb" for n in range(2, ALPHAFOLD2_MAX_MODELS + 1)),
                   *(f"rank_{n}_relaxed_pdb" for n in range(2, ALPHAFOLD2_MAX_MODELS + 1))),
    "diffdock": (),
    "echo": (),
}
ALL = "all"  # every file the job has


def possible(model: str) -> tuple[str, ...]:
    """Every format some job of `model` can have, each once, the fixed ones first."""
    return tuple(dict.fromkeys((*FIXED[model], *SOME_JOBS[model])))


def said(formats: Iterable[str]) -> str:
    """Formats as a refusal lists them: the rank_N files once (`rank_N_pdb`), not once a rank."""
    return ", ".join(dict.fromkeys(re.sub(r"^rank_\d+_", "rank_N_", fmt) for fmt in formats))


def refusal(flag: str, given: str, models: Iterable[str], *, many: bool = True) -> str | None:
    """What to say about `flag`'s `given` formats (comma-separated where `many`) that no job of any of `models`
    can have (`--formats "pbd" is not a format esmfold makes; ...`), or None when some job can have each."""
    models = [m for m in models if m in FIXED]
    if not models:
        return None  # a model this client does not know: the server says
    words = given.split(",") if many else [given]
    if many and words == [ALL]:
        return None
    known = [fmt for model in models for fmt in possible(model)]
    bad = list(dict.fromkeys(w for w in words if w not in known))
    if not bad:
        return None
    what = ", ".join(f'"{w}"' for w in bad)
    whose, make = (models[0], "it makes") if len(models) == 1 else ("any model", "the models make")
    some = "is not a format" if len(bad) == 1 else "are not formats"
    first = [w for w in bad if _RANK_ONE.fullmatch(w)]
    # `rank_N_pdb` in the list reads as if rank_1_pdb were one: the best model's file has the plain name.
    hint = "".join(f'; rank 1 is "{w.removeprefix("rank_1_")}"' for w in first)
    return f"{flag} {what} {some} {whose} makes; {make} {said(known)}{f', or {ALL}' if many else ''}{hint}"


_RANK_ONE = re.compile(r"rank_1_((?:relaxed_)?pdb)")
