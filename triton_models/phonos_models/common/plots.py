"""The result plots every job ships as PNG (matplotlib, Agg backend, no display and no pyplot state).

* per-residue pLDDT, one line per model, best first (ColabFold's `plot_plddts`), over the confidence
  bands AlphaFold DB colours (very high > 90, confident 70–90, low 50–70, very low < 50);
* the PAE heatmap as AlphaFold DB draws it (green, dark = low expected error, 0–30 Å);
* MSA coverage (ColabFold's `plot_msa_v2`): every sequence as a row coloured by identity to the query,
  gaps blank, the number of sequences covering each position as a black line;
* DiffDock pose confidence: one bar per pose, best first, coloured by the reference README's bands.

Every figure has a fixed pixel size (the constants below) so pages can lay them out before loading.
Chain boundaries of a complex are drawn as lines. Nothing here knows about a particular model.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot; we never do, but a library might

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

DPI = 100
PLDDT_SIZE = (1000, 450)  # pixels (width, height)
PAE_SIZE = (640, 560)
COVERAGE_SIZE = (1000, 500)
CONFIDENCE_SIZE = (1000, 450)

# AlphaFold DB's pLDDT palette (lower bound of each band, colour, label).
PLDDT_BANDS: tuple[tuple[float, float, str, str], ...] = (
    (90.0, 100.0, "#0053D6", "very high (>90)"),
    (70.0, 90.0, "#65CBF3", "confident (70-90)"),
    (50.0, 70.0, "#FFDB13", "low (50-70)"),
    (0.0, 50.0, "#FF7D45", "very low (<50)"),
)
CHAIN_LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
PAE_MAX = 30.0  # Å, AlphaFold DB's colour scale maximum
CONFIDENCE_COLOURS = {"high": "#0053D6", "moderate": "#65CBF3", "low": "#FF7D45", "unknown": "#999999"}


@dataclass(frozen=True)
class Series:
    """One line of a per-residue plot."""

    label: str  # e.g. "rank 1 (model_3)"
    values: np.ndarray  # [L]


def _figure(size: tuple[int, int]) -> Figure:
    figure = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # no bbox_inches="tight": it would change the pixel size the constants promise
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _chain_lines(axes: object, boundaries: Sequence[int], *, vertical: bool = True, horizontal: bool = False) -> None:
    for position in boundaries:
        if vertical:
            axes.axvline(position + 0.5, color="black", linewidth=0.8, linestyle="--")  # type: ignore[attr-defined]
        if horizontal:
            axes.axhline(position + 0.5, color="black", linewidth=0.8, linestyle="--")  # type: ignore[attr-defined]


def chain_boundaries(chain_lengths: Sequence[int]) -> list[int]:
    """Index of the last residue of every chain but the last (0-based, residues numbered across chains)."""
    ends = np.cumsum(chain_lengths)[:-1]
    return [int(end) - 1 for end in ends]


def plddt_png(series: Sequence[Series], title: str, chain_lengths: Sequence[int] = ()) -> bytes:
    """Per-residue pLDDT (0–100) of one or more models; `chain_lengths` marks a complex's chains."""
    figure = _figure(PLDDT_SIZE)
    axes = figure.add_axes((0.07, 0.12, 0.70, 0.78))
    length = max(len(s.values) for s in series)
    for low, high, colour, _ in PLDDT_BANDS:
        axes.axhspan(low, high, color=colour, alpha=0.15, linewidth=0)
    positions = np.arange(1, length + 1)
    for item in series:
        axes.plot(positions[: len(item.values)], item.values, linewidth=1.2, label=item.label)
    if len(chain_lengths) > 1:
        _chain_lines(axes, [b + 1 for b in chain_boundaries(chain_lengths)])
        starts = np.concatenate([[0], np.cumsum(chain_lengths)[:-1]])
        for number, (start, size) in enumerate(zip(starts, chain_lengths, strict=True)):
            axes.text(start + size / 2 + 0.5, 97, CHAIN_LABELS[number % len(CHAIN_LABELS)], ha="center", va="top",
                      fontsize=10, fontweight="bold")
    axes.set_xlim(1, max(length, 2))
    axes.set_ylim(0, 100)
    axes.set_xlabel("residue (numbered across chains)" if len(chain_lengths) > 1 else "residue")
    axes.set_ylabel("pLDDT")
    axes.set_title(title)
    band_handles = [Patch(color=colour, alpha=0.4, label=label) for _, _, colour, label in PLDDT_BANDS]
    line_handles, _ = axes.get_legend_handles_labels()
    axes.legend(handles=[*line_handles, *band_handles], loc="upper left", bbox_to_anchor=(1.01, 1.0),
                fontsize=8, frameon=False)
    return _png(figure)


