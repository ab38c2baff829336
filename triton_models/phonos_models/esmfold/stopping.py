"""Where an ESMFold forward pass asks whether to stop, and how often.

A forward pass is one transformers call, so the only places to stop it are forward pre-hooks on its
modules. Checking only at each trunk pass (the trunk's first block) left a cancelled job, or one past its
compute limit, computing for a whole pass: with the 3B weights, 48 folding blocks (the first pass also
behind the 36-layer ESM-2 language model), many seconds on a GPU for 1,000 aa, minutes on CPU.

So the hooks sit before every ESM-2 layer, every trunk block (and the parts of a block that take its time:
`BLOCK_PARTS`) and the structure module. The check at each
trunk pass start is always made (it reports the pass, as before); every other one asks `should_stop()`
only when `interval_s` has passed since the last ask, because in Triton each ask is an
`is_cancelled()` round trip to the server (~0.4 ms) and a 48-block × 25-pass fold would otherwise make
~1,300 of them. A fold shorter than the interval asks exactly as often as with per-pass checks only.

On a GPU a hook runs when its module's kernels are queued, not when they finish: after a stop, what the
CPU had queued ahead of the GPU (bounded by CUDA's launch queue) still runs, as it did at pass starts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from phonos_models.common.errors import Cancelled
from phonos_models.common.progress import Progress, Report, ShouldStop, ignore
from phonos_models.common.transformers_esm import EsmForProteinFolding

# How long a fold may compute between two stop checks (besides the one at each trunk pass start).
# 0.2 s bounds the delay from a cancel to the stop at ~0.2 s plus one layer or block, under the half
# second a user notices, while adding at most five ~0.4 ms round trips per second of fold (~0.2 %).
STOP_CHECK_INTERVAL_S = 0.2
PER_PASS_ONLY = math.inf  # an interval that never elapses: the checks at trunk pass starts alone

# The parts of a folding block that take its time, asked before each too (the order a block runs them), with what a
# message calls them. A block alone can be most of a pass: the served tiny model has one block, 20 s a pass at
# 900 aa on this CPU, and a 3B block at 1,000 aa is seconds on a CPU. At 500 aa the two triangle attentions are
# 86 % of a block; their `mha` runs once per chunk of rows (`chunk_size`), so a chunked block asks between chunks.
# ~1 µs per hooked call when no ask is due: 48 blocks × 8 calls, ~0.4 ms a pass.
BLOCK_PARTS = (
    ("seq_attention", "sequence attention"),
    ("tri_mul_out", "outgoing triangle update"),
    ("tri_mul_in", "incoming triangle update"),
    ("tri_att_start.mha", "starting-node triangle attention"),
    ("tri_att_end.mha", "ending-node triangle attention"),
    ("mlp_pair", "pair transition"),
)

Clock = Callable[[], float]


class StopChecks:
    """The stop checks and pass counting of one forward pass over `total_passes` trunk passes.

    `passes` counts the trunk passes started; `report` hears each start, as `Progress("recycle", ...)`.
    """

    def __init__(self, should_stop: ShouldStop | None, total_passes: int, report: Report = ignore,
                 interval_s: float = STOP_CHECK_INTERVAL_S, clock: Clock = time.monotonic) -> None:
        self._should_stop = should_stop
        self._total = total_passes
        self._report = report
        self._interval_s = interval_s
        self._clock = clock
        self._last = clock()  # counted from the forward's start: a fold shorter than the interval asks nothing more
        self.passes = 0

    def pass_starts(self) -> None:
        """The trunk's first block is about to run: a new pass. Always asks, as before this module."""
        if self._ask():
            raise Cancelled(f"cancelled after {self.passes} of {self._total} trunk passes")
        # `step` counts passes done (a bar's fill); the message names the pass that starts now.
        self._report(Progress("recycle", self.passes, self._total,
                              f"trunk pass {self.passes + 1} of {self._total} (recycle {self.passes} of {self._total - 1})"))
        self.passes += 1

    def within(self, where: Callable[[], str]) -> None:
        """A throttled check before a layer or block; `where` (built only when stopping) names it."""
        if self._should_stop is None or self._clock() - self._last < self._interval_s:
            return
        if self._ask():
            raise Cancelled(f"cancelled {where()}")

    def _ask(self) -> bool:
        if self._should_stop is None:
            return False
        self._last = self._clock()
        return self._should_stop()

    @contextmanager
    def installed(self, model: EsmForProteinFolding) -> Iterator[None]:
        """Hooks on `model` for the duration of the block; removed however the block ends."""
        handles: list[torch.utils.hooks.RemovableHandle] = []
        try:
            layers = model.esm.encoder.layer
            for index, _layer in enumerate(layers):
                handles.append(_layer.register_forward_pre_hook(self._language_model_hook(index, len(layers))))
            blocks = model.trunk.blocks
            for index, block in enumerate(blocks):
                handles.append(block.register_forward_pre_hook(self._trunk_hook(index, len(blocks))))
                for part, label in BLOCK_PARTS:
                    handles.append(block.get_submodule(part).register_forward_pre_hook(
                        self._part_hook(index, len(blocks), label)))
            handles.append(model.trunk.structure_module.register_forward_pre_hook(self._structure_hook()))
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _language_model_hook(self, index: int, count: int) -> Callable[[torch.nn.Module, Any], None]:
        def hook(_module: torch.nn.Module, _args: Any) -> None:
            self.within(lambda: f"while embedding with the language model (layer {index + 1} of {count}), "
                                f"before trunk pass 1 of {self._total}")
        return hook

    def _trunk_hook(self, index: int, count: int) -> Callable[[torch.nn.Module, Any], None]:
        def hook(_module: torch.nn.Module, _args: Any) -> None:
            if index == 0:
                self.pass_starts()
            else:
                self.within(lambda: f"in trunk pass {self.passes} of {self._total}, block {index + 1} of {count}")
        return hook

    def _part_hook(self, index: int, count: int, label: str) -> Callable[[torch.nn.Module, Any], None]:
        def hook(_module: torch.nn.Module, _args: Any) -> None:
            self.within(lambda: f"in trunk pass {self.passes} of {self._total}, block {index + 1} of {count}, "
                                f"at its {label}")  # an attention asks between its chunks too
        return hook

    def _structure_hook(self) -> Callable[[torch.nn.Module, Any], None]:
        def hook(_module: torch.nn.Module, _args: Any) -> None:
            self.within(lambda: f"in trunk pass {self.passes} of {self._total}, before its structure module")
        return hook
