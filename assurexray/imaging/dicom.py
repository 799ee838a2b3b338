"""DICOM through pydicom: modality LUT, then VOI LUT or window, to a grey image.

MONOCHROME1 is inverted so bone is bright; colour (RGB, YBR, palette) becomes
BT.601 luminance; only the first frame of a multi-frame object is used (a note
says so). :func:`assurexray.imaging.reading.read_image` calls :func:`read_dicom`.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi,
    apply_windowing,
    get_decoder,
    pixel_array,
)
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from assurexray.core.errors import ImageReadError
from assurexray.core.text import first_line
from assurexray.imaging.header import check_size
from assurexray.imaging.radiograph import Radiograph, to_unit

_NATIVE_SYNTAX: dict[tuple[bool | None, bool | None], UID] = {
    (True, True): ImplicitVRLittleEndian,
    (False, True): ExplicitVRLittleEndian,
}
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def read_dicom(path: Path, max_pixels: int) -> Radiograph:
    """Read the first frame of a DICOM file as a float32 [0, 1] grey Radiograph."""
    ds = _load_dicom(path)
    try:  # pydicom converts element values lazily, so a bad value surfaces here
        rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
        if rows <= 0 or cols <= 0:
            raise ImageReadError(f"{path}: invalid DICOM: Rows/Columns missing or zero")
        check_size(path, rows, cols, max_pixels)
        notes: list[str] = []
        frames = int(ds.get("NumberOfFrames") or 1)
        if frames > 1:
            notes.append(f"multi-frame DICOM ({frames} frames): only the first frame is used")
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
        bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 8)
        arr = _decode_dicom(path, ds)
        if photometric in ("MONOCHROME1", "MONOCHROME2"):
            pixels = _dicom_gray(path, ds, arr, notes)
            if photometric == "MONOCHROME1":  # low values are bright: invert so bone is bright
                pixels = 1.0 - pixels
        elif photometric == "PALETTE COLOR":
            rgb = apply_color_lut(arr, ds)
            pixels = to_unit(path, rgb.astype(np.float32) @ _LUMA, 0, np.iinfo(rgb.dtype).max)
        elif arr.ndim == 3 and arr.shape[2] == 3:  # RGB; pydicom already turned YBR_* into RGB
            pixels = to_unit(path, arr.astype(np.float32) @ _LUMA, 0, 2**bits - 1)
        else:
            raise ImageReadError(f"{path}: unsupported DICOM photometric {photometric}")
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise ImageReadError(f"{path}: invalid DICOM ({first_line(exc)})") from exc
    return Radiograph(pixels, (rows, cols), path, "DICOM", bits, photometric, tuple(notes))


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
                raise ImageReadError(f"{path}: not a valid DICOM file ({first_line(exc)})") from exc
    except Exception as exc:  # idem: a header that starts well and then breaks
        raise ImageReadError(f"{path}: corrupt DICOM file ({first_line(exc)})") from exc
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
    except (RuntimeError, NotImplementedError) as exc:  # no handler, or the data is corrupt
        try:
            decoder = get_decoder(tsyntax)
        except NotImplementedError:
            hint = "pydicom has no decoder for it"
        else:
            if decoder.is_available:  # a decoder ran and failed: the data, not a missing package
                raise ImageReadError(
                    f"{path}: corrupt {tsyntax.name} pixel data ({_plugin_error(exc)})"
                ) from exc
            hint = "install one of: " + "; ".join(decoder.missing_dependencies)
        raise ImageReadError(
            f"{path}: DICOM transfer syntax {tsyntax.name} cannot be decoded ({hint})"
        ) from exc
    except (ValueError, AttributeError, KeyError, TypeError, EOFError) as exc:
        raise ImageReadError(
            f"{path}: invalid or truncated DICOM pixel data ({first_line(exc)})"
        ) from exc


def _plugin_error(exc: BaseException) -> str:
    """The decoders' own reasons from pydicom's "exceptions were raised by all plugins"."""
    lines = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
    return " ".join(lines) or first_line(exc)


def _dicom_gray(path: Path, ds: pydicom.Dataset, arr: np.ndarray, notes: list[str]) -> np.ndarray:
    """Modality LUT, then VOI LUT (preferred, as apply_voi_lut does) or window, to [0, 1]."""
    for key in ("RescaleSlope", "RescaleIntercept"):
        value = ds.get(key)
        if value is not None and not math.isfinite(float(value)):
            raise ImageReadError(f"{path}: invalid DICOM: {key} {value} is not a finite number")
    with np.errstate(all="ignore"):  # an overflowing rescale is reported below, not warned
        values = apply_modality_lut(arr, ds)
    try:
        seq = ds.get("VOILUTSequence")
        if seq and "LUTDescriptor" in seq[0] and "LUTData" in seq[0]:
            entries, first = seq[0].LUTDescriptor[0] or 2**16, seq[0].LUTDescriptor[1]
            lut = apply_voi(np.arange(first, first + entries), ds)  # the whole table
            # Clip first: pydicom 3.0 wraps indices past 255 for an 8-bit table.
            index = np.clip(np.rint(values), first, first + entries - 1).astype(np.int32)
            mapped = apply_voi(index, ds)
            return to_unit(path, mapped, float(lut.min()), float(lut.max()), notes)
        if ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
            lo, hi = apply_windowing(np.array([-np.inf, np.inf]), ds)  # output range
            with np.errstate(all="ignore"):
                windowed = apply_windowing(values, ds)
            return to_unit(path, windowed, lo, hi, notes)
    except (ValueError, TypeError, IndexError, NotImplementedError) as exc:
        notes.append(f"VOI LUT/window not usable ({first_line(exc)}): min-max scaled instead")
    return to_unit(path, values, notes=notes)


from assurexray.core.deprecation import renamed_names  # noqa: E402

# Moved to imaging.header; kept for one minor release.
__getattr__ = renamed_names(
    __name__,
    {
        "dicom_size": "assurexray.imaging.header:dicom_size",
    },
)
