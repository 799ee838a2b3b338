"""Solid burned-in shapes: filled squares, dots and blank blocks drawn onto a film.

A filled square or disc stamped onto a film (a site's tag, a planted token) has
none of a glyph's thin strokes, and a white top-hat sized for letters erases it
once it is wider than the top-hat's square, so :mod:`.artefacts` finds it here
instead, with the physical cues of a burned-in fill: near the bright end of the
range, flat inside, a strong step against a thin ring around it, and a regular
outline (it fills its box and its convex hull, as a rectangle or a disc does).
Bone and tumours are textured or soft-edged; collimation bands lie along the
frame's border and are excluded as long bars on it. A block carrying text is not
convex once its letters are cut out: its text is found as text. Metal seen
against air (a bead, a screw head end-on) can pass these tests: the report shows
every detection's box, and your own outlines (``--artefact-label``) replace them.
"""

from __future__ import annotations

import cv2
import numpy as np

from assurexray.shortcuts.regions import label_components

#: A patch's long side is at most this fraction of the short side (bigger is no stamp).
MAX_PATCH_FRACTION = 0.2
#: A patch is at most this elongated (long side over short side of its box).
MAX_PATCH_ELONGATION = 4.0
#: A patch fills at least this fraction of its box (a disc pi/4, less when small).
MIN_BOX_FILL = 0.6
#: ... and at least this fraction of its convex hull (no notches, no arms).
MIN_SOLIDITY = 0.9
#: Width of the ring the contrast is measured against, as a fraction of the patch's short side.
RING_FRACTION = 0.15


def _convex(component: np.ndarray) -> bool:
    """True when a component (uint8 mask) fills its convex hull: a rectangle, a disc."""
    contours, _ = cv2.findContours(component, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = np.zeros_like(component)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.concatenate(contours)), 1)
    return float(component.sum()) >= MIN_SOLIDITY * float(hull.sum())


def robust_spread(values: np.ndarray) -> float:
    """Robust standard deviation (interquartile range / 1.35): JPEG ringing is ignored."""
    q1, q3 = np.percentile(values, [25, 75])
    return float(q3 - q1) / 1.35


def median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D array, the same value without its overhead (called per
    candidate component)."""
    n = values.size
    if n == 0:
        return float("nan")
    k = n // 2
    part = np.partition(values, [k - 1, k] if n % 2 == 0 else k)
    return float(part[k]) if n % 2 else float((part[k - 1] + part[k]) / 2)


def find_patches(
    x: np.ndarray, *, min_len: float, min_level: float, min_contrast: float,
    max_core_std: float,
) -> tuple[list[dict], np.ndarray]:  # fmt: skip
    """Solid regular bright shapes in the working image ``x`` (bright polarity, [0, 1]).

    Returns candidates in the form :mod:`.artefacts` groups (``box``, ``h``, ``w``,
    ``kind``, ``lab``) and the label image they index.
    """
    bright = (x >= min_level).astype(np.uint8)
    _, lab, stats = label_components(bright)
    H, W = x.shape
    x0, y0, w, h, area = (stats[1:, k].astype(np.int64) for k in range(5))
    long, short = np.maximum(w, h), np.minimum(w, h)
    on_border = (x0 == 0) | (y0 == 0) | (x0 + w == W) | (y0 + h == H)
    ok = (short >= max(3.0, min_len / 2)) & (long >= min_len)
    ok &= long <= MAX_PATCH_FRACTION * min(H, W)
    ok &= long <= MAX_PATCH_ELONGATION * short
    ok &= ~(on_border & (long > 2 * short))
    ok &= area >= MIN_BOX_FILL * w * h
    found = []
    for i in np.flatnonzero(ok) + 1:
        bx, by, bw, bh, _ = (int(v) for v in stats[i])
        r = max(2, int(round(RING_FRACTION * min(bw, bh))))
        py0, px0 = max(0, by - r), max(0, bx - r)
        py1, px1 = min(H, by + bh + r), min(W, bx + bw + r)
        comp = (lab[py0:py1, px0:px1] == i).astype(np.uint8)
        ring = cv2.dilate(comp, np.ones((2 * r + 1, 2 * r + 1), np.uint8)).astype(bool)
        ring &= ~comp.astype(bool)
        if ring.sum() < 4 or not _convex(comp):
            continue
        region = x[py0:py1, px0:px1]
        core = cv2.erode(comp, np.ones((3, 3), np.uint8)).astype(bool)
        if core.sum() < 4:
            continue
        if float(region[core].mean()) - median(region[ring]) < min_contrast:
            continue
        if robust_spread(region[core]) > max_core_std:
            continue
        found.append(dict(box=(bx, by, bx + bw, by + bh), h=bh, w=bw, kind="patch", lab=i))
    return found, lab
