"""A small raster plotting layer for the result plots: pixels drawn with numpy and Pillow, PNG written here.

Why not matplotlib: a job's plots have a fixed layout (phonos_models.common.plots), and matplotlib spent
~85–95 ms on each for a 60-residue job, most of it laying out artists, ticks and text, which made the two
plots cost more than the tiny model's whole fold. Drawn straight into an RGB array they take a few
milliseconds. What is kept from matplotlib's look: figure sizes at 100 dpi, its font sizes in pixels,
its `tab10` line colours, the `Greens` and `rainbow` colour maps computed the same way, outward ticks
at "nice" steps, dashed chain lines. Text uses Pillow's embedded font (no font file or system package
to install), which has no `Å` or `−`: labels spell "Angstrom" and minus signs are ASCII.
"""

from __future__ import annotations

import functools
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from isal import isal_zlib
from PIL import Image, ImageDraw, ImageFont

Colour = tuple[int, int, int]
WHITE: Colour = (255, 255, 255)
BLACK: Colour = (0, 0, 0)

# matplotlib's sizes at 100 dpi: 10 pt text = 14 px, 12 pt titles = 17 px, 8 pt legends = 11 px.
TEXT_PX = 14
TITLE_PX = 17
SMALL_PX = 11
TICK_LENGTH = 5  # px, outward (3.5 pt)
TICK_PAD = 5  # px between a tick and its label
LINE_PX = 1.7  # a 1.2 pt data line
_SUPERSAMPLE = 2  # data lines are drawn 2x larger and reduced: antialiased edges
# Deflate level of the PNG data, with ISA-L's deflate (isal_zlib, zlib-compatible streams): at level 1 a
# 60-aa plot (0.9-1.35 MB of pixels) takes ~0.4 ms instead of ~3 ms with zlib at levels 1-3 (zlib's floor
# here is ~1.9 ms even for all-zero data), for files within ~5 % of zlib level 3's size.
_PNG_LEVEL = 1

# matplotlib's default line colours ("tab10")
TAB10: tuple[str, ...] = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def colour(text: str) -> Colour:
    """'#RRGGBB' as an RGB triple."""
    return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)


def blend(fill: Colour, alpha: float, under: Colour = WHITE) -> Colour:
    """A translucent fill over `under`, as matplotlib's `alpha` shows it on a white figure."""
    return tuple(round(alpha * f + (1 - alpha) * u) for f, u in zip(fill, under, strict=True))  # type: ignore[return-value]


def colormap(stops: Sequence[str]) -> np.ndarray:
    """[256, 3] uint8: linear between evenly spaced colours (matplotlib's `LinearSegmentedColormap.from_list`)."""
    points = np.array([colour(s) for s in stops], dtype=float)
    x = np.linspace(0.0, 1.0, 256)
    anchors = np.linspace(0.0, 1.0, len(stops))
    return np.stack([np.interp(x, anchors, points[:, k]) for k in range(3)], axis=1).round().astype(np.uint8)


# ColorBrewer's 9-class Greens, matplotlib's `Greens` (light → dark)
GREENS = colormap(("#f7fcf5", "#e5f5e0", "#c7e9c0", "#a1d99b", "#74c476", "#41ab5d", "#238b45", "#006d2c",
                   "#00441b"))


def _rainbow() -> np.ndarray:
    """matplotlib's `rainbow` (gnuplot formulae 33, 13, 10: red |2x - 0.5|, green sin(pi x), blue cos(pi x / 2))."""
    x = np.linspace(0.0, 1.0, 256)
    rgb = np.stack([np.abs(2 * x - 0.5), np.sin(np.pi * x), np.cos(np.pi * x / 2)], axis=1)
    return (np.clip(rgb, 0.0, 1.0) * 255).round().astype(np.uint8)


RAINBOW = _rainbow()


def lookup(values: np.ndarray, lut: np.ndarray, vmin: float, vmax: float, bad: Colour = WHITE) -> np.ndarray:
    """[..., 3] uint8 colours of `values` on `lut` between vmin and vmax (clipped, as matplotlib maps them).
    NaN and infinite values get `bad`: matplotlib's imshow masks them and leaves the (white) figure showing,
    where clipping them would pass a missing PAE off as the most confident colour."""
    scaled = (np.asarray(values, dtype=float) - vmin) / (vmax - vmin) * len(lut)
    finite = np.isfinite(scaled)
    painted = lut[np.clip(np.where(finite, scaled, 0.0), 0, len(lut) - 1).astype(np.intp)]
    painted[~finite] = bad
    return painted


def finite_runs(finite: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) slices of the consecutive True stretches of a [n] bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[False], finite, [False]]).astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


