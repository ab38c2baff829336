"""The AFDB-shaped PAE document (phonos_models.common.pae_file), without a model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from phonos_models.common import pae_file

pytestmark = pytest.mark.unit


def test_the_document_is_one_object_with_the_matrix_to_one_decimal_and_the_heads_max() -> None:
    scores_pae = [[0.25, 3.04, 17.96], [2.96, 0.31, 30.99], [12.5, 8.05, 0.27]]
    [document] = pae_file.afdb_pae(scores_pae)
    assert document == {"predicted_aligned_error": [[0.2, 3.0, 18.0], [3.0, 0.3, 31.0], [12.5, 8.0, 0.3]],
                        "max_predicted_aligned_error": 31.75}


def test_the_file_is_compact_json_named_beside_the_plot() -> None:
    item = pae_file.pae_file([[0.0, 1.0], [1.0, 0.0]])
    assert (item.format, item.extension, item.media_type) == ("pae", "pae.json", "application/json")
    assert item.content == b'[{"predicted_aligned_error":[[0.0,1.0],[1.0,0.0]],"max_predicted_aligned_error":31.75}]'
    assert json.loads(item.content)[0]["predicted_aligned_error"] == [[0.0, 1.0], [1.0, 0.0]]


@pytest.mark.parametrize("matrix", [[[0.0, 1.0]], [1.0, 2.0], [[[1.0]]]])
def test_a_matrix_that_is_not_square_is_refused(matrix) -> None:
    with pytest.raises(ValueError, match="N x N"):
        pae_file.afdb_pae(matrix)


@pytest.mark.parametrize("matrix", [
    np.random.default_rng(0).gamma(2.0, 4.0, (60, 60)).clip(0.0, 31.75),  # what a model gives
    np.array([[0.0, 31.75], [31.8, 0.04]]),  # the table's last entries (31.75 and 31.8 round to 31.8)
    np.array([[40.0, -1.0], [0.05, 0.15]]),  # outside the table: json.dumps writes it
])
def test_the_fast_writer_gives_json_dumps_bytes(matrix: np.ndarray) -> None:
    scores_pae = np.round(matrix, 2).tolist()
    expected = json.dumps(pae_file.afdb_pae(scores_pae), separators=(",", ":")).encode()
    assert pae_file.pae_file(scores_pae).content == expected
