"""Read a radiograph from disk into one grey array and the size of its frame.

JPEG, PNG, TIFF and BMP are read with Pillow (8/16-bit, grayscale, RGB, RGBA,
palette, float TIFF; EXIF orientation applied). DICOM is read with pydicom
(modality LUT, then VOI LUT or window, MONOCHROME1 inverted so bone is bright).

Choices:
    * Pixels stay in their integer type (uint8 or uint16) as long as possible:
      :attr:`Radiograph.data` is the decoded array, :attr:`Radiograph.pixels`
      its float32 [0, 1] view, made only when asked for. Preprocessing converts
      to float at network size, not at the size of the file.
    * A caller that needs far fewer pixels than a JPEG holds (``reduce_to``)
      gets it decoded at 1/2, 1/4 or 1/8 scale by libjpeg; the file's own size
      stays in :attr:`Radiograph.size`, the frame of heatmaps and masks.
    * Colour becomes luminance with the ITU-R BT.601 weights of Pillow's "L"
      conversion (for a colour JPEG, libjpeg's own grey output).
    * Alpha is composited on black (a transparent pixel is black, like the
      background of a radiograph); a note says so when any pixel is not opaque.
    * Integer data is scaled by the maximum of its bit depth (255, 65535,
      2**BitsStored - 1); data of unknown range (float TIFF outside [0, 1],
      DICOM without a window) is min-max scaled, and a constant one becomes zeros.
    * An image with no finite pixel value (NaN or infinite everywhere, or a
      DICOM rescale that overflows) is an error, not a black picture.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from assurexray.core.errors import ImageReadError, why_missing
from assurexray.core.png import decode_grey_png
from assurexray.core.text import first_line
from assurexray.imaging.header import (
    PIL_FORMATS,
    check_size,
    is_dicom,
    oriented_size,
    reduction_factor,
    sniff,
)

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".dcm", ".dicom"}
)
DEFAULT_MAX_PIXELS = 100_000_000

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError)
_GREY_PNG_DEPTH = {"L": 8, "I;16": 16, "I;16B": 16}  # Pillow's modes of grey PNGs
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


def is_image_file(path: str | Path) -> bool:
    """Return True if the suffix (case-insensitive) is one of IMAGE_EXTENSIONS."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def read_image(
    path: str | Path,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    reduce_to: tuple[int, int] | None = None,
) -> Radiograph:
    """Read an image or DICOM file as a grey array and the size of its frame.

    Args:
        path: The file. DICOM is recognised by a .dcm/.dicom suffix or by the
            "DICM" marker at byte 128, so extension-less DICOMs work too.
        max_pixels: Refuse images with more than this many pixels (height x
            width), checked from the header before any pixel is decoded.
            Pillow's global ``Image.MAX_IMAGE_PIXELS`` is raised to this value
            if it is lower, so Pillow never refuses what this limit allows.
        reduce_to: ``(long, short)``: the caller needs no more than this many
            pixels along the longest and the shortest side. A JPEG is then
            decoded at the smallest of 1/8, 1/4 or 1/2 scale that still keeps
            both; other formats are decoded in full. None: always in full.

    Returns:
        The Radiograph (``size`` is always the file's, whatever ``data`` holds).

    Raises:
        ImageReadError: The file is missing, a directory, empty, not an image,
            truncated or corrupt, too large, has no finite pixel value, or is a
            DICOM that cannot be decoded.
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: file {why_missing(path)}")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a directory, not an image file")
    try:
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: file is empty (0 bytes)")
        kind = sniff(path)
        if is_dicom(path, kind):
            from assurexray.imaging.dicom import read_dicom  # pydicom is imported only when needed

            return read_dicom(path, max_pixels)
        return _read_pillow(path, max_pixels, kind, reduce_to)
    except MemoryError as exc:
        raise ImageReadError(f"{path}: not enough memory to decode the image") from exc
    except OSError as exc:  # permission denied, I/O error
        raise ImageReadError(f"{path}: cannot be read ({first_line(exc)})") from exc


def _too_large(path: Path, exc: Exception, max_pixels: int) -> ImageReadError:
    """Pillow's decompression-bomb error, worded with our limit rather than Pillow's."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    count = f"{int(found.group(1)):,} pixels, " if found else ""
    return ImageReadError(f"{path}: image too large ({count}limit {max_pixels:,})")


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


# --- Pillow: JPEG, PNG, TIFF, BMP ---------------------------------------------------------


