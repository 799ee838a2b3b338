"""PNG files encoded fast (rows filtered with numpy, deflated by ISA-L), and checked whole.

OpenCV's and Pillow's PNG encoders spend nearly all their time in zlib. ISA-L's
deflate (the ``isal`` package) compresses the same filtered rows in a quarter
to a third of the time, to about the same size: for the 1024 px overlays of
12 BTXRD radiographs, 472 against 469 KiB each, and their palette heatmaps in
a third of Pillow's time (``benchmarks/bench_png.py``; README, Performance). The
rest of the format is a few bytes of chunk headers, written here to the PNG
specification; ``tests/test_png.py`` decodes the files with OpenCV and Pillow.

:func:`decode_grey_png` reads grey radiographs through OpenCV, after
:func:`chunk_types` has checked the file's chunks.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
from isal import isal_zlib

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE = {1: 0, 3: 2, 4: 6}  # channels: grey, RGB, RGBA
_PALETTE = 3
_FILTER_UP = 2
_MAX_CHUNK = 1 << 30  # a chunk holds at most 2**31 - 1 bytes


def encode_png(pixels: np.ndarray, *, palette: np.ndarray | None = None, level: int = 1) -> bytes:
    """Encode an 8-bit image as PNG bytes.

    Args:
        pixels: ``H×W`` grey, ``H×W×3`` RGB or ``H×W×4`` RGBA, uint8. With
            ``palette``: ``H×W`` indexes into it.
        palette: ``N×3`` RGB uint8 (N ≤ 256): write a palette PNG.
        level: ISA-L compression level, 0 (fastest) to 3.

    Raises:
        ValueError: not an 8-bit image of one of these shapes, or an empty one.
    """
    image = np.ascontiguousarray(pixels)
    channels = 1 if image.ndim == 2 else image.shape[-1] if image.ndim == 3 else 0
    if image.dtype != np.uint8 or channels not in _COLOUR_TYPE or image.size == 0:
        raise ValueError(f"cannot write a {image.dtype} array of shape {image.shape} as PNG")
    if palette is not None and channels != 1:
        raise ValueError(f"a palette PNG needs H×W indexes, got shape {image.shape}")
    height, width = image.shape[:2]
    colour_type = _COLOUR_TYPE[channels] if palette is None else _PALETTE
    compressed = isal_zlib.compress(_filtered_up(image.reshape(height, -1)), level)
    chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))]
    if palette is not None:
        chunks.append(_chunk(b"PLTE", np.asarray(palette, np.uint8).reshape(-1, 3).tobytes()))
    for start in range(0, len(compressed), _MAX_CHUNK):
        chunks.append(_chunk(b"IDAT", compressed[start : start + _MAX_CHUNK]))
    chunks.append(_chunk(b"IEND", b""))
    return _SIGNATURE + b"".join(chunks)


def _filtered_up(rows: np.ndarray) -> np.ndarray:
    """The rows with PNG's UP filter: each byte minus the one above it, modulo 256.

    UP suits both the overlays and the heatmaps' palette PNGs, whose indexes
    are the map's levels: 63 against 73 KB unfiltered for a smooth 1024 px map.
    """
    out = np.empty((rows.shape[0], rows.shape[1] + 1), np.uint8)
    out[:, 0] = _FILTER_UP  # each row starts with its filter type
    out[0, 1:] = rows[0]  # the row above the first counts as zeros
    np.subtract(rows[1:], rows[:-1], out=out[1:, 1:])  # uint8 wraps around, as PNG wants
    return out


def _chunk(kind: bytes, data: bytes) -> bytes:
    """Length, type, data and the CRC-32 of type and data."""
    crc = isal_zlib.crc32(data, isal_zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def chunk_types(data: bytes | memoryview) -> list[bytes] | None:
    """The types of a PNG's chunks, in order, up to IEND; None unless every chunk
    is whole with a matching CRC. About 5 ms for a 21 MB radiograph of 8 KB chunks."""
    view = memoryview(data).cast("B")
    if bytes(view[: len(_SIGNATURE)]) != _SIGNATURE:
        return None
    kinds, position, size = [], len(_SIGNATURE), len(view)
    while position + 12 <= size:  # length, type, data, CRC
        length, kind = struct.unpack_from(">I4s", view, position)
        end = position + 12 + length
        if end > size:
            return None
        (crc,) = struct.unpack_from(">I", view, end - 4)
        if isal_zlib.crc32(view[position + 4 : end - 4]) != crc:
            return None
        kinds.append(kind)
        if kind == b"IEND":
            return kinds
        position = end
    return None


def decode_grey_png(path: Path, shape: tuple[int, int], depth: int) -> np.ndarray | None:
    """The pixels of a grey PNG of ``shape`` (H, W) and ``depth`` bits, decoded by OpenCV.

    Pillow's PNG decoder holds the GIL for every chunk, OpenCV's never: two
    decoding threads read 16-bit radiographs a fifth faster. None when the
    file is damaged (for Pillow to read it and word the damage: libpng would
    print its own complaint on the terminal), animated, or carries EXIF
    (whose orientation Pillow applies), or is not as expected.
    """
    data = np.fromfile(path, np.uint8)
    kinds = chunk_types(data.data)
    if kinds is None or b"eXIf" in kinds or b"acTL" in kinds:
        return None
    flags = cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_IGNORE_ORIENTATION
    pixels = cv2.imdecode(data, flags)
    if pixels is None or pixels.shape != shape or pixels.itemsize * 8 != depth:
        return None
    return pixels
