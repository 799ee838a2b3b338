"""A film's grey levels for the artefact detector: normalised, and looked up.

Integer films (8 or 16 bits) are normalised through a table, one entry per grey level.
The detector's white top-hat then runs on the integers themselves: minima and maxima
commute with a non-decreasing map, so the result is the same and several times cheaper
than on the float copy.
"""

from __future__ import annotations

import cv2
import numpy as np


def normalise(image: np.ndarray) -> np.ndarray:
    """Grey image (uint8, uint16 or float in [0, 1]) to float32 in [0, 1], robust low end.

    The 0.5th percentile maps to 0 and the maximum to 1, so 12-bit data stored in
    16 bits and films with a grey floor use the whole range.
    """
    return normalised(image)[0]


def normalised(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`normalise`, and for an integer image the table it looked every level up in."""
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {image.shape}")
    step = (max(1, image.shape[0] // 256), max(1, image.shape[1] // 256))
    lo = float(np.percentile(image[:: step[0], :: step[1]].astype(np.float32), 0.5))
    hi = float(image.max())
    if hi - lo <= 1e-6:
        return np.zeros(image.shape, np.float32), None
    if image.dtype in (np.uint8, np.uint16):  # the same arithmetic once per grey level
        levels = np.arange(np.iinfo(image.dtype).max + 1, dtype=np.float32)
        table = np.clip((levels - lo) / (hi - lo), 0.0, 1.0)
        return look_up(image, table), table
    return np.clip((image.astype(np.float32) - lo) / (hi - lo), 0.0, 1.0), None


def look_up(levels: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[levels]`` (OpenCV's LUT for 8 bits)."""
    if levels.dtype == np.uint8:
        return cv2.LUT(np.ascontiguousarray(levels), table)
    return table[levels]


def white_tophat(
    x: np.ndarray, side: int, levels: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """``x`` minus its opening by a ``side`` square.

    With ``levels = (u, table)``, ``x == table[u]`` for an integer film ``u`` and a
    non-decreasing ``table``: minima and maxima commute with such a map, so the opening is
    taken on the integers (several times cheaper than in float) and the result is the same.
    """
    se = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
    if levels is None:
        return cv2.morphologyEx(x, cv2.MORPH_TOPHAT, se)
    u, table = levels
    return x - look_up(cv2.morphologyEx(u, cv2.MORPH_OPEN, se), table)


def polarity_levels(
    image: np.ndarray, table: np.ndarray | None, sign: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(u, t)`` with ``t[u]`` the working image in polarity ``sign`` (``1 - x`` is
    ``(1 - table)[u]``, and ``(1 - table)`` reversed is non-decreasing in ``top - u``)."""
    if table is None:
        return None
    if sign == 1:
        return image, table
    top = np.iinfo(image.dtype).max
    return (top - image).astype(image.dtype), (1.0 - table)[::-1].copy()
