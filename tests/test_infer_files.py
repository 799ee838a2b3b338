"""infer's picture files show what they should: the heatmap PNG is the map, the overlay the blend.

Tolerances: the heatmap PNG holds the map's 8-bit levels, so it is the map
within half a level (0.5/255); against ``--save-raw``'s full-frame map shrunk
to the picture's size it agrees within 0.01 on average and 0.05 at most (both
are bilinear resizes of one network-size map to different sizes; measured:
0.0008 and 0.002).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from assurexray.imaging.reading import read_image
from assurexray.inference.infer_files import write_heatmap_png
from assurexray.reporting import render
from tests.test_cli_infer import _infer

HALF_LEVEL = 0.5 / 255 + 1e-6


@pytest.mark.parametrize("colormap", ["jet", "inferno"])
def test_heatmap_png_shows_the_colormap_and_holds_the_levels(tmp_path: Path, colormap: str) -> None:
    yy, xx = np.mgrid[:90, :130].astype(np.float32)
    heatmap = np.exp(-(((xx - 40) / 30) ** 2 + ((yy - 50) / 20) ** 2))
    heatmap[0, 0] = np.nan  # drawn as 0, as colorize does
    path = write_heatmap_png(tmp_path / "h.png", render.heat_levels(heatmap), colormap)
    shown = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)  # any viewer's RGB
    assert np.array_equal(shown, render.colorize(heatmap, colormap))
    with Image.open(path) as image:
        assert image.mode == "P"
        levels = np.asarray(image)
    assert np.abs(levels / 255 - np.nan_to_num(heatmap)).max() <= HALF_LEVEL


def test_palette_and_levels_agree_with_colorize() -> None:
    heatmap = np.random.default_rng(0).random((40, 50)).astype(np.float32)
    levels = render.heat_levels(heatmap)
    assert np.array_equal(render.palette("turbo")[levels], render.colorize(heatmap, "turbo"))


def test_infer_pictures_are_the_map_and_the_blend(tmp_path: Path, tiny_checkpoint: Path) -> None:
    rng = np.random.default_rng(1)
    image = tmp_path / "large.png"  # larger than the pictures: they are drawn at 1024 px
    cv2.imwrite(str(image), rng.integers(0, 65536, size=(1300, 1100), dtype=np.uint16))
    out = tmp_path / "out"
    result = _infer(image, "--checkpoint", tiny_checkpoint, "--output", out, "--save-raw")
    assert result.exit_code == 0, result.output
    files = json.loads((out / "large.json").read_text())["outputs"]
    display = render.display_size((1300, 1100))
    with Image.open(files["heatmap"]) as png:
        levels = np.asarray(png)
    assert levels.shape == display
    raw = np.load(files["heatmap_raw"])
    shrunk = cv2.resize(raw, display[::-1], interpolation=cv2.INTER_AREA)
    difference = np.abs(levels / 255 - shrunk)
    assert difference.mean() <= 0.01 and difference.max() <= 0.05

    overlay = cv2.cvtColor(cv2.imread(files["overlay"]), cv2.COLOR_BGR2RGB)
    gray = read_image(image).reduced(1024).data
    expected = render.blend(gray, render.palette("jet")[levels], alpha=0.4)
    assert overlay.shape[1] == display[1] and overlay.shape[0] > display[0]  # caption on top
    assert np.array_equal(overlay[-display[0] :], expected)
