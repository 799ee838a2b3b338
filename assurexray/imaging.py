"""Read a radiograph from disk into one float32 grayscale array in [0, 1].

JPEG, PNG, TIFF and BMP are read with Pillow (8/16-bit, grayscale, RGB, RGBA,
palette, float TIFF; EXIF orientation applied). DICOM is read with pydicom
(modality LUT, then VOI LUT or window, MONOCHROME1 inverted so bone is bright).

Choices:
    * Colour becomes luminance with the ITU-R BT.601 weights Pillow uses for "L".
    * Alpha is composited on black (a transparent pixel is black, like the
      background of a radiograph); a warning says so when any pixel is not opaque.
    * Integer data is scaled by the maximum of its bit depth (255, 65535,
      2**BitsStored - 1); data of unknown range (float TIFF outside [0, 1],
      DICOM without a window) is min-max scaled, and a constant one becomes zeros.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageOps, UnidentifiedImageError
from pydicom.errors import InvalidDicomError
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi,
    apply_windowing,
    get_decoder,
    pixel_array,
)
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from assurexray.errors import ImageReadError

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".dcm", ".dicom"}
)
DEFAULT_MAX_PIXELS = 100_000_000

_DICOM_EXTENSIONS = frozenset({".dcm", ".dicom"})
_MAGIC = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n": "PNG",
    b"II*\0": "TIFF",
    b"MM\0*": "TIFF",
    b"BM": "BMP",
}
_NATIVE_SYNTAX = {(True, True): ImplicitVRLittleEndian, (False, True): ExplicitVRLittleEndian}
_PIL_FORMATS = ("JPEG", "PNG", "TIFF", "BMP")  # Pillow opens a multi-picture JPEG as "MPO"
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError)


@dataclass(frozen=True, eq=False)
class Radiograph:
    """A decoded image and the facts about its source.

    Attributes:
        pixels: float32 array (H, W), values in [0, 1], C-contiguous.
        path: The file it was read from.
        source_format: "JPEG", "PNG", "TIFF", "BMP" or "DICOM".
        bit_depth: Bits per sample in the source (8, 16, 12 for a 12-bit DICOM, ...).
        original_mode: Pillow mode ("L", "RGB", "I;16", ...) or DICOM photometric
            interpretation ("MONOCHROME1", ...).
        warnings: Notes the caller may show (multi-frame, alpha composited, ...).
    """

    pixels: np.ndarray = field(repr=False)
    path: Path
    source_format: str
    bit_depth: int
    original_mode: str
    warnings: tuple[str, ...] = ()

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width), the NumPy order."""
        return self.height, self.width


def is_image_file(path: str | Path) -> bool:
    """Return True if the suffix (case-insensitive) is one of IMAGE_EXTENSIONS."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def read_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Radiograph:
    """Read an image or DICOM file as a grayscale float32 array in [0, 1].

    Args:
        path: The file. DICOM is recognised by a .dcm/.dicom suffix or by the
            "DICM" marker at byte 128, so extension-less DICOMs work too.
        max_pixels: Refuse images with more than this many pixels (height x
            width), checked from the header before any pixel is decoded.
            Pillow's global ``Image.MAX_IMAGE_PIXELS`` is raised to this value
            if it is lower, so Pillow never refuses what this limit allows.

    Returns:
        The Radiograph.

    Raises:
        ImageReadError: The file is missing, a directory, empty, not an image,
            truncated or corrupt, too large, or a DICOM that cannot be decoded.
    """
    path = Path(path)
    if not path.exists():
        if path.is_symlink():  # a dangling link, or a loop of links
            raise ImageReadError(f"{path}: cannot be read ({_link_problem(path)})")
        raise ImageReadError(f"{path}: file not found")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a directory, not an image file")
    try:
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: file is empty (0 bytes)")
        kind = _sniff(path)
        if kind == "DICOM" or path.suffix.lower() in _DICOM_EXTENSIONS:
            return _read_dicom(path, max_pixels)
        return _read_pillow(path, max_pixels, kind)
    except MemoryError as exc:
        raise ImageReadError(f"{path}: not enough memory to decode the image") from exc
    except OSError as exc:  # permission denied, I/O error
        raise ImageReadError(f"{path}: cannot be read ({_one_line(exc)})") from exc


def _link_problem(path: Path) -> str:
    """Why a symbolic link cannot be followed, in the system's words."""
    try:
        path.stat()
    except OSError as exc:
        return exc.strerror or "broken symbolic link"
    return "broken symbolic link"


def _sniff(path: Path) -> str | None:
    """Return the format the first bytes announce ("DICM" at byte 128 for DICOM), or None."""
    with path.open("rb") as fh:
        head = fh.read(132)
    if head[128:] == b"DICM":
        return "DICOM"
    return next((fmt for magic, fmt in _MAGIC.items() if head.startswith(magic)), None)