def pae_png(pae: np.ndarray, title: str, chain_lengths: Sequence[int] = ()) -> bytes:
    """The [L, L] PAE matrix in Å: row = aligned residue, column = scored residue."""
    figure = _figure(PAE_SIZE)
    axes = figure.add_axes((0.12, 0.10, 0.68, 0.78))
    length = pae.shape[0]
    image = axes.imshow(pae, cmap="Greens_r", vmin=0.0, vmax=PAE_MAX, interpolation="nearest",
                        extent=(0.5, length + 0.5, length + 0.5, 0.5))
    if len(chain_lengths) > 1:
        _chain_lines(axes, [b + 1 for b in chain_boundaries(chain_lengths)], vertical=True, horizontal=True)
    axes.set_xlabel("scored residue")
    axes.set_ylabel("aligned residue")
    axes.set_title(title, fontsize=10)
    colorbar_axes = figure.add_axes((0.83, 0.10, 0.03, 0.80))
    figure.colorbar(image, cax=colorbar_axes, label="expected position error (Å)")
    return _png(figure)


def coverage_png(non_gap: np.ndarray, identity: np.ndarray, title: str, chain_lengths: Sequence[int] = ()) -> bytes:
    """MSA coverage as ColabFold draws it: `non_gap` [N, L] marks where each aligned sequence has a
    residue, `identity` [N] is its identity to the query (0–1); each row is coloured by its identity, most
    identical on top, gaps blank, and the black line counts the sequences covering each position."""
    figure = _figure(COVERAGE_SIZE)
    axes = figure.add_axes((0.08, 0.12, 0.74, 0.78))
    rows, length = non_gap.shape
    order = np.argsort(-identity, kind="stable")
    painted = np.where(non_gap[order], identity[order, None], np.nan) if rows else np.full((1, length), np.nan)
    cmap = matplotlib.colormaps["rainbow_r"].with_extremes(bad="white")
    image = axes.imshow(np.ma.masked_invalid(painted), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto",
                        interpolation="nearest", extent=(0.5, length + 0.5, max(rows, 1), 0))
    axes.plot(np.arange(1, length + 1), non_gap.sum(axis=0), color="black", linewidth=1.2)
    if len(chain_lengths) > 1:
        _chain_lines(axes, [b + 1 for b in chain_boundaries(chain_lengths)])
    axes.set_xlim(0.5, length + 0.5)
    axes.set_ylim(max(rows, 1), 0)
    axes.set_xlabel("query position")
    axes.set_ylabel("sequences")
    axes.set_title(title)
    colorbar_axes = figure.add_axes((0.85, 0.12, 0.025, 0.78))
    figure.colorbar(image, cax=colorbar_axes, label="sequence identity to query")
    return _png(figure)


def pose_confidence_png(confidences: Sequence[float | None], bands: Sequence[str], title: str,
                        thresholds: tuple[float, float]) -> bytes:
    """One bar per pose, best first; `bands` names each pose's band ("high", "moderate", "low", "unknown"),
    `thresholds` are the (high, low) band edges the caller's model defines. None or NaN: drawn as "n/a"."""
    figure = _figure(CONFIDENCE_SIZE)
    axes = figure.add_axes((0.08, 0.12, 0.72, 0.78))
    ranks = np.arange(1, len(confidences) + 1)
    values = np.array([np.nan if c is None else c for c in confidences], dtype=float)
    axes.bar(ranks, np.nan_to_num(values, nan=0.0), color=[CONFIDENCE_COLOURS.get(b, "#999999") for b in bands],
             edgecolor="black", linewidth=0.5)
    for threshold in thresholds:
        axes.axhline(threshold, color="black", linewidth=0.8, linestyle="--")
    axes.axhline(0.0, color="black", linewidth=0.5)
    axes.set_xticks(ranks)
    axes.set_xlim(0.3, max(len(confidences), 1) + 0.7)
    finite = values[np.isfinite(values)]
    low = min(float(finite.min()) if finite.size else 0.0, thresholds[1]) - 0.5
    high = max(float(finite.max()) if finite.size else 0.0, thresholds[0]) + 0.5
    axes.set_ylim(low, high)
    for rank in ranks[np.isnan(values)]:
        axes.text(rank, 0.05 * (high - low) + low, "n/a", ha="center", fontsize=8)
    axes.set_xlabel("pose rank")
    axes.set_ylabel("confidence (logit)")
    axes.set_title(title)
    high_edge, low_edge = thresholds
    handles = [Patch(color=CONFIDENCE_COLOURS[k], label=label) for k, label in (
        ("high", f"high (> {high_edge:g})"), ("moderate", f"moderate ({low_edge:g} to {high_edge:g})"),
        ("low", f"low (< {low_edge:g})"))]
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _png(figure)


def warm_up() -> None:
    """Draw one small figure of each kind: loads matplotlib's modules and font caches, which otherwise
    cost the first real plot of a process about a second."""
    values = np.linspace(0.0, 100.0, 4)
    plddt_png([Series("warm-up", values)], "warm-up")
    pae_png(np.zeros((4, 4)), "warm-up")
