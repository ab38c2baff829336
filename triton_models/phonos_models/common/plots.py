"""The result plots every job ships as PNG, drawn with numpy and Pillow (phonos_models.common.raster).

* per-residue pLDDT, one line per model, best first (ColabFold's `plot_plddts`), over the confidence
  bands AlphaFold DB colours (very high > 90, confident 70–90, low 50–70, very low < 50);
* the PAE heatmap as AlphaFold DB draws it (green, dark = low expected error, 0–30 Å);
* MSA coverage (ColabFold's `plot_msa_v2`): every sequence as a row coloured by identity to the query,
  gaps blank, the number of sequences covering each position as a black line;
* DiffDock pose confidence: one bar per pose, best first, coloured by the reference README's bands.

Missing values (NaN) are left out, as matplotlib leaves them: a blank PAE cell or identity row (white, like a
gap), a break in a pLDDT line. An input without residues is a caller's bug and raises ValueError.

Every figure has a fixed pixel size (the constants below) so pages can lay them out before loading, and
fixed axes (the `*_AXES` boxes: tests find bands, lines and cells by them). Chain boundaries of a complex
are drawn as dashed lines. Nothing here knows about a particular model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from phonos_models.common.raster import (
    BLACK,
    GREENS,
    RAINBOW,
    SMALL_PX,
    TAB10,
    TEXT_PX,
    WHITE,
    Axes,
    Box,
    Canvas,
    LegendEntry,
    blend,
    colour,
    lookup,
    sampled,
    ticks,
)

PLDDT_SIZE = (1000, 450)  # pixels (width, height)
PAE_SIZE = (640, 560)
COVERAGE_SIZE = (1000, 500)
CONFIDENCE_SIZE = (1000, 450)
# The plot area of each figure (the axes rectangles the matplotlib versions used, in pixels).
PLDDT_AXES = Box.of_figure(PLDDT_SIZE, (0.07, 0.12, 0.70, 0.78))
PAE_AXES = Box.of_figure(PAE_SIZE, (0.12, 0.10, 0.68, 0.78)).square()  # equal aspect
PAE_COLORBAR = Box.of_figure(PAE_SIZE, (0.83, 0.10, 0.03, 0.80))
COVERAGE_AXES = Box.of_figure(COVERAGE_SIZE, (0.08, 0.12, 0.74, 0.78))
COVERAGE_COLORBAR = Box.of_figure(COVERAGE_SIZE, (0.85, 0.12, 0.025, 0.78))
CONFIDENCE_AXES = Box.of_figure(CONFIDENCE_SIZE, (0.08, 0.12, 0.72, 0.78))

# AlphaFold DB's pLDDT palette (lower bound of each band, colour, label).
PLDDT_BANDS: tuple[tuple[float, float, str, str], ...] = (
    (90.0, 100.0, "#0053D6", "very high (>90)"),
    (70.0, 90.0, "#65CBF3", "confident (70-90)"),
    (50.0, 70.0, "#FFDB13", "low (50-70)"),
    (0.0, 50.0, "#FF7D45", "very low (<50)"),
)
BAND_ALPHA = 0.15  # the bands behind the lines: light, so every line stays readable
CHAIN_LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
PAE_MAX = 30.0  # Å, AlphaFold DB's colour scale maximum
PAE_LUT = GREENS[::-1]  # dark green = low error
IDENTITY_LUT = RAINBOW[::-1]  # red = low identity, violet = identical ("rainbow_r")
CONFIDENCE_COLOURS = {"high": "#0053D6", "moderate": "#65CBF3", "low": "#FF7D45", "unknown": "#999999"}


@dataclass(frozen=True)
class Series:
    """One line of a per-residue plot."""

    label: str  # e.g. "rank 1 (model_3)"
    values: np.ndarray  # [L]


def chain_boundaries(chain_lengths: Sequence[int]) -> list[int]:
    """Index of the last residue of every chain but the last (0-based, residues numbered across chains)."""
    ends = np.cumsum(chain_lengths)[:-1]
    return [int(end) - 1 for end in ends]


def _chain_positions(chain_lengths: Sequence[int]) -> list[float]:
    """Where the dashed chain lines go, in residue numbers (1-based): between a chain's last residue and the next."""
    return [b + 1.5 for b in chain_boundaries(chain_lengths)] if len(chain_lengths) > 1 else []


def plddt_axes(length: int) -> Axes:
    return Axes(PLDDT_AXES, (1.0, float(max(length, 2))), (0.0, 100.0))


