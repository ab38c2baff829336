"""Where an ESMFold fold stops when asked: within a pass, throttled, hooks always removed (in-process)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from phonos_models.common.errors import Cancelled, ResourceExhausted
from phonos_models.common.progress import Progress
from phonos_models.esmfold.architecture import build_tiny_model
from phonos_models.esmfold.batching import FoldJob
from phonos_models.esmfold.predict import fold_batch
from phonos_models.esmfold.stopping import BLOCK_PARTS, PER_PASS_ONLY, StopChecks

pytestmark = pytest.mark.integration

SEQ = "MKTAYIAKQRQISFVKSHFSRQ"  # 22 aa
OTHER = "GSHMASMTGGQQMGRGSWLVEQMKTV"  # 26 aa
LAYERS, BLOCKS = 3, 4  # places to stop in: 3 language-model layers, then 4 trunk blocks and a structure module per pass
PASSES = 3
PARTS = len(BLOCK_PARTS)  # each block also asks before its heavy parts (one chunk each: chunk_size None)
PER_BLOCK = 1 + PARTS
PER_PASS = BLOCKS * PER_BLOCK + 1  # its blocks, then its structure module


def place(trunk_pass: int, block: int, part: int = 0) -> int:
    """The number of the ask (from 1, a throttle of 0) before `block` (from 1) of `trunk_pass` (from 1), or before
    its `part`-th part (from 1) when `part` is given; `block` BLOCKS + 1 is the pass's structure module."""
    return LAYERS + (trunk_pass - 1) * PER_PASS + (block - 1) * PER_BLOCK + 1 + part


@pytest.fixture(scope="module")
def deep():
    """The tiny model with more layers and blocks than the served one, so a pass has an inside."""
    model = build_tiny_model(0, trunk_blocks=BLOCKS, language_model_layers=LAYERS)
    model.requires_grad_(False)
    return model


def job(sequence: str = SEQ) -> FoldJob:
    return FoldJob(sequence=sequence, num_recycles=PASSES - 1, chunk_size=None)


class StopAt:
    """A should_stop that answers True from its `at`-th call on; counts calls."""

    def __init__(self, at: int | None = None) -> None:
        self.at, self.calls = at, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.at is not None and self.calls >= self.at


def hooks_left(model: torch.nn.Module) -> int:
    """Forward pre-hooks still on the model (what the stop checks install)."""
    return sum(len(module._forward_pre_hooks) for module in model.modules())


@pytest.fixture
def structure_runs(deep) -> Iterator[list[int]]:
    """How many times the structure module ran to its end (once per finished pass)."""
    runs: list[int] = []
    handle = deep.trunk.structure_module.register_forward_hook(lambda *_: runs.append(1))
    yield runs
    handle.remove()


# With a throttle of 0 every place asks, in this order: layers 1-3 (calls 1-3), then per pass its start (block 1),
# each block's parts, blocks 2-4 each with its parts, and the structure module (`place`).
@pytest.mark.parametrize(("at", "where"), [
    (2, "cancelled while embedding with the language model (layer 2 of 3), before trunk pass 1 of 3"),
    (place(1, 3), "cancelled in trunk pass 1 of 3, block 3 of 4"),
    (place(1, 2, 4), "cancelled in trunk pass 1 of 3, block 2 of 4, at its starting-node triangle attention"),
    (place(1, 1, 1), "cancelled in trunk pass 1 of 3, block 1 of 4, at its sequence attention"),
    (place(1, BLOCKS + 1), "cancelled in trunk pass 1 of 3, before its structure module"),
    (place(2, 4), "cancelled in trunk pass 2 of 3, block 4 of 4"),
    (place(3, 4, PARTS), "cancelled in trunk pass 3 of 3, block 4 of 4, at its pair transition"),
])
def test_a_stop_is_heard_inside_a_pass_and_says_where(deep, structure_runs, at: int, where: str) -> None:
    heard: list[Progress] = []
    stop = StopAt(at)
    with pytest.raises(Cancelled) as raised:
        fold_batch(deep, [job()], stop, heard.append, check_interval_s=0.0)
    assert str(raised.value) == where
    assert stop.calls == at, "nothing runs after the stop"
    started = 0 if at <= LAYERS else 1 + (at - LAYERS - 1) // PER_PASS
    assert [p.step for p in heard] == list(range(started)), "the next pass never started"
    assert len(structure_runs) == max(0, started - 1), "the stopped pass never reached its structure module"
    assert hooks_left(deep) == 0


def test_per_pass_only_asks_once_per_pass_as_before(deep) -> None:
    stop = StopAt()
    (result,) = fold_batch(deep, [job()], stop, check_interval_s=PER_PASS_ONLY)
    assert stop.calls == PASSES and result.trunk_passes == PASSES
    with pytest.raises(Cancelled, match="^cancelled after 1 of 3 trunk passes$"):
        fold_batch(deep, [job()], StopAt(2), check_interval_s=PER_PASS_ONLY)


