"""What an image file's header says, before any pixel is decoded.

The format its first bytes announce, the size of its frame (after EXIF
orientation), the pixel limit, and how far a JPEG may be scaled down while
decoding (:func:`reduction_factor`), hence how many pixels a read will hold
(:func:`decoded_pixels`). :func:`assurexray.imaging.reading.read_image` decodes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import ExifTags, Image

from assurexray.core.errors import ImageReadError, refuse_special

PIL_FORMATS = ("JPEG", "PNG", "TIFF", "BMP")  # Pillow opens a multi-picture JPEG as "MPO"
DICOM_EXTENSIONS = frozenset({".dcm", ".dicom"})
_MAGIC = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n": "PNG",
    b"II*\0": "TIFF",
    b"MM\0*": "TIFF",
    b"BM": "BMP",
}
_TRANSPOSED = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height


def sniff(path: Path) -> str | None:
    """Return the format the first bytes announce ("DICM" at byte 128 for DICOM), or None."""
    with path.open("rb") as fh:
        head = fh.read(132)
    if head[128:] == b"DICM":
        return "DICOM"
    return next((fmt for magic, fmt in _MAGIC.items() if head.startswith(magic)), None)


def is_dicom(path: Path, kind: str | None) -> bool:
    """True for a file sniffed as DICOM (``kind``) or named like one."""
    return kind == "DICOM" or path.suffix.lower() in DICOM_EXTENSIONS


def check_size(path: Path, height: int, width: int, max_pixels: int) -> None:
    """Raise :class:`ImageReadError` when ``height × width`` exceeds ``max_pixels``."""
    if height * width > max_pixels:
        raise ImageReadError(
            f"{path}: image too large ({width}x{height} = {height * width:,} pixels, "
            f"limit {max_pixels:,})"
        )


def oriented_size(img: Image.Image) -> tuple[int, int]:
    """(height, width) of the image as shown, after its EXIF orientation."""
    orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
    return (img.width, img.height) if orientation in _TRANSPOSED else (img.height, img.width)


def reduction_factor(size: tuple[int, int], reduce_to: tuple[int, int] | None) -> int:
    """The JPEG scale-down (8, 4, 2 or 1) that ``read_image`` uses for ``size``.

    The largest factor whose decoded image, ``ceil(side / factor)`` pixels a
    side, keeps its longest side at least ``reduce_to[0]`` and its shortest at
    least ``reduce_to[1]``.
    """
    if reduce_to is None:
        return 1
    need_long, need_short = reduce_to
    for factor in (8, 4, 2):
        sides = [-(-side // factor) for side in size]
        if max(sides) >= need_long and min(sides) >= max(need_short, 8):
            return factor
    return 1


def decoded_pixels(path: str | Path, reduce_to: tuple[int, int] | None = None) -> int:
    """How many pixels ``read_image`` will decode, from the header alone (0 if unknown).

    Cheap (no pixel is decoded): callers use it to bound the memory of many
    reads at once. A file whose header cannot be read counts 0; reading it
    then fails with the real reason.
    """
    path = Path(path)
    try:
        refuse_special(path, ImageReadError)  # never open a FIFO: read_image says why
        if is_dicom(path, sniff(path)):
            height, width = dicom_size(path)
            return height * width
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path, formats=PIL_FORMATS) as img:
                height, width = img.height, img.width
                jpeg = img.format in ("JPEG", "MPO")
    except Exception:  # any unreadable header: read_image reports it properly
        return 0
    factor = reduction_factor((height, width), reduce_to) if jpeg else 1
    return -(-height // factor) * -(-width // factor)


def dicom_size(path: Path) -> tuple[int, int]:
    """``(Rows, Columns)`` from the header, without reading the pixel data."""
    import pydicom  # imported only when a DICOM is met

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    return int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
