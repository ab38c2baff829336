"""A DiffDock job stopped (cancelled, or past its compute limit) while the receptor's chains are embedded by ESM-2
stops before the next chain. Before, the stop was asked once before the embedding: a multi-chain receptor on a CPU
embedded every chain (seconds each) before the job heard it. The rows are those of one call when nothing stops."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from phonos_models.common.errors import Cancelled
from phonos_models.diffdock import receptor
from phonos_models.diffdock.esm_embedding import embed_stoppable
from phonos_models.diffdock.pipeline import DiffDockPipeline, DockingRequest

from phonos_config.diffdock import DiffDockSettings

pytestmark = pytest.mark.integration

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()  # chains A (187 residues) and B (68)
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


@pytest.fixture(scope="module")
def pipeline() -> Iterator[DiffDockPipeline]:
    docking = DiffDockPipeline.from_settings(DiffDockSettings(batch_size=3))
    yield docking
    docking.close()  # its ligand embedding process


def test_a_job_stopped_during_the_first_chains_embedding_stops_before_the_second(
        pipeline: DiffDockPipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    embedded: list[str] = []
    embed = pipeline.esm.embed  # type: ignore[attr-defined]  # the in-process EsmEmbedder, one chain per call

    def embed_and_note(sequence: str) -> torch.Tensor:
        out = embed(sequence)
        embedded.append(sequence)
        return out

    monkeypatch.setattr(pipeline.esm, "embed", embed_and_note)
    rec = receptor.featurize(PDB)
    assert len(rec.esm_sequences) == 2
    with pytest.raises(Cancelled, match=r"^stopped after 1 of 2 chains of the receptor's ESM-2 embedding$"):
        pipeline.dock(DockingRequest(PDB, ASPIRIN, inference_steps=10, samples_per_complex=1, random_seed=1),
                      should_stop=lambda: bool(embedded))  # the cancel arrives while the first chain is embedded
    assert embedded == [next(iter(rec.esm_sequences.values()))]  # the second chain was never embedded


def test_chain_by_chain_gives_the_rows_of_one_call(pipeline: DiffDockPipeline) -> None:
    rec = receptor.featurize(PDB)
    whole = pipeline.esm.embed_residues(rec.chain_ids, rec.esm_sequences)
    asked: list[bool] = []

    def never_stop() -> bool:
        asked.append(True)
        return False

    by_chain = embed_stoppable(pipeline.esm.embed_residues, rec.chain_ids, rec.esm_sequences, 0, never_stop)
    assert by_chain.shape == (len(rec.chain_ids), whole.shape[1]) and torch.equal(by_chain, whole)  # bit for bit
    assert len(asked) == 2  # once before each chain