def plddt_png(series: Sequence[Series], title: str, chain_lengths: Sequence[int] = ()) -> bytes:
    """Per-residue pLDDT (0–100) of one or more models; `chain_lengths` marks a complex's chains."""
    length = max((len(s.values) for s in series), default=0)
    if not length:  # the models never send an empty sequence: a caller's bug, said plainly
        raise ValueError("plddt_png needs at least one series with at least one residue")
    canvas = Canvas(PLDDT_SIZE)
    axes = plddt_axes(length)
    for low, high, fill, _ in PLDDT_BANDS:
        top, bottom = round(axes.y_px(high)), round(axes.y_px(low))
        canvas.fill(Box(PLDDT_AXES.left, top, PLDDT_AXES.right, bottom), blend(colour(fill), BAND_ALPHA))
    for x in _chain_positions(chain_lengths):
        canvas.dashed((axes.x_px(x), PLDDT_AXES.top), (axes.x_px(x), PLDDT_AXES.bottom))
    positions = np.arange(1, length + 1)
    # One line per chain: residue n of chain A and residue 1 of chain B are not neighbours (a line between them
    # drew a slope across the chain boundary that no residue has).
    ends = np.cumsum(chain_lengths).tolist() if len(chain_lengths) > 1 else []
    runs = list(zip([0, *ends], [*ends, length], strict=True))
    canvas.lines(axes, [(positions[start:min(end, len(item.values))],
                         np.asarray(item.values, dtype=float)[start:end], colour(TAB10[k % len(TAB10)]))
                        for k, item in enumerate(series) for start, end in runs if start < len(item.values)])
    if len(chain_lengths) > 1:
        starts = np.concatenate([[0], np.cumsum(chain_lengths)[:-1]])
        for number, (start, size) in enumerate(zip(starts, chain_lengths, strict=True)):
            canvas.text((axes.x_px(start + size / 2 + 0.5), axes.y_px(97)),
                        CHAIN_LABELS[number % len(CHAIN_LABELS)], anchor="mt", bold=True)
    canvas.frame(axes, ticks(1, max(length, 2), 10, integer=True), ticks(0, 100, 6),
                 "residue (numbered across chains)" if len(chain_lengths) > 1 else "residue", "pLDDT")
    canvas.title(PLDDT_AXES, title)
    lines = [LegendEntry(s.label, colour(TAB10[k % len(TAB10)]), patch=False) for k, s in enumerate(series)]
    bands = [LegendEntry(label, blend(colour(fill), 0.4), patch=True) for _, _, fill, label in PLDDT_BANDS]
    canvas.legend(PLDDT_AXES.right + 10, PLDDT_AXES.top, [*lines, *bands])
    return canvas.png()


def pae_axes(length: int) -> Axes:
    """Residue 1 at the top left; each residue a square cell."""
    return Axes(PAE_AXES, (0.5, length + 0.5), (length + 0.5, 0.5))


def pae_png(pae: np.ndarray, title: str, chain_lengths: Sequence[int] = ()) -> bytes:
    """The [L, L] PAE matrix in Å: row = aligned residue, column = scored residue."""
    if pae.ndim != 2 or pae.shape[0] != pae.shape[1] or not pae.shape[0]:
        raise ValueError(f"pae_png needs an [L, L] matrix with at least one residue, got shape {pae.shape}")
    canvas = Canvas(PAE_SIZE)
    length = pae.shape[0]
    axes = pae_axes(length)
    canvas.heatmap(PAE_AXES, pae, PAE_LUT, 0.0, PAE_MAX)
    for position in _chain_positions(chain_lengths):
        x, y = axes.x_px(position), axes.y_px(position)
        canvas.dashed((x, PAE_AXES.top), (x, PAE_AXES.bottom))
        canvas.dashed((PAE_AXES.left, y), (PAE_AXES.right, y))
    residue_ticks = [t for t in ticks(1, length, 7, integer=True) if t >= 1]
    canvas.frame(axes, residue_ticks, residue_ticks, "scored residue", "aligned residue")
    canvas.title(PAE_AXES, title, TEXT_PX)
    canvas.colorbar(PAE_COLORBAR, PAE_LUT, 0.0, PAE_MAX, 7, "expected position error (Angstrom)")
    return canvas.png()


def coverage_axes(length: int, rows: int) -> Axes:
    """Sequences from the top (row 0) down; positions 1..L."""
    return Axes(COVERAGE_AXES, (0.5, length + 0.5), (float(max(rows, 1)), 0.0))


