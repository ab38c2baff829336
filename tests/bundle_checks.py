"""What every job's result bundle must hold, checked the same way for every model."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence

from phonos_models.common import plots
from phonos_models.common.result_files import ModelResult
from PIL import Image

# Plot format key -> the pixel size the plots module promises.
PLOT_SIZES: Mapping[str, tuple[int, int]] = {
    "plddt_plot": plots.PLDDT_SIZE,
    "pae_plot": plots.PAE_SIZE,
    "coverage_plot": plots.COVERAGE_SIZE,
    "confidence_plot": plots.CONFIDENCE_SIZE,
}


def png_size(content: bytes) -> tuple[int, int]:
    """The (width, height) of a PNG, after decoding every pixel (a truncated file fails here)."""
    image = Image.open(io.BytesIO(content))
    assert image.format == "PNG"
    image.load()
    return image.size


def check_bundle(result: ModelResult, formats: Sequence[str], stem: str) -> zipfile.ZipFile:
    """The result carries exactly `formats`, the zip holds every other file byte for byte plus README.md,
    and every plot is a valid PNG of its promised size. Returns the opened zip."""
    assert tuple(f.format for f in result.files) == tuple(formats)
    by_format = {f.format: f for f in result.files}
    archive = zipfile.ZipFile(io.BytesIO(by_format["zip"].content))
    assert archive.testzip() is None
    expected = [f"{stem}.{f.extension}" for f in result.files if f.format != "zip"] + ["README.md"]
    assert archive.namelist() == expected
    for item in result.files:
        if item.format != "zip":
            assert archive.read(f"{stem}.{item.extension}") == item.content
        if item.media_type == "image/png":
            assert png_size(item.content) == PLOT_SIZES[item.format], item.format
    readme = archive.read("README.md").decode()
    for name in expected[:-1]:
        assert f"`{name}`" in readme  # every file is described
    return archive