def _read_pillow(
    path: Path, max_pixels: int, kind: str | None, reduce_to: tuple[int, int] | None
) -> Radiograph:
    # Pillow's own bomb check must never be stricter than ours (it errors at twice its limit).
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(path, formats=PIL_FORMATS)
        except Image.DecompressionBombError as exc:
            raise _too_large(path, exc, max_pixels) from exc
        except UnidentifiedImageError as exc:
            if kind:  # the magic bytes say what it should be, but the header is broken
                raise ImageReadError(f"{path}: corrupt {kind} image (bad header)") from exc
            raise ImageReadError(
                f"{path}: not a recognised image (expected JPEG, PNG, TIFF, BMP or DICOM)"
            ) from exc
        with img:
            check_size(path, img.height, img.width, max_pixels)
            fmt, mode = "JPEG" if img.format == "MPO" else str(img.format), img.mode
            grey_png = _decode_grey_png(path, img)  # before getexif, which decodes a PNG
            if grey_png is not None:
                pixels, depth = grey_png
                return Radiograph(pixels, (img.height, img.width), path, fmt, depth, mode)
            try:
                size = oriented_size(img)
                frames = int(getattr(img, "n_frames", 1))
                if frames > 1:
                    notes.append(f"{frames} frames/pages: only the first is used")
                if fmt == "JPEG":  # grey straight from libjpeg, at reduced scale if allowed
                    factor = reduction_factor(size, reduce_to)
                    width, height = img.size
                    img.draft("L", (width // factor, height // factor) if factor > 1 else None)
                img.load()  # decode everything now, so truncation is an error here
                ImageOps.exif_transpose(img, in_place=True)
            except Image.DecompressionBombError as exc:
                raise _too_large(path, exc, max_pixels) from exc
            except _DECODE_ERRORS as exc:
                raise ImageReadError(
                    f"{path}: truncated or corrupt {fmt} image ({first_line(exc)})"
                ) from exc
            data, depth = _pillow_gray(path, img, notes)
    return Radiograph(data, size, path, fmt, depth, mode, tuple(notes))


def _decode_grey_png(path: Path, img: Image.Image) -> tuple[np.ndarray, int] | None:
    """A plain grey PNG's pixels and bit depth through OpenCV (see
    :func:`assurexray.core.png.decode_grey_png`); None for any other file."""
    depth = _GREY_PNG_DEPTH.get(img.mode)
    if img.format != "PNG" or depth is None:
        return None
    pixels = decode_grey_png(path, (img.height, img.width), depth)
    return None if pixels is None else (pixels, depth)


def _pillow_gray(path: Path, img: Image.Image, notes: list[str]) -> tuple[np.ndarray, int]:
    """Return (grey data: uint8, uint16 or float32 in [0, 1], source bit depth)."""
    mode = img.mode
    if mode.startswith("I;16"):
        return np.ascontiguousarray(np.asarray(img), dtype=np.uint16), 16
    if mode == "I":
        arr = np.asarray(img)
        if arr.min() >= 0 and arr.max() <= 65535:
            return arr.astype(np.uint16), 16
        notes.append("32-bit integer values outside 0..65535: min-max scaled")
        return to_unit(path, arr), 32
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        with np.errstate(invalid="ignore"):
            finite = arr[np.isfinite(arr)]
            in_range = finite.size > 0 and finite.min() >= 0 and finite.max() <= 1
        lo, hi = (0.0, 1.0) if in_range else (None, None)
        return to_unit(path, arr, lo, hi, notes), 32
    try:
        if mode in ("P", "PA"):
            has_alpha = mode == "PA" or "transparency" in img.info
            img = img.convert("RGBA" if has_alpha else "RGB")
        elif mode not in ("1", "L", "LA", "RGB", "RGBA"):  # CMYK, YCbCr, RGBX, ...
            img = img.convert("RGB")
        if img.mode in ("LA", "RGBA"):
            return _composite_on_black(np.asarray(img.convert("LA")), notes), 8
        if img.mode != "L":
            img = img.convert("L")
    except ValueError as exc:
        raise ImageReadError(f"{path}: unsupported pixel mode {mode} ({exc})") from exc
    return np.ascontiguousarray(np.asarray(img), dtype=np.uint8), 8


def _composite_on_black(grey_alpha: np.ndarray, notes: list[str]) -> np.ndarray:
    """Grey × alpha of an ``h×w×2`` uint8 array: float32 in [0, 1], or uint8 if all opaque."""
    grey, alpha = grey_alpha[..., 0], grey_alpha[..., 1]
    if bool((alpha == 255).all()):
        return np.ascontiguousarray(grey)
    notes.append("transparent pixels composited on black")
    scale = np.float32(1.0 / (255 * 255))
    return (grey.astype(np.float32) * alpha.astype(np.float32)) * scale
