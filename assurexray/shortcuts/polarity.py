"""Which way a film is shown (dark or bright air), and the uniform frame around it.

A site's bright frame or a collimated strip along the edges would make a film with
dark air look inverted if the outer band were judged as it is, and its bright
markers would then be missed; the frame is measured and skipped first.
"""

from __future__ import annotations

import cv2
import numpy as np

#: A bright edge line is a frame's when, after a moving average of FRAME_SMOOTH pixels
#: along it, no more than FRAME_STRAY_SHARE of it strays from its mean by over
#: FRAME_DEVIATION (a marker on the line breaks it however long the line);
FRAME_DEVIATION = 0.12
FRAME_STRAY_SHARE = 0.005
FRAME_SMOOTH = 9
#: a frame is skipped up to this fraction of each side before the outer band is judged.
MAX_FRAME_FRACTION = 0.15


def frame_depths(x: np.ndarray) -> tuple[int, int, int, int]:
    """Pixels of uniform bright lines at the top, bottom, left and right of ``x``.

    A site's frame or a collimated strip: each side at most :data:`MAX_FRAME_FRACTION`.
    """
    h, w = x.shape
    step = max(1, min(h, w) // 256)
    small = x[::step, ::step]
    # grain is averaged out along each line (small's short side is 256-511 px)
    top, bottom = _uniform_ends(cv2.blur(small, (FRAME_SMOOTH, 1)))
    left, right = _uniform_ends(cv2.blur(small, (1, FRAME_SMOOTH)).T)
    return top * step, bottom * step, left * step, right * step


def _uniform_ends(lines: np.ndarray) -> tuple[int, int]:
    """How many uniform bright lines (rows of ``lines``) lie at each end, each capped."""
    cap = int(MAX_FRAME_FRACTION * len(lines))
    return _uniform_run(lines[:cap]), _uniform_run(lines[::-1][:cap])


def _uniform_run(lines: np.ndarray) -> int:
    """How many of ``lines``, from the first, are uniform and bright without a break."""
    if not len(lines):
        return 0
    centre = lines.mean(axis=1, keepdims=True)  # a mark on the line barely moves it
    stray = (np.abs(lines - centre) > FRAME_DEVIATION).mean(axis=1)
    flat = (stray <= FRAME_STRAY_SHARE) & (centre[:, 0] >= 0.5)
    return len(flat) if flat.all() else int(np.argmin(flat))


def in_frame(box: tuple[int, int, int, int], frame: tuple[int, ...], shape: tuple) -> bool:
    """True when a working-frame box lies within the frame's band (a piece of its edge)."""
    top, bottom, left, right = frame
    x0, y0, x1, y1 = box
    h, w = shape
    return (
        (top > 0 and y1 <= top + 1) or (bottom > 0 and y0 >= h - bottom - 1)
        or (left > 0 and x1 <= left + 1) or (right > 0 and x0 >= w - right - 1)
    )  # fmt: skip


def is_inverted(x: np.ndarray, frame: tuple[int, int, int, int]) -> bool:
    """True when the film's outer band, inside any frame, is mostly bright (air shown white).

    Skipping the frame matters: on a film with dark air a bright frame would otherwise
    make it look inverted, and its bright markers would be missed.
    """
    top, bottom, left, right = frame
    x = x[top : x.shape[0] - bottom, left : x.shape[1] - right]
    h, w = x.shape
    b = max(1, min(h, w) // 20)
    band = np.concatenate([x[:b].ravel(), x[-b:].ravel(), x[:, :b].ravel(), x[:, -b:].ravel()])
    return float(np.median(band)) > 0.5
