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

import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from assurexray.core.errors import ImageReadError, refuse_special, why_missing
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
from assurexray.imaging.radiograph import Radiograph, to_unit

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".dcm", ".dicom"}
)
DEFAULT_MAX_PIXELS = 100_000_000

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError)
_GREY_PNG_DEPTH = {"L": 8, "I;16": 16, "I;16B": 16}  # Pillow's modes of grey PNGs


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
    refuse_special(path, ImageReadError)  # a FIFO would block the read forever
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