def _check_size(path: Path, height: int, width: int, max_pixels: int) -> None:
    if height * width > max_pixels:
        raise ImageReadError(
            f"{path}: image too large ({width}x{height} = {height * width:,} pixels, "
            f"limit {max_pixels:,})"
        )


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines) or type(exc).__name__


def _to_unit(arr: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Map [lo, hi] linearly onto [0, 1] (min-max if not given); NaN -> 0, constant -> 0."""
    arr = np.asarray(arr, dtype=np.float32)
    finite = np.isfinite(arr)
    if lo is None or hi is None:
        if not finite.any():
            return np.zeros(arr.shape, dtype=np.float32)
        lo, hi = float(arr[finite].min()), float(arr[finite].max())
    if not hi > lo:
        return np.zeros(arr.shape, dtype=np.float32)
    if not finite.all():
        arr = np.nan_to_num(arr, nan=lo, posinf=hi, neginf=lo)
    out = np.clip((arr - np.float32(lo)) / np.float32(hi - lo), 0.0, 1.0)
    return np.ascontiguousarray(out, dtype=np.float32)


# --- Pillow: JPEG, PNG, TIFF, BMP ---------------------------------------------------------


def _read_pillow(path: Path, max_pixels: int, kind: str | None) -> Radiograph:
    # Pillow's own bomb check must never be stricter than ours (it errors at twice its limit).
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(path, formats=_PIL_FORMATS)
        except Image.DecompressionBombError as exc:
            raise ImageReadError(f"{path}: image too large ({_one_line(exc)})") from exc
        except UnidentifiedImageError as exc:
            if kind:  # the magic bytes say what it should be, but the header is broken
                raise ImageReadError(f"{path}: corrupt {kind} image (bad header)") from exc
            raise ImageReadError(
                f"{path}: not a recognised image (expected JPEG, PNG, TIFF, BMP or DICOM)"
            ) from exc
        with img:
            _check_size(path, img.height, img.width, max_pixels)
            fmt, mode = "JPEG" if img.format == "MPO" else str(img.format), img.mode
            try:
                if getattr(img, "n_frames", 1) > 1:
                    notes.append(f"{img.n_frames} frames/pages: only the first is used")
                img.load()  # decode everything now, so truncation is an error here
                oriented = ImageOps.exif_transpose(img)
            except Image.DecompressionBombError as exc:
                raise ImageReadError(f"{path}: image too large ({_one_line(exc)})") from exc
            except _DECODE_ERRORS as exc:
                raise ImageReadError(
                    f"{path}: truncated or corrupt {fmt} image ({_one_line(exc)})"
                ) from exc
    pixels, depth = _pillow_gray(path, oriented, notes)
    return Radiograph(pixels, path, fmt, depth, mode, tuple(notes))


def _pillow_gray(path: Path, img: Image.Image, notes: list[str]) -> tuple[np.ndarray, int]:
    """Return (pixels in [0, 1], source bit depth) for any Pillow mode."""
    mode = img.mode
    if mode.startswith("I;16"):
        return _to_unit(np.asarray(img), 0, 65535), 16
    if mode == "I":
        arr = np.asarray(img)
        if arr.min() >= 0 and arr.max() <= 65535:
            return _to_unit(arr, 0, 65535), 16
        notes.append("32-bit integer values outside 0..65535: min-max scaled")
        return _to_unit(arr), 32
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        finite = arr[np.isfinite(arr)]
        in_range = finite.size > 0 and finite.min() >= 0 and finite.max() <= 1
        return (_to_unit(arr, 0.0, 1.0) if in_range else _to_unit(arr)), 32
    try:
        if mode == "1":
            img = img.convert("L")
        elif mode in ("P", "PA"):
            img = img.convert("RGBA" if mode == "PA" or "transparency" in img.info else "RGB")
        elif mode not in ("L", "LA", "RGB", "RGBA"):  # CMYK, YCbCr, RGBX, ...
            img = img.convert("RGB")
    except ValueError as exc:
        raise ImageReadError(f"{path}: unsupported pixel mode {mode} ({exc})") from exc
    arr = np.asarray(img, dtype=np.float32) / np.float32(255)
    alpha = None
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        arr, alpha = arr[..., :-1], arr[..., -1]
    gray = arr @ _LUMA if arr.ndim == 3 and arr.shape[2] == 3 else arr.reshape(arr.shape[:2])
    if alpha is not None and bool((alpha < 1).any()):
        gray = gray * alpha
        notes.append("transparent pixels composited on black")
    return _to_unit(gray, 0.0, 1.0), 8


# --- DICOM ----------------------------------------------------------------------------------


def _read_dicom(path: Path, max_pixels: int) -> Radiograph:
    ds = _load_dicom(path)
    try:  # pydicom converts element values lazily, so a bad value surfaces here
        rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
        if rows <= 0 or cols <= 0:
            raise ImageReadError(f"{path}: invalid DICOM: Rows/Columns missing or zero")
        _check_size(path, rows, cols, max_pixels)
        notes: list[str] = []
        frames = int(ds.get("NumberOfFrames") or 1)
        if frames > 1:
            notes.append(f"multi-frame DICOM ({frames} frames): only the first frame is used")
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
        bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 8)
        arr = _decode_dicom(path, ds)
        if photometric in ("MONOCHROME1", "MONOCHROME2"):
            pixels = _dicom_gray(ds, arr, notes)
            if photometric == "MONOCHROME1":  # low values are bright: invert so bone is bright
                pixels = 1.0 - pixels
        elif photometric == "PALETTE COLOR":
            rgb = apply_color_lut(arr, ds)
            pixels = _to_unit(rgb.astype(np.float32) @ _LUMA, 0, np.iinfo(rgb.dtype).max)
        elif arr.ndim == 3 and arr.shape[2] == 3:  # RGB; pydicom already turned YBR_* into RGB
            pixels = _to_unit(arr.astype(np.float32) @ _LUMA, 0, 2**bits - 1)
        else:
            raise ImageReadError(f"{path}: unsupported DICOM photometric {photometric}")
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise ImageReadError(f"{path}: invalid DICOM ({_one_line(exc)})") from exc
    return Radiograph(pixels, path, "DICOM", bits, photometric, tuple(notes))


def _load_dicom(path: Path) -> pydicom.Dataset:
    """Parse the file; a bare data set without the 'DICM' header is read with force=True."""
    forced = False
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        forced = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path, force=True)
            except Exception as exc:  # pydicom raises many types on arbitrary bytes
                raise ImageReadError(f"{path}: not a valid DICOM file ({_one_line(exc)})") from exc
    except Exception as exc:  # idem: a header that starts well and then breaks
        raise ImageReadError(f"{path}: corrupt DICOM file ({_one_line(exc)})") from exc
    if "PixelData" not in ds:
        if forced and not any(key in ds for key in ("SOPClassUID", "Modality", "Rows")):
            raise ImageReadError(f"{path}: not a valid DICOM file")
        raise ImageReadError(f"{path}: DICOM file has no pixel data (not an image object)")
    if "TransferSyntaxUID" not in ds.file_meta:  # bare data set: use the encoding found
        ds.file_meta.TransferSyntaxUID = _NATIVE_SYNTAX.get(
            ds.original_encoding, ExplicitVRBigEndian
        )
    return ds


def _decode_dicom(path: Path, ds: pydicom.Dataset) -> np.ndarray:
    """Decode the first frame, turning pydicom's errors into ImageReadError."""
    tsyntax = ds.file_meta.TransferSyntaxUID
    try:
        return pixel_array(ds, index=0)
    except (RuntimeError, NotImplementedError) as exc:  # no (working) handler for the syntax
        try:
            missing = get_decoder(tsyntax).missing_dependencies
            hint = "install one of: " + "; ".join(missing) if missing else _one_line(exc)
        except NotImplementedError:
            hint = "pydicom has no decoder for it"
        raise ImageReadError(
            f"{path}: DICOM transfer syntax {tsyntax.name} cannot be decoded ({hint})"
        ) from exc
    except (ValueError, AttributeError, KeyError, TypeError, EOFError) as exc:
        raise ImageReadError(
            f"{path}: invalid or truncated DICOM pixel data ({_one_line(exc)})"
        ) from exc


def _dicom_gray(ds: pydicom.Dataset, arr: np.ndarray, notes: list[str]) -> np.ndarray:
    """Modality LUT, then VOI LUT (preferred, as apply_voi_lut does) or window, to [0, 1]."""
    values = apply_modality_lut(arr, ds)
    try:
        seq = ds.get("VOILUTSequence")
        if seq and "LUTDescriptor" in seq[0] and "LUTData" in seq[0]:
            entries, first = seq[0].LUTDescriptor[0] or 2**16, seq[0].LUTDescriptor[1]
            lut = apply_voi(np.arange(first, first + entries), ds)  # the whole table
            # Clip first: pydicom 3.0 wraps indices past 255 for an 8-bit table.
            index = np.clip(np.rint(values), first, first + entries - 1).astype(np.int32)
            mapped = apply_voi(index, ds)
            return _to_unit(mapped, float(lut.min()), float(lut.max()))
        if ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
            lo, hi = apply_windowing(np.array([-np.inf, np.inf]), ds)  # output range
            return _to_unit(apply_windowing(values, ds), lo, hi)
    except (ValueError, TypeError, IndexError, NotImplementedError) as exc:
        notes.append(f"VOI LUT/window not usable ({_one_line(exc)}): min-max scaled instead")
    return _to_unit(values)