def coverage_png(non_gap: np.ndarray, identity: np.ndarray, title: str, chain_lengths: Sequence[int] = ()) -> bytes:
    """MSA coverage as ColabFold draws it: `non_gap` [N, L] marks where each aligned sequence has a
    residue, `identity` [N] is its identity to the query (0–1); each row is coloured by its identity, most
    identical on top, gaps blank, and the black line counts the sequences covering each position."""
    if non_gap.ndim != 2 or not non_gap.shape[1] or np.shape(identity) != non_gap.shape[:1]:
        raise ValueError(f"coverage_png needs non_gap [N, L] with L >= 1 and identity [N], got shapes "
                         f"{non_gap.shape} and {np.shape(identity)}")
    canvas = Canvas(COVERAGE_SIZE)
    rows, length = non_gap.shape
    axes = coverage_axes(length, rows)
    if rows:
        # Colour only the cells that land on a pixel: a deep MSA costs the plot's size, not N x L.
        shown_rows, shown_columns = sampled(COVERAGE_AXES, non_gap.shape)
        shown = np.argsort(-identity, kind="stable")[shown_rows]
        painted = lookup(identity[shown], IDENTITY_LUT, 0.0, 1.0)[:, None, :].repeat(len(shown_columns), axis=1)
        painted[~non_gap[np.ix_(shown, shown_columns)]] = WHITE  # gaps blank
        canvas.raster(COVERAGE_AXES, painted)  # already one cell a pixel
    for x in _chain_positions(chain_lengths):
        canvas.dashed((axes.x_px(x), COVERAGE_AXES.top), (axes.x_px(x), COVERAGE_AXES.bottom))
    canvas.lines(axes, [(np.arange(1, length + 1), non_gap.sum(axis=0).astype(float), BLACK)])
    canvas.frame(axes, ticks(1, length, 10, integer=True), ticks(0, max(rows, 1), 7, integer=True),
                 "query position", "sequences")
    canvas.title(COVERAGE_AXES, title)
    canvas.colorbar(COVERAGE_COLORBAR, IDENTITY_LUT, 0.0, 1.0, 6, "sequence identity to query")
    return canvas.png()


def confidence_axes(poses: int, low: float, high: float) -> Axes:
    return Axes(CONFIDENCE_AXES, (0.3, max(poses, 1) + 0.7), (low, high))


def pose_confidence_png(confidences: Sequence[float | None], bands: Sequence[str], title: str,
                        thresholds: tuple[float, float]) -> bytes:
    """One bar per pose, best first; `bands` names each pose's band ("high", "moderate", "low", "unknown"),
    `thresholds` are the (high, low) band edges the caller's model defines. None or NaN: drawn as "n/a"."""
    canvas = Canvas(CONFIDENCE_SIZE)
    values = np.array([np.nan if c is None else c for c in confidences], dtype=float)
    finite = values[np.isfinite(values)]
    low = min(float(finite.min()) if finite.size else 0.0, thresholds[1]) - 0.5
    high = max(float(finite.max()) if finite.size else 0.0, thresholds[0]) + 0.5
    axes = confidence_axes(len(confidences), low, high)
    zero = axes.y_px(0.0)
    for rank, (value, band) in enumerate(zip(values, bands, strict=True), 1):
        if np.isfinite(value):
            left, right, end = axes.x_px(rank - 0.4), axes.x_px(rank + 0.4), axes.y_px(value)
            box = Box(round(left), round(min(zero, end)), round(right), round(max(zero, end)) + 1)
            canvas.fill(box, colour(CONFIDENCE_COLOURS.get(band, "#999999")), outline=BLACK)
        else:
            canvas.text((axes.x_px(rank), axes.y_px(0.05 * (high - low) + low)), "n/a", SMALL_PX,
                        anchor="ms")
    for threshold in thresholds:
        y = axes.y_px(threshold)
        canvas.dashed((CONFIDENCE_AXES.left, y), (CONFIDENCE_AXES.right, y))
    canvas.draw.line((CONFIDENCE_AXES.left, round(zero), CONFIDENCE_AXES.right - 1, round(zero)), fill=BLACK)
    canvas.frame(axes, list(range(1, len(confidences) + 1)), ticks(low, high, 8), "pose rank",
                 "confidence (logit)")
    canvas.title(CONFIDENCE_AXES, title)
    high_edge, low_edge = thresholds
    canvas.legend(CONFIDENCE_AXES.right + 10, CONFIDENCE_AXES.top, [
        LegendEntry(label, colour(CONFIDENCE_COLOURS[k]), patch=True) for k, label in (
            # The bands' edges as the JSON's confidence_meaning states them (an edge value is the lower
            # band's), in ASCII as the bundle README writes them (Pillow's embedded font may lack a ≤).
            ("high", f"high (> {high_edge:g})"), ("moderate", f"moderate ({low_edge:g} < c <= {high_edge:g})"),
            ("low", f"low (<= {low_edge:g})"))])
    return canvas.png()


def warm_up() -> None:
    """Draw one small figure of each kind: loads the font and Pillow's drawing code before the first job."""
    values = np.linspace(0.0, 100.0, 4)
    plddt_png([Series("warm-up", values)], "warm-up")
    pae_png(np.zeros((4, 4)), "warm-up")
