"""Matplotlib figures as pixel arrays, so they are written by the project's PNG encoder.

``figure.savefig(..., format="png")`` compresses through Pillow at its default level,
which costs more than drawing a large figure; :func:`figure_pixels` draws the figure with
the same Agg renderer and hands back its pixels for :func:`assurexray.core.files.write_png`
(atomic, fast deflate). A test checks the pixels equal those of ``savefig``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_pixels(figure: Any, dpi: float) -> np.ndarray:
    """``figure`` drawn at ``dpi`` as an ``H x W x 3`` uint8 RGB array; the figure is closed."""
    plt = pyplot()
    try:
        figure.set_dpi(dpi)
        figure.canvas.draw()
        return np.ascontiguousarray(np.asarray(figure.canvas.buffer_rgba())[..., :3])
    finally:
        plt.close(figure)
