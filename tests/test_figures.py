"""Matplotlib figures drawn to pixels equal what savefig writes, and are written by write_png."""

from __future__ import annotations

import io

import cv2
import numpy as np

from assurexray.core.files import write_png
from assurexray.reporting.figures import figure_pixels, pyplot


def _figure():
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(4, 2))
    axes[0].imshow(np.random.default_rng(0).random((20, 20)), cmap="jet")
    axes[1].plot([1, 3, 2])
    axes[1].set_title("a title")
    figure.tight_layout()
    return figure


def test_pixels_equal_savefig_and_the_figure_is_closed(tmp_path):
    plt = pyplot()
    figure = _figure()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    expected = cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    figure = _figure()
    pixels = figure_pixels(figure, dpi=90)
    assert not plt.fignum_exists(figure.number)
    assert pixels.shape == (180, 360, 3) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, expected[..., ::-1])  # OpenCV decodes BGR
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # a real drawing, not blank
    written = cv2.imread(str(write_png(tmp_path / "f.png", pixels)), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(written[..., ::-1], pixels)
