"""The decoded radiograph (:class:`Radiograph`) and the linear map of any pixel range onto [0, 1].

The type every reader returns: :mod:`assurexray.imaging.reading` (Pillow formats)
and :mod:`assurexray.imaging.dicom` both build one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from assurexray.core.errors import ImageReadError

_WHITE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(np.float32): 1.0}


@dataclass(frozen=True, eq=False)
class Radiograph:
    """A decoded image, the size of its frame, and the facts about its source.

    Attributes:
        data: The grey image as decoded, ``h×w``, C-contiguous: ``uint8``
            (white is 255), ``uint16`` (white is 65535) or ``float32`` in
            [0, 1]. It covers the whole image but may hold fewer pixels than
            the file: a JPEG read with ``reduce_to`` is decoded at 1/2, 1/4 or
            1/8 scale, and :meth:`reduced` makes a smaller copy for pictures.
        size: ``(height, width)`` of the image in the file, after EXIF
            orientation: the frame that heatmaps, masks and points refer to.
        path: The file it was read from.
        source_format: "JPEG", "PNG", "TIFF", "BMP" or "DICOM".
        bit_depth: Bits per sample in the source (8, 16, 12 for a 12-bit DICOM, ...).
        original_mode: Pillow mode ("L", "RGB", "I;16", ...) or DICOM photometric
            interpretation ("MONOCHROME1", ...).
        warnings: Notes for the user made while reading (only the first page or
            frame used, alpha composited, ...); jobs store them with the image.
    """

    data: np.ndarray = field(repr=False)
    size: tuple[int, int]
    path: Path
    source_format: str
    bit_depth: int
    original_mode: str
    warnings: tuple[str, ...] = ()

    @property
    def height(self) -> int:
        """Height of the image in the file (not of ``data``)."""
        return int(self.size[0])

    @property
    def width(self) -> int:
        """Width of the image in the file (not of ``data``)."""
        return int(self.size[1])

    @property
    def white(self) -> float:
        """The value of full brightness in ``data``: 255, 65535 or 1.0."""
        return _WHITE[self.data.dtype]

    @cached_property
    def pixels(self) -> np.ndarray:
        """``data`` as float32 in [0, 1], same shape (made on first use, then kept)."""
        if self.data.dtype == np.float32:
            return self.data
        unit = self.data.astype(np.float32)
        unit /= np.float32(self.white)
        return unit

    def reduced(self, max_side: int) -> Radiograph:
        """A copy whose ``data`` is at most ``max_side`` pixels a side (``size`` kept).

        Shrinks with area averaging, as pictures are drawn; returns ``self``
        when ``data`` is already small enough.
        """
        height, width = self.data.shape
        scale = max_side / max(height, width)
        if scale >= 1.0:
            return self
        shape = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(self.data, shape, interpolation=cv2.INTER_AREA)
        return Radiograph(
            small,
            self.size,
            self.path,
            self.source_format,
            self.bit_depth,
            self.original_mode,
            self.warnings,
        )


def to_unit(
    path: Path,
    arr: np.ndarray,
    lo: float | None = None,
    hi: float | None = None,
    notes: list[str] | None = None,
) -> np.ndarray:
    """Map [lo, hi] linearly onto float32 [0, 1] (min-max if not given); constant -> 0.

    Raises:
        ImageReadError: No pixel value is finite.
    """
    arr = np.asarray(arr)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    finite = np.isfinite(arr)
    all_finite = bool(finite.all())
    if not all_finite and not finite.any():
        raise ImageReadError(f"{path}: no finite pixel value (all are NaN or infinite)")
    if lo is None or hi is None:
        values = arr if all_finite else arr[finite]
        lo, hi = float(values.min()), float(values.max())
    span = float(hi) - float(lo)
    if not span > 0:
        return np.zeros(arr.shape, dtype=np.float32)
    if not math.isfinite(span):
        raise ImageReadError(f"{path}: pixel values span too wide a range ({lo:g} to {hi:g})")
    if not all_finite:
        if notes is not None:
            count = int(arr.size - np.count_nonzero(finite))
            notes.append(f"{count:,} NaN or infinite pixel values shown as black or white")
        arr = np.nan_to_num(arr, nan=lo, posinf=hi, neginf=lo)
    out = (arr - arr.dtype.type(lo)) * arr.dtype.type(1.0 / span)
    return np.ascontiguousarray(np.clip(out, 0.0, 1.0), dtype=np.float32)
