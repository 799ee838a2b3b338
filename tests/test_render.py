"""Pictures: colours the right way round, shapes and aspect ratios kept."""

from __future__ import annotations

import numpy as np
import pytest

from assurexray.core.errors import ConfigError
from assurexray.reporting import render


def _ramp(height: int = 40, width: int = 30) -> np.ndarray:
    """0 at the top row, 1 at the bottom row."""
    return np.repeat(np.linspace(0, 1, height, dtype=np.float32)[:, None], width, axis=1)


def test_jet_is_red_for_high_and_blue_for_low() -> None:
    rgb = render.colorize(_ramp())
    assert rgb.dtype == np.uint8 and rgb.shape == (40, 30, 3)
    red, green, blue = rgb[-1, 0].astype(int)
    assert red > 100 and green < 50 and blue < 50
    red, green, blue = rgb[0, 0].astype(int)
    assert blue > 100 and red < 50 and green < 50


def test_overlay_blends_in_rgb() -> None:
    gray = np.full((40, 30), 0.5, np.float32)
    heat = _ramp()
    np.testing.assert_array_equal(render.overlay(gray, heat, alpha=1.0), render.colorize(heat))
    np.testing.assert_array_equal(render.overlay(gray, heat, alpha=0.0), np.full((40, 30, 3), 128))
    half = render.overlay(gray, heat, alpha=0.5).astype(int)
    assert half[-1, 0, 0] > half[-1, 0, 2] and half[0, 0, 2] > half[0, 0, 0]
    with pytest.raises(ValueError, match="differs"):
        render.overlay(gray, heat[:20])


def test_unknown_colormap_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="jet"):
        render.colorize(_ramp(), "rainbowish")
    assert render.colorize(_ramp(), "Turbo").shape == (40, 30, 3)


def test_colorbar_runs_from_red_at_the_top_to_blue_below() -> None:
    bar = render.colorbar(200)
    assert bar.shape[0] == 200 and bar.dtype == np.uint8
    margin = max(4, 200 // 40)
    top, bottom = bar[margin + 1, margin + 2].astype(int), bar[-margin - 2, margin + 2].astype(int)
    assert top[0] > top[2] and bottom[2] > bottom[0]
    assert (bar[:, -20:] < 128).any()  # tick labels are drawn in black


def test_caption_band_sized_to_the_image() -> None:
    image = np.zeros((100, 300, 3), np.uint8)
    top = render.add_caption(image, "Malignant 0.93")
    assert top.shape[1] == 300 and top.shape[0] > 100
    band = top[: top.shape[0] - 100]
    assert band.max() > 200  # white text on the black band
    assert (top[-100:] == 0).all()
    bottom = render.add_caption(image, "line one\nline two", position="bottom")
    assert (bottom[:100] == 0).all() and bottom.shape[0] > top.shape[0]
    narrow = render.add_caption(np.zeros((50, 40), np.float32), "a very long caption " * 5)
    assert narrow.shape[1] == 40


def test_fit_display_keeps_aspect_and_dtype() -> None:
    small = render.fit_display(np.zeros((300, 1200), np.float32), max_side=600)
    assert small.shape == (150, 600) and small.dtype == np.float32
    untouched = np.zeros((100, 50, 3), np.uint8)
    assert render.fit_display(untouched, max_side=600) is untouched


def test_outline_draws_on_the_contour_only() -> None:
    image = np.zeros((60, 60), np.float32)
    mask = np.zeros((60, 60), bool)
    mask[20:40, 20:40] = True
    drawn = render.outline(image, mask, color=(255, 0, 0), thickness=1)
    red, green, blue = drawn[20, 30]  # the top edge, in (anti-aliased) red
    assert red > 150 and green == 0 and blue == 0
    assert drawn[30, 30].sum() == 0 and drawn[5, 5].sum() == 0


def test_grid_letterboxes_cells_of_different_sizes() -> None:
    tall = np.full((80, 20), 0.0, np.float32)  # black, 4:1
    wide = np.zeros((20, 60, 3), np.uint8)
    sheet = render.grid([tall, wide, tall], ncols=2, pad=2)
    assert sheet.shape == (2 * (80 + 2) + 2, 2 * (60 + 2) + 2, 3)
    first = sheet[2:82, 2:62]  # cell 0: the tall image fills the height, centred
    black_columns = np.flatnonzero((first == 0).all(axis=(0, 2)))
    assert len(black_columns) == 20 and black_columns[0] == 20
    second = sheet[2:82, 64:124]  # cell 1: 60×20 scaled to fit 60 wide keeps 20 rows
    assert len(np.flatnonzero((second == 0).all(axis=(1, 2)))) == 20


def test_hstack_panels_to_one_height() -> None:
    panel = np.zeros((100, 50, 3), np.uint8)
    legend = render.colorbar(50)
    row = render.hstack_panels([panel, legend], pad=3)
    scaled_width = round(legend.shape[1] * 100 / 50)
    assert row.shape == (100, 50 + 3 + scaled_width, 3)
