"""The plots every bundle carries: PNGs of the promised pixel size, whatever the input size, with the bands,
lines, cells, bars and colour bars drawn where the data puts them (pixels read back at known positions)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from phonos_models.common import plots, raster
from PIL import Image

from tests.bundle_checks import png_size

pytestmark = pytest.mark.unit


def pixels(png: bytes) -> np.ndarray:
    """[H, W, 3] uint8, decoded by Pillow (an independent PNG reader)."""
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB")).astype(int)


def at(image: np.ndarray, x: float, y: float) -> tuple[int, ...]:
    return tuple(int(v) for v in image[round(float(y)), round(float(x))])


def close(found: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 3) -> bool:
    return max(abs(a - b) for a, b in zip(found, expected, strict=True)) <= tolerance


def dark(image: np.ndarray, box: raster.Box) -> int:
    """How many pixels inside `box` are near black (text, spines, dashes)."""
    part = image[box.top:box.bottom, box.left:box.right]
    return int((part.max(axis=2) < 100).sum())


@pytest.mark.parametrize("length", [1, 37, 1200])
def test_every_plot_has_its_size_for_short_and_long_inputs(length: int) -> None:
    rng = np.random.default_rng(length)
    plddt = rng.uniform(0, 100, length)
    series = [plots.Series("rank 1", plddt), plots.Series("rank 2", plddt[::-1].copy())]
    lengths = [length] if length < 3 else [length // 3, length - length // 3]
    assert png_size(plots.plddt_png(series, "pLDDT", lengths)) == plots.PLDDT_SIZE
    assert png_size(plots.pae_png(rng.uniform(0, 31, (length, length)), "PAE", lengths)) == plots.PAE_SIZE
    non_gap = rng.random((50, length)) > 0.3
    assert png_size(plots.coverage_png(non_gap, rng.random(50), "MSA", lengths)) == plots.COVERAGE_SIZE
    assert png_size(plots.coverage_png(non_gap[:0], np.zeros(0), "query only")) == plots.COVERAGE_SIZE


def test_plddt_plot_draws_bands_line_chain_boundary_and_text() -> None:
    lengths = [40, 25]
    values = np.full(65, 60.0)
    image = pixels(plots.plddt_png([plots.Series("ESMFold", values)], "Predicted lDDT\nsecond line", lengths))
    axes = plots.plddt_axes(65)
    band = {label: raster.blend(raster.colour(fill), plots.BAND_ALPHA) for _, _, fill, label in plots.PLDDT_BANDS}
    x = axes.x_px(10.0)  # clear of the chain labels
    assert close(at(image, x, axes.y_px(95)), band["very high (>90)"])
    assert close(at(image, x, axes.y_px(80)), band["confident (70-90)"])
    assert close(at(image, x, axes.y_px(40)), band["very low (<50)"])
    assert close(at(image, x, axes.y_px(10)), band["very low (<50)"])
    # the line at pLDDT 60 crosses the "low" band in the first line colour
    assert close(at(image, x, axes.y_px(60)), raster.colour(raster.TAB10[0]), tolerance=40)
    assert close(at(image, x, axes.y_px(64)), band["low (50-70)"])
    # the chain boundary (between residues 40 and 41) is a dashed black column; residue 10's column is not
    boundary = round(axes.x_px(40.5))
    column = image[plots.PLDDT_AXES.top:plots.PLDDT_AXES.bottom, boundary].max(axis=1)
    assert 0.4 < (column < 60).mean() < 0.9
    assert (image[plots.PLDDT_AXES.top:plots.PLDDT_AXES.bottom, round(x)].max(axis=1) < 60).mean() < 0.05
    # the chain labels, tick labels, axis labels, title lines and legend are drawn
    label_a = raster.Box(round(axes.x_px(20)) - 10, round(axes.y_px(97)), round(axes.x_px(21)) + 10,
                         round(axes.y_px(88)))
    assert dark(image, label_a) > 10
    assert dark(image, raster.Box(0, 0, plots.PLDDT_SIZE[0], plots.PLDDT_AXES.top - 2)) > 100  # title
    assert dark(image, raster.Box(0, plots.PLDDT_AXES.top, plots.PLDDT_AXES.left - 2, plots.PLDDT_AXES.bottom)) > 100
    assert dark(image, raster.Box(plots.PLDDT_AXES.left, plots.PLDDT_AXES.bottom + 2, plots.PLDDT_AXES.right,
                                  plots.PLDDT_SIZE[1])) > 100  # x ticks and label
    legend = image[plots.PLDDT_AXES.top:plots.PLDDT_AXES.top + 120, plots.PLDDT_AXES.right + 10:]
    for entry in [raster.colour(raster.TAB10[0])] + [raster.blend(raster.colour(f), 0.4) for _, _, f, _ in plots.PLDDT_BANDS]:
        assert (np.abs(legend - np.array(entry)).max(axis=2) <= 2).sum() > 20, entry


def test_pae_heatmap_maps_cells_to_greens_with_chain_lines_and_colour_bar() -> None:
    lengths = [40, 25]
    pae = np.full((65, 65), plots.PAE_MAX)
    pae[:40, :40] = 0.0
    pae[40:, 40:] = 15.0
    image = pixels(plots.pae_png(pae, "PAE", lengths))
    axes = plots.pae_axes(65)
    darkest, lightest = raster.colour("#00441b"), raster.colour("#f7fcf5")  # the ends of matplotlib's Greens
    assert at(image, axes.x_px(10), axes.y_px(10)) == darkest  # row 10 (aligned), column 10 (scored)
    assert at(image, axes.x_px(50), axes.y_px(10)) == lightest
    assert at(image, axes.x_px(10), axes.y_px(50)) == lightest
    assert at(image, axes.x_px(50), axes.y_px(50)) == tuple(plots.PAE_LUT[128])
    assert at(image, axes.x_px(1), axes.y_px(1)) == darkest  # residue 1 at the top left
    boundary = round(axes.x_px(40.5))
    assert (image[plots.PAE_AXES.top:plots.PAE_AXES.bottom, boundary].max(axis=1) < 60).mean() > 0.4
    row = round(axes.y_px(40.5))
    assert (image[row, plots.PAE_AXES.left:plots.PAE_AXES.right].max(axis=1) < 60).mean() > 0.4
    bar = plots.PAE_COLORBAR
    centre = (bar.left + bar.right) / 2
    assert at(image, centre, bar.top + 1) == lightest  # 30 Angstrom at the top
    assert at(image, centre, bar.bottom - 2) == darkest  # 0 at the bottom
    assert dark(image, raster.Box(bar.right + 2, bar.top, plots.PAE_SIZE[0], bar.bottom)) > 100  # ticks, label


@pytest.mark.parametrize("length", [65, 1200])  # fewer cells than pixels, and more
def test_pae_rows_are_aligned_residues_and_columns_scored_residues(length: int) -> None:
    # PAE is not symmetric: pae[i, j] is the error at residue j when aligned on residue i (AlphaFold DB:
    # aligned residue down the side, scored residue along the top). A transposed map would swap the halves.
    split = length * 2 // 3
    pae = np.full((length, length), 15.0)
    pae[:split, split:] = 0.0
    pae[split:, :split] = plots.PAE_MAX
    image = pixels(plots.pae_png(pae, "PAE"))
    axes = plots.pae_axes(length)
    darkest, lightest = raster.colour("#00441b"), raster.colour("#f7fcf5")
    low, high = split // 2, (split + length) // 2
    assert at(image, axes.x_px(high), axes.y_px(low)) == darkest  # aligned on an early residue, scored late
    assert at(image, axes.x_px(low), axes.y_px(high)) == lightest
    assert at(image, axes.x_px(low), axes.y_px(low)) == tuple(plots.PAE_LUT[128])


def test_coverage_plot_colours_rows_by_identity_leaves_gaps_blank_and_counts_coverage() -> None:
    non_gap = np.ones((20, 30), dtype=bool)
    non_gap[10:, :15] = False  # the 10 least identical sequences cover the second half only
    non_gap[18:, 15:] = False  # ... and the last 2 nothing
    identity = np.linspace(1.0, 0.05, 20)
    image = pixels(plots.coverage_png(non_gap, identity, "MSA", [15, 15]))
    axes = plots.coverage_axes(30, 20)
    assert close(at(image, axes.x_px(20), axes.y_px(0.5)), tuple(plots.IDENTITY_LUT[255]))  # identity 1: violet
    assert at(image, axes.x_px(5), axes.y_px(15.5)) == raster.WHITE  # a gap
    assert close(at(image, axes.x_px(20), axes.y_px(17.5)), tuple(raster.lookup(identity[17], plots.IDENTITY_LUT, 0, 1)))
    assert at(image, axes.x_px(20), axes.y_px(18.5)) == raster.WHITE
    # the coverage line: 10 sequences over positions 1-15 and 18 over 16-30
    assert close(at(image, axes.x_px(7), axes.y_px(10)), raster.BLACK, tolerance=60)
    assert close(at(image, axes.x_px(23), axes.y_px(18)), raster.BLACK, tolerance=60)


def test_pose_confidence_plot_handles_missing_scores() -> None:
    png = plots.pose_confidence_png([1.2, -0.7, None, -3.0, float("nan")], ["high", "moderate", "unknown", "low", "low"],
                                    "poses", (0.0, -1.5))
    assert png_size(png) == plots.CONFIDENCE_SIZE
    image = pixels(png)
    axes = plots.confidence_axes(5, -3.5, 1.7)
    colour = {k: raster.colour(v) for k, v in plots.CONFIDENCE_COLOURS.items()}
    assert at(image, axes.x_px(1), axes.y_px(0.6)) == colour["high"]
    assert at(image, axes.x_px(2), axes.y_px(-0.35)) == colour["moderate"]
    assert at(image, axes.x_px(4), axes.y_px(-2.0)) == colour["low"]
    assert at(image, axes.x_px(3), axes.y_px(-1.0)) == raster.WHITE  # no score, no bar ("n/a" below)
    assert at(image, axes.x_px(1), axes.y_px(-1.0)) == raster.WHITE  # nothing below a positive bar
    na = raster.Box(round(axes.x_px(2.8)), round(axes.y_px(-3.0)), round(axes.x_px(3.2)),
                    round(axes.y_px(-3.3)))
    assert dark(image, na) > 5


def test_chain_boundaries_mark_the_last_residue_of_each_chain_but_the_last() -> None:
    assert plots.chain_boundaries([23, 12, 5]) == [22, 34]
    assert plots.chain_boundaries([10]) == []


def test_ticks_fall_on_nice_steps_within_the_range() -> None:
    assert raster.ticks(1, 60, 10, integer=True) == [10, 20, 30, 40, 50, 60]
    assert raster.ticks(0, 100, 6) == [0, 20, 40, 60, 80, 100]
    assert raster.ticks(0, 1, 6) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert raster.ticks(1, 2, 10, integer=True) == [1, 2]
    assert raster.labels([0, 0.2, 1.0]) == ["0.0", "0.2", "1.0"]
    assert raster.labels([-3.0, 0.0, 1.0]) == ["-3", "0", "1"]


def test_png_encoder_round_trips_every_pixel() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (7, 11, 3), dtype=np.uint8)
    assert np.array_equal(pixels(raster.encode_png(rgb)), rgb)
    # rows filtered against the row above (values wrap modulo 256); a single row has none above it
    steep = np.array([[[255, 0, 1]], [[0, 255, 0]], [[1, 1, 255]]], dtype=np.uint8)
    assert np.array_equal(pixels(raster.encode_png(steep)), steep)
    assert np.array_equal(pixels(raster.encode_png(rgb[:1])), rgb[:1])


def test_colour_maps_match_matplotlibs_ends() -> None:
    assert tuple(raster.GREENS[0]) == raster.colour("#f7fcf5") and tuple(raster.GREENS[-1]) == raster.colour("#00441b")
    assert tuple(raster.RAINBOW[0]) == (128, 0, 255) and tuple(raster.RAINBOW[-1]) == (255, 0, 0)


def test_missing_values_are_left_blank_not_drawn_as_the_scale_end() -> None:
    """matplotlib's imshow masks NaN and infinite cells (the white figure shows through); mapping them to
    the low end of the scale would draw a missing PAE as the most confident green."""
    pae = np.full((20, 20), 5.0)
    pae[5:10, 5:10] = np.nan
    pae[15, 15] = np.inf
    image = pixels(plots.pae_png(pae, "PAE"))
    axes = plots.pae_axes(20)
    assert at(image, axes.x_px(7), axes.y_px(7)) == raster.WHITE
    assert at(image, axes.x_px(16), axes.y_px(16)) == raster.WHITE
    assert at(image, axes.x_px(2), axes.y_px(2)) == tuple(raster.lookup(5.0, plots.PAE_LUT, 0.0, plots.PAE_MAX))
    assert at(image, axes.x_px(2), axes.y_px(2)) != raster.WHITE
    assert at(image, axes.x_px(12), axes.y_px(7)) == at(image, axes.x_px(2), axes.y_px(2))
    # an identity that could not be computed: a blank row, like a gap (both white, as ColabFold's plot shows them)
    non_gap = np.ones((4, 10), dtype=bool)
    image = pixels(plots.coverage_png(non_gap, np.array([1.0, np.nan, 0.5, 0.0]), "MSA"))
    axes = plots.coverage_axes(10, 4)
    assert at(image, axes.x_px(5), axes.y_px(3.5)) == raster.WHITE  # NaN sorts last: the bottom row
    assert close(at(image, axes.x_px(5), axes.y_px(2.5)), tuple(plots.IDENTITY_LUT[0]))  # identity 0: red
    assert tuple(raster.lookup(np.array([np.nan, -np.inf, 0.0]), plots.PAE_LUT, 0, 30, bad=(1, 2, 3))[0]) == (1, 2, 3)


def test_plddt_line_breaks_at_missing_values_and_keeps_a_lone_value() -> None:
    values = np.full(100, 80.0)
    values[40:60] = np.nan  # residues 41-60 missing
    values[69] = 20.0  # residue 70 alone between two gaps
    values[[68, 70]] = np.nan
    image = pixels(plots.plddt_png([plots.Series("model", values)], "pLDDT"))
    axes = plots.plddt_axes(100)
    line = raster.colour(raster.TAB10[0])
    band = raster.blend(raster.colour(plots.PLDDT_BANDS[1][2]), plots.BAND_ALPHA)  # confident (70-90)
    assert close(at(image, axes.x_px(30), axes.y_px(80)), line, tolerance=40)
    assert close(at(image, axes.x_px(50), axes.y_px(80)), band)  # no line across the gap
    assert close(at(image, axes.x_px(80), axes.y_px(80)), line, tolerance=40)
    assert close(at(image, axes.x_px(70), axes.y_px(20)), line, tolerance=60)  # the lone value, a dot
    very_low = raster.blend(raster.colour(plots.PLDDT_BANDS[3][2]), plots.BAND_ALPHA)
    assert close(at(image, axes.x_px(68 + 4 / 3), axes.y_px(40)), very_low)  # not joined to residue 68
    assert raster.finite_runs(np.array([True, False, True, True, False])) == [(0, 1), (2, 4)]
    assert raster.finite_runs(np.zeros(3, dtype=bool)) == []



def test_plddt_line_is_not_joined_across_a_chain_boundary() -> None:
    """A complex's chains are separate lines: chain A's last residue and chain B's first are not neighbours (a
    line ran from one to the other, a slope across the boundary that no residue has)."""
    values = np.concatenate([np.full(40, 95.0), np.full(25, 20.0)])
    image = pixels(plots.plddt_png([plots.Series("model", values)], "pLDDT", [40, 25]))
    axes = plots.plddt_axes(65)
    line = raster.colour(raster.TAB10[0])
    for x, y in ((10, 95), (60, 20)):  # each chain's own line (x clear of the chain labels), antialiased over 2 px
        assert any(close(at(image, axes.x_px(x), axes.y_px(y) + dy), line, tolerance=40) for dy in (-1, 0, 1))
    # between residue 40 and 41, left of the dashed boundary line at 40.5, at the height a joining slope would
    # pass: only the band, as far from any line (residue 30 at that height)
    slope_x = 40.25
    slope_y = axes.y_px(95 - (95 - 20) * (slope_x - 40))
    assert close(at(image, axes.x_px(slope_x), slope_y), at(image, axes.x_px(30), slope_y)), "joined across chains"

@pytest.mark.parametrize("shape", [(20, 30), (5000, 1500)])
def test_coverage_colours_only_the_cells_it_shows_with_the_same_pixels_as_painting_every_cell(
        shape: tuple[int, int]) -> None:
    """Fewer sequences and positions than pixels (cells stretched) and a deep, long MSA (cells skipped): the
    plot equals the whole [N, L] painting sampled nearest-neighbour, as it was drawn before sampling first."""
    rows, length = shape
    rng = np.random.default_rng(rows)
    # every position covered by exactly half the sequences: the coverage line is flat, clear of the cells checked
    non_gap = np.argsort(rng.random((rows, length)), axis=0) < rows // 2
    identity = rng.integers(0, 5, rows) / 4  # ties: the sort must stay stable
    identity[3] = np.nan
    image = pixels(plots.coverage_png(non_gap, identity, "MSA"))
    order = np.argsort(-identity, kind="stable")
    every_cell = raster.lookup(identity[order], plots.IDENTITY_LUT, 0.0, 1.0)[:, None, :].repeat(length, axis=1)
    every_cell[~non_gap[order]] = 255
    expected = every_cell[np.ix_(*raster.sampled(plots.COVERAGE_AXES, shape))].astype(int)
    box = plots.COVERAGE_AXES
    drawn = image[box.top:box.bottom, box.left:box.right]
    line = round(plots.coverage_axes(length, rows).y_px(rows // 2)) - box.top
    clear = np.r_[0:line - 3, line + 4:box.height]
    assert np.array_equal(drawn[clear], expected[clear])
    assert len(np.unique(drawn[clear].reshape(-1, 3), axis=0)) >= 5  # five identities and the gaps


def test_sampled_picks_the_nearest_row_and_column_for_each_pixel() -> None:
    rows, cols = raster.sampled(raster.Box(0, 0, 4, 2), (4, 2))
    assert rows.tolist() == [1, 3] and cols.tolist() == [0, 0, 1, 1]


def test_inputs_without_residues_are_refused_with_a_clear_error() -> None:
    """The models never send an empty sequence (ESMFold's and AlphaFold2's requests refuse one), so an
    empty input is a caller's bug: a ValueError that says what was wrong, not an IndexError from inside."""
    with pytest.raises(ValueError, match="at least one residue"):
        plots.pae_png(np.zeros((0, 0)), "PAE")
    with pytest.raises(ValueError, match=r"\[L, L\]"):
        plots.pae_png(np.zeros((3, 4)), "PAE")
    with pytest.raises(ValueError, match="L >= 1"):
        plots.coverage_png(np.zeros((3, 0), dtype=bool), np.zeros(3), "MSA")
    with pytest.raises(ValueError, match="identity"):
        plots.coverage_png(np.ones((3, 5), dtype=bool), np.zeros(2), "MSA")
    with pytest.raises(ValueError, match="at least one residue"):
        plots.plddt_png([], "pLDDT")
    with pytest.raises(ValueError, match="at least one residue"):
        plots.plddt_png([plots.Series("empty", np.zeros(0))], "pLDDT")


def test_a_one_residue_pae_is_one_cell_with_one_tick_each_way() -> None:
    assert raster.ticks(1, 1, 7, integer=True) == [1]
    assert raster.ticks(5.0, 5.0, 6) == [5.0]
    assert raster.ticks(1, 1.5, 7, integer=True) == [1]  # no fractional tick on a residue axis
    image = pixels(plots.pae_png(np.array([[12.0]]), "PAE"))
    box = plots.PAE_AXES
    inside = image[box.top:box.bottom, box.left:box.right].reshape(-1, 3)
    assert (inside == plots.PAE_LUT[round(12.0 / plots.PAE_MAX * 256)]).all()  # the whole square, one colour
    axes = plots.pae_axes(1)
    assert at(image, axes.x_px(1), box.bottom + 2) == raster.BLACK  # its x tick, under the centre
    assert dark(image, raster.Box(0, box.top, box.left - 2, box.bottom)) > 20  # its "1" and the axis label