@functools.cache
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size)  # Pillow's embedded Aileron (FreeType)


def ticks(low: float, high: float, most: int, integer: bool = False) -> list[float]:
    """Tick values inside [low, high] at the smallest "nice" step (1, 2, 2.5, 5 x 10^k; integers only when
    `integer`) that gives at most `most` ticks, as matplotlib's MaxNLocator picks them."""
    if high <= low:  # one value (a 1-residue plot's axis): one tick
        return [low]
    steps = (1.0, 2.0, 5.0) if integer else (1.0, 2.0, 2.5, 5.0)
    exponent = math.floor(math.log10((high - low) / max(most, 1)))
    if integer:  # no step below 1 qualifies: start the search at 1
        exponent = max(exponent, 0)
    for power in range(exponent - 1, exponent + 3):
        for base in steps:
            step = base * 10.0**power
            if integer and step < 1:
                continue
            first = math.ceil(low / step - 1e-9)
            last = math.floor(high / step + 1e-9)
            if last - first + 1 <= most:
                return [round(k * step, 10) for k in range(first, last + 1)]
    return [low, high]


def labels(values: Sequence[float]) -> list[str]:
    """Tick labels with as many decimals as the finest of them needs (0.0, 0.2, ... 1.0 as matplotlib shows them)."""
    decimals = max((len(f"{v:g}".partition(".")[2]) for v in values), default=0)
    return [f"{v:.{decimals}f}" for v in values]


@functools.lru_cache(maxsize=512)
def _text_mask(text: str, size: int, anchor: str, bold: bool,
               vertical: bool = False) -> tuple[Image.Image, tuple[int, int]]:
    """The rendered text as an alpha mask and its offset from the anchor point. Cached: tick labels, axis
    labels, titles and legends repeat from one job to the next, and rendering text is most of a plot's drawing."""
    face, stroke = font(size), 0.6 if bold else 0.0
    left, top, right, bottom = (math.floor(v) for v in face.getbbox(text, anchor=anchor, stroke_width=stroke))
    mask = Image.new("L", (right - left + 1, bottom - top + 1), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, font=face, fill=255, anchor=anchor, stroke_width=stroke,
                              stroke_fill=255)
    if vertical:
        mask = mask.transpose(Image.Transpose.ROTATE_90)
    return mask, (left, top)


@dataclass(frozen=True)
class Box:
    """A rectangle of pixels: left/top inclusive, right/bottom exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @classmethod
    def of_figure(cls, size: tuple[int, int], rect: tuple[float, float, float, float]) -> Box:
        """matplotlib's `add_axes` rectangle (left, bottom, width, height as fractions of the figure)."""
        width, height = size
        x, y, w, h = rect
        return cls(round(x * width), round((1 - y - h) * height), round((x + w) * width), round((1 - y) * height))

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def square(self) -> Box:
        """The largest centred square inside: an equal-aspect image's axes."""
        side = min(self.width, self.height)
        left = self.left + (self.width - side) // 2
        top = self.top + (self.height - side) // 2
        return Box(left, top, left + side, top + side)


@dataclass(frozen=True)
class Axes:
    """Data coordinates on a box: `x` runs left → right, `y` bottom → top (give (high, low) to grow downwards)."""

    box: Box
    x: tuple[float, float]
    y: tuple[float, float]

    def x_px(self, value: float) -> float:
        return float(self.x_pixels(np.asarray(value)))

    def y_px(self, value: float) -> float:
        return float(self.y_pixels(np.asarray(value)))

    def x_pixels(self, values: np.ndarray) -> np.ndarray:
        low, high = self.x
        return self.box.left + (values.astype(float) - low) / (high - low) * self.box.width

    def y_pixels(self, values: np.ndarray) -> np.ndarray:
        low, high = self.y
        return self.box.bottom - (values.astype(float) - low) / (high - low) * self.box.height


@dataclass(frozen=True)
class LegendEntry:
    label: str
    colour: Colour
    patch: bool  # a filled square (bands, bars) rather than a line sample


