"""The bundle README's ranking table shows the number each model was ranked by: mean pLDDT for a monomer,
0.8·ipTM + 0.2·pTM (with ipTM) for a complex, where the table used to stop at pTM."""

from __future__ import annotations

import numpy as np
import pytest
from phonos_models.alphafold2.confidence import Confidence
from phonos_models.alphafold2.report import ranking_table
from phonos_models.alphafold2.runner import ModelOutput

pytestmark = pytest.mark.unit


def output(name: str, plddt: float, ptm: float | None, iptm: float | None) -> ModelOutput:
    confidence = Confidence(plddt=np.full(4, plddt, dtype=np.float32), pae=None, max_pae=None, ptm=ptm, iptm=iptm,
                            chains=(), interfaces=())
    return ModelOutput(model_name=name, positions=np.zeros((4, 37, 3), np.float32),
                       atom_mask=np.zeros((4, 37), np.float32), confidence=confidence, recycles=0, seconds=0.0)


def rows(table: tuple[str, ...]) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table]


def test_complex_ranking_lists_iptm_and_the_ranking_confidence() -> None:
    # model 2 has the lower pLDDT and pTM but ranks first on ipTM: the table must show why
    table = rows(ranking_table([output("model_2_multimer_v3", 60.0, 0.50, 0.80),
                                output("model_1_multimer_v3", 80.0, 0.70, 0.20)]))
    assert table[0] == ["rank", "model", "mean pLDDT", "pTM", "ipTM", "0.8*ipTM+0.2*pTM"]
    assert table[2] == ["1", "model_2_multimer_v3", "60.00", "0.5000", "0.8000", "0.7400"]
    assert table[3] == ["2", "model_1_multimer_v3", "80.00", "0.7000", "0.2000", "0.3000"]


def test_monomer_ranking_keeps_its_columns() -> None:
    table = rows(ranking_table([output("model_1", 71.5, None, None), output("model_2_ptm", 70.0, 0.6, None)]))
    assert table[0] == ["rank", "model", "mean pLDDT", "pTM"]
    assert table[2:] == [["1", "model_1", "71.50", "n/a"], ["2", "model_2_ptm", "70.00", "0.6000"]]
