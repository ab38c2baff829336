"""Progress a model reports while it runs: the `PROGRESS` responses of a decoupled Triton model.

A job model is decoupled (`model_transaction_policy { decoupled: true }`): for one request it sends
zero or more progress responses, each holding only the `PROGRESS` tensor (one JSON string, this
module's `Progress`), then exactly one final response, the result envelope (`RESULT` + `FILES`,
phonos_models.common.result_files) or a typed error. Progress is advisory: a client may drop it, the
result never depends on it. Like result_files, this module needs nothing but json.

Stages the models report (`stage`, then what `step` of `total` counts):

* `msa_search` — sequence databases searched (AlphaFold2, `search` MSA mode); `msa_search_done`
  when the alignment is ready;
* `templates` — the template search (AlphaFold2, step 0 of 1 when it starts, 1 of 1 when done);
* `model` — AlphaFold2 model k of M started (its step: the passes of the models before it);
* `recycle` — trunk passes: ESMFold's recycle i of N+1; AlphaFold2's passes of every model together (step of
  num_models × (num_recycles + 1)), the message naming the model, k of M, and its pass;
* `diffusion` — DiffDock reverse-diffusion steps, over every batch of samples;
* `confidence` — DiffDock confidence scoring of the sampled poses (batches scored so far);
* `relax` — Amber relax (phonos_models.common.relax): 0 of N structures when it starts, then how many
  were relaxed when it ends (fewer than N when it timed out or failed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PROGRESS = "PROGRESS"  # the output tensor of a progress response
STAGES = ("msa_search", "msa_search_done", "templates", "model", "recycle", "diffusion", "confidence", "relax",
          "running")
_MAX_MESSAGE = 200


class ProgressError(ValueError):
    """A progress response that is not a progress record (a bug on the model side)."""


@dataclass(frozen=True)
class Progress:
    """One step of a running request: `step` of `total` in `stage`, with a one-line human message."""

    stage: str
    step: int
    total: int
    message: str = ""

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ProgressError(f"unknown progress stage {self.stage!r}")
        if self.step < 0 or self.total < 0 or (self.total > 0 and self.step > self.total):
            raise ProgressError(f"progress step {self.step} of {self.total} is out of range")

    @property
    def fraction(self) -> float | None:
        """0–1 within the stage; None when the stage has no known length."""
        return None if self.total <= 0 else min(1.0, self.step / self.total)

    def to_json(self) -> str:
        return json.dumps({"stage": self.stage, "step": self.step, "total": self.total,
                           "message": self.message[:_MAX_MESSAGE]})

    @classmethod
    def from_json(cls, text: str | bytes) -> Progress:
        try:
            value: Any = json.loads(text)
            return cls(str(value["stage"]), int(value["step"]), int(value["total"]), str(value.get("message", "")))
        except (ValueError, KeyError, TypeError) as exc:
            raise ProgressError(f"{PROGRESS} is not a progress record: {exc}") from None


# What science code calls to report progress; it must be cheap and must not raise.
Report = Callable[[Progress], None]
# Asked between steps of a long computation: True when the job was cancelled or ran out of time.
ShouldStop = Callable[[], bool]


def ignore(_: Progress) -> None:
    """The default reporter: nobody is listening."""