def sampled(box: Box, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The row and column of an [rows, columns] image that each pixel row and column of `box` shows when
    the image is stretched over it, nearest neighbour ([box.height] and [box.width] indices)."""
    def nearest(count: int, pixels: int) -> np.ndarray:
        return np.minimum((np.arange(pixels) + 0.5) * count / pixels, count - 1).astype(np.intp)

    return nearest(shape[0], box.height), nearest(shape[1], box.width)


class Canvas:
    """One figure: an RGB image, white, drawn on with Pillow; `png()` gives its bytes."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.image = Image.new("RGB", size, WHITE)
        self.draw = ImageDraw.Draw(self.image)

    def fill(self, box: Box, fill: Colour, outline: Colour | None = None) -> None:
        self.draw.rectangle((box.left, box.top, box.right - 1, box.bottom - 1), fill=fill, outline=outline)

    def text(self, xy: tuple[float, float], text: str, size: int = TEXT_PX, anchor: str = "mm",
             fill: Colour = BLACK, bold: bool = False) -> None:
        """`text` at `xy` (Pillow's anchors: "mm" centred, "lm"/"rm" left/right middle, "mt" top, "ms" baseline)."""
        mask, (left, top) = _text_mask(text, size, anchor, bold)
        self.image.paste(fill, (round(xy[0] + left), round(xy[1] + top)), mask)

    def vertical_text(self, centre: tuple[float, float], text: str, size: int = TEXT_PX) -> None:
        """Text read bottom to top (a y-axis label), centred on `centre`."""
        mask, _ = _text_mask(text, size, "mm", False, vertical=True)
        self.image.paste(BLACK, (round(centre[0] - mask.width / 2), round(centre[1] - mask.height / 2)), mask)

    def title(self, box: Box, text: str, size: int = TITLE_PX) -> None:
        """One or more lines centred above `box`."""
        lines = text.split("\n")
        for k, line in enumerate(reversed(lines)):
            self.text(((box.left + box.right) / 2, box.top - 8 - k * (size + 3)), line, size, anchor="ms")

    def dashed(self, start: tuple[float, float], end: tuple[float, float], fill: Colour = BLACK,
               dash: int = 4, gap: int = 2) -> None:
        """A 1-px dashed line, horizontal or vertical (chain boundaries, thresholds)."""
        (x0, y0), (x1, y1) = (round(start[0]), round(start[1])), (round(end[0]), round(end[1]))
        if x0 == x1:
            for y in range(min(y0, y1), max(y0, y1), dash + gap):
                self.draw.line((x0, y, x0, min(y + dash - 1, max(y0, y1))), fill=fill)
        else:
            for x in range(min(x0, x1), max(x0, x1), dash + gap):
                self.draw.line((x, y0, min(x + dash - 1, max(x0, x1)), y0), fill=fill)

    def lines(self, axes: Axes, series: Sequence[tuple[np.ndarray, np.ndarray, Colour]]) -> None:
        """Antialiased data lines, clipped to the axes: each (x values, y values, colour), drawn in order.
        A NaN breaks the line, as in matplotlib: each finite run is drawn on its own (a lone point as a
        dot, which matplotlib would not show, so that a value between two gaps is not lost)."""
        box, k = axes.box, _SUPERSAMPLE
        width = max(1, round(LINE_PX * k))
        for xs, ys, fill in series:
            px = (axes.x_pixels(np.asarray(xs)) - box.left) * k
            py = (axes.y_pixels(np.asarray(ys)) - box.top) * k
            runs = finite_runs(np.isfinite(px) & np.isfinite(py))
            if not runs:
                continue
            mask = Image.new("L", (box.width * k, box.height * k), 0)
            draw = ImageDraw.Draw(mask)
            for start, end in runs:
                points = list(zip(px[start:end].tolist(), py[start:end].tolist(), strict=True))
                if len(points) == 1:
                    x, y = points[0]
                    draw.ellipse((x - width, y - width, x + width, y + width), fill=255)
                else:
                    draw.line(points, fill=255, width=width, joint="curve")
            self.image.paste(fill, (box.left, box.top), mask.reduce(k))

    def raster(self, box: Box, rgb: np.ndarray) -> None:
        """An [rows, columns, 3] uint8 image stretched over `box`, nearest neighbour (matplotlib's
        `interpolation="nearest"`); an image of the box's size is pasted as it is. To draw a matrix larger
        than the box, colour only the cells `sampled` picks (as `heatmap` does) and pass that box-sized image."""
        if rgb.shape[:2] != (box.height, box.width):
            rows, cols = sampled(box, rgb.shape[:2])
            rgb = rgb[np.ix_(rows, cols)]
        self.image.paste(Image.fromarray(np.ascontiguousarray(rgb), "RGB"), (box.left, box.top))

    def heatmap(self, box: Box, values: np.ndarray, lut: np.ndarray, vmin: float, vmax: float) -> None:
        """An [rows, columns] matrix coloured on `lut` and stretched over `box`: only the cells that land on
        a pixel are coloured, each once (a long PAE matrix costs the box's size, a short one its own), then
        spread over the pixels that show it."""
        rows, cols = sampled(box, values.shape)
        # `sampled` indices never decrease: each distinct cell once, and how many pixels in a row show it
        # (np.repeat spreads a cell over its run of pixels ~4x faster than indexing every pixel).
        row_cells, row_pixels = np.unique(rows, return_counts=True)
        col_cells, col_pixels = np.unique(cols, return_counts=True)
        colours = lookup(values[np.ix_(row_cells, col_cells)], lut, vmin, vmax)
        self.raster(box, colours.repeat(row_pixels, axis=0).repeat(col_pixels, axis=1))

    def frame(self, axes: Axes, x_ticks: Sequence[float], y_ticks: Sequence[float], x_label: str,
              y_label: str) -> None:
        """Spines, outward ticks with their labels, and the axis labels."""
        box = axes.box
        self.draw.rectangle((box.left - 1, box.top - 1, box.right, box.bottom), outline=BLACK)
        for value, text in zip(x_ticks, labels(x_ticks), strict=True):
            x = round(axes.x_px(value))
            self.draw.line((x, box.bottom, x, box.bottom + TICK_LENGTH), fill=BLACK)
            self.text((x, box.bottom + TICK_LENGTH + TICK_PAD), text, anchor="mt")
        self.text(((box.left + box.right) / 2, box.bottom + TICK_LENGTH + TICK_PAD + TEXT_PX + 6), x_label,
                  anchor="mt")
        self._vertical_scale(axes, y_ticks, box.left - 1, -1, y_label)

    def _vertical_scale(self, axes: Axes, values: Sequence[float], edge: int, side: int, title: str) -> None:
        """Outward ticks from the vertical line at x = `edge` (`side` -1: to its left, +1: to its right),
        their labels, and `title` read bottom to top beyond the widest label (a y axis, a colour bar)."""
        widest = 0.0
        for value, text in zip(values, labels(values), strict=True):
            y = round(axes.y_px(value))
            self.draw.line((edge, y, edge + side * TICK_LENGTH, y), fill=BLACK)
            self.text((edge + side * (TICK_LENGTH + TICK_PAD), y), text, anchor="lm" if side > 0 else "rm")
            widest = max(widest, font(TEXT_PX).getlength(text))
        self.vertical_text((edge + side * (TICK_LENGTH + TICK_PAD + widest + 6 + TEXT_PX / 2),
                            (axes.box.top + axes.box.bottom) / 2), title)

    def legend(self, left: float, top: float, entries: Sequence[LegendEntry]) -> None:
        """A frameless legend: a line sample or a filled patch, then the label, one entry per row."""
        row = SMALL_PX + 6
        for k, entry in enumerate(entries):
            y = top + k * row + row / 2
            if entry.patch:
                self.draw.rectangle((left, y - 5, left + 22, y + 5), fill=entry.colour)
            else:
                self.draw.line((left, y, left + 22, y), fill=entry.colour, width=2)
            self.text((left + 30, y), entry.label, SMALL_PX, anchor="lm")

    def colorbar(self, box: Box, lut: np.ndarray, vmin: float, vmax: float, most_ticks: int, title: str) -> None:
        """A vertical colour bar (`vmax` at the top), ticks and labels on its right, `title` beside them."""
        self.raster(box, lut[::-1, None, :])
        self.draw.rectangle((box.left - 1, box.top - 1, box.right, box.bottom), outline=BLACK)
        self._vertical_scale(Axes(box, (0.0, 1.0), (vmin, vmax)), ticks(vmin, vmax, most_ticks), box.right, 1, title)

    def png(self) -> bytes:
        width, height = self.image.size
        return encode_png(np.frombuffer(self.image.tobytes(), dtype=np.uint8).reshape(height, width, 3))


def encode_png(rgb: np.ndarray) -> bytes:
    """An [H, W, 3] uint8 image as PNG bytes, every row with the PNG "Up" filter (the difference from the
    row above; the first row has none above, so it is left unfiltered). Pillow's encoder tries every
    filter on every row, which cost ~9 ms per plot here; one fixed filter costs ~0.1 ms, and on these
    mostly flat-coloured plots "Up" turns most rows into zeros: files 1-15 % smaller than unfiltered."""
    height, width, _ = rgb.shape
    rows = rgb.reshape(height, width * 3)
    raw = np.empty((height, width * 3 + 1), dtype=np.uint8)
    raw[:, 0] = 2  # filter type Up
    raw[0, 0] = 0  # filter type None for the first row
    raw[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=raw[1:, 1:])  # uint8 arithmetic wraps modulo 256, as PNG's does

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, deflate, no interlace
    data = isal_zlib.compress(raw.data, _PNG_LEVEL)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