def test_a_throttle_of_zero_asks_at_every_layer_block_and_structure_module(deep) -> None:
    stop = StopAt()
    fold_batch(deep, [job()], stop, check_interval_s=0.0)
    assert stop.calls == LAYERS + PASSES * PER_PASS


def test_a_chunked_block_asks_between_the_chunks_of_its_triangle_attentions(deep) -> None:
    # 22 residues in chunks of 8 rows: each triangle attention runs its `mha` 3 times, 2 more asks each
    stop = StopAt()
    fold_batch(deep, [FoldJob(sequence=SEQ, num_recycles=PASSES - 1, chunk_size=8)], stop, check_interval_s=0.0)
    assert stop.calls == LAYERS + PASSES * (PER_PASS + BLOCKS * 2 * 2)


def test_the_throttle_asks_at_most_once_per_interval_besides_each_pass_start() -> None:
    now = [0.0]
    stop = StopAt()
    checks = StopChecks(stop, total_passes=2, interval_s=0.2, clock=lambda: now[0])
    for _ in range(5):  # a fold shorter than the interval asks nothing more
        now[0] += 0.03
        checks.within(lambda: "here")
    assert stop.calls == 0
    now[0] += 0.05  # 0.2 s since the start
    checks.within(lambda: "here")
    checks.within(lambda: "here")
    assert stop.calls == 1
    now[0] += 0.1
    checks.pass_starts()  # always asks, and restarts the interval
    assert stop.calls == 2 and checks.passes == 1
    now[0] += 0.15
    checks.within(lambda: "here")
    assert stop.calls == 2
    now[0] += 0.05
    stop.at = 1
    with pytest.raises(Cancelled, match="^cancelled here$"):
        checks.within(lambda: "here")


def test_without_should_stop_nothing_is_asked_and_passes_still_count() -> None:
    now = [0.0]
    checks = StopChecks(None, total_passes=1, interval_s=0.0, clock=lambda: now[0])
    now[0] += 10.0
    checks.within(lambda: pytest.fail("never built"))
    checks.pass_starts()
    assert checks.passes == 1


def test_results_are_bit_identical_with_checks_every_place(deep) -> None:
    (plain,) = fold_batch(deep, [job()])
    (checked,) = fold_batch(deep, [job()], StopAt(), check_interval_s=0.0)
    for name in ("atom_positions", "atom_plddt", "pae"):
        assert np.array_equal(getattr(plain, name), getattr(checked, name)), name
    assert plain.ptm == checked.ptm and checked.trunk_passes == PASSES


def test_hooks_are_removed_after_success_cancel_and_out_of_memory(deep) -> None:
    fold_batch(deep, [job()], StopAt(), check_interval_s=0.0)
    assert hooks_left(deep) == 0
    with pytest.raises(Cancelled):
        fold_batch(deep, [job()], StopAt(place(1, 2, 3)), check_interval_s=0.0)
    assert hooks_left(deep) == 0

    def out_of_memory_when_batched(_module: torch.nn.Module, args: tuple) -> None:
        if args[0].shape[0] > 1:  # the sequence state [batch, length, channels]
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    handle = deep.trunk.blocks[2].register_forward_pre_hook(out_of_memory_when_batched)
    try:
        stop = StopAt()
        alone = fold_batch(deep, [job(SEQ), job(OTHER)], stop, check_interval_s=0.0)  # retried one at a time
        assert [r.sequence for r in alone] == [SEQ, OTHER] and all(r.batch_size == 1 for r in alone)
        # the failed batch asked up to its third block, then each retry asked everywhere
        assert stop.calls == LAYERS + 2 * PER_BLOCK + 2 * (LAYERS + PASSES * PER_PASS)
        assert hooks_left(deep) == 1  # the simulated failure's own
        with pytest.raises(Cancelled, match="block 4 of 4"):  # a stop in a retry still stops it
            fold_batch(deep, [job(SEQ), job(OTHER)], StopAt(LAYERS + 2 * PER_BLOCK + place(1, 4)), check_interval_s=0.0)
        assert hooks_left(deep) == 1
    finally:
        handle.remove()

    def out_of_memory(_module: torch.nn.Module, _args: tuple) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    handle = deep.trunk.blocks[1].register_forward_pre_hook(out_of_memory)
    try:
        with pytest.raises(ResourceExhausted, match="out of memory folding 1 sequence"):
            fold_batch(deep, [job()], StopAt(), check_interval_s=0.0)
        assert hooks_left(deep) == 1  # the simulated failure's own
    finally:
        handle.remove()
