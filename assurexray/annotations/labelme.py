"""LabelMe annotations: parse and validate a JSON file into shapes; find the file.

The parsed records are :mod:`assurexray.annotations.records`; masks are drawn by
:mod:`assurexray.annotations.masks`, exactly as labelme's own converter draws them.
A file that cannot be trusted (malformed JSON, nesting too deep, absurd numbers, a
declared size or mask patch beyond the pixel limit) raises :class:`AnnotationError`
naming the file, so a caller can skip that one image.

``imagePath`` and ``imageData`` are never read: images and annotations are
matched by file stem (:func:`find_annotation`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from assurexray.annotations.records import Annotation, Shape, read_only
from assurexray.annotations.shapes import COORD_LIMIT, decode_patch
from assurexray.core.errors import AnnotationError, refuse_special
from assurexray.core.text import first_line
from assurexray.imaging.reading import DEFAULT_MAX_PIXELS

__all__ = ["Annotation", "Shape", "annotation_files", "find_annotation", "load_labelme"]

# Number of points each shape type accepts: (minimum, maximum or None for no limit).
# A rectangle with more than two points (some converters store four corners) is
# drawn as their bounding box.
_POINT_COUNTS: dict[str, tuple[int, int | None]] = {
    "polygon": (3, None),
    "rectangle": (2, None),
    "oriented_rectangle": (4, 4),
    "circle": (2, 2),
    "point": (1, 1),
    "line": (2, 2),
    "linestrip": (2, None),
    "mask": (2, 2),
}


def load_labelme(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Annotation:
    """Read and validate a LabelMe JSON file.

    Shapes of an unknown type are skipped with a note in ``Annotation.warnings``.

    Args:
        path: The JSON file.
        max_pixels: Largest declared image size (height × width) and largest
            total size of the ``mask`` patches accepted, as for images.

    Raises:
        AnnotationError: If the file is unreadable or malformed, or exceeds
            ``max_pixels``; the message names the file and, for a bad shape,
            its index.
    """
    path = Path(path)
    data = _read_json(path)
    height = _positive_int(data, "imageHeight", path)
    width = _positive_int(data, "imageWidth", path)
    if height * width > max_pixels:
        raise AnnotationError(
            f"{path}: declared image size {_short(height)}x{_short(width)} exceeds the limit "
            f"of {max_pixels:,} pixels"
        )
    raw_shapes = data.get("shapes")
    if not isinstance(raw_shapes, list):
        raise AnnotationError(f"{path}: missing 'shapes' list")
    shapes: list[Shape] = []
    notes, skipped = [], []
    budget = [max_pixels]  # pixels left for mask patches
    for index, raw in enumerate(raw_shapes):
        where = f"{path}: shape {index}"
        if not isinstance(raw, dict):
            raise AnnotationError(f"{where}: not a JSON object")
        shape_type = raw.get("shape_type") or "polygon"  # LabelMe's default
        if not isinstance(shape_type, str) or shape_type not in _POINT_COUNTS:
            notes.append(f"{where}: unknown shape type {shape_type!r} skipped")
            skipped.append(repr(shape_type))
            continue
        shapes.append(_parse_shape(raw, shape_type, where, (height, width), budget))
    return Annotation(path, height, width, tuple(shapes), tuple(notes), tuple(skipped))


def find_annotation(annotation_dir: str | Path, image_stem: str) -> Path | None:
    """Return ``<annotation_dir>/<image_stem>.json`` (suffix in any case), or ``None``.

    Raises:
        AnnotationError: If ``annotation_dir`` is not a folder.
    """
    folder = Path(annotation_dir)
    if not folder.is_dir():
        raise AnnotationError(f"{folder}: annotation folder not found")
    if not image_stem or Path(image_stem).name != image_stem:
        raise ValueError(f"image stem must be a plain file name, got {image_stem!r}")
    return annotation_files(folder).get(image_stem)


def annotation_files(folder: Path) -> dict[str, Path]:
    """Every ``<stem>.json`` file in ``folder`` (suffix in any case), by stem.

    Of two files that differ only in the suffix's case, the first in name order wins.
    """
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        # Not only regular files: a FIFO or a broken link is found, then refused with a reason.
        if path.suffix.lower() == ".json" and not path.is_dir():
            found.setdefault(path.stem, path)
    return found


def _read_json(path: Path) -> dict[str, Any]:
    """Load the top-level JSON object of ``path``."""
    refuse_special(path, AnnotationError)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno})") from exc
    except RecursionError as exc:
        raise AnnotationError(f"{path}: invalid JSON (nested too deeply)") from exc
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise AnnotationError(f"{path}: invalid JSON ({first_line(exc)})") from exc
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: top level must be a JSON object")
    return data


def _positive_int(data: dict[str, Any], key: str, path: Path) -> int:
    """Return ``data[key]`` as a positive integer."""
    if key not in data:
        raise AnnotationError(f"{path}: missing '{key}'")
    value = data[key]
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not integral or value <= 0:
        raise AnnotationError(f"{path}: '{key}' must be a positive integer, got {_short(value)}")
    return int(value)


def _short(value: Any) -> str:
    """``repr`` of a value, cut to one short line."""
    text = repr(value) if not isinstance(value, int) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_shape(
    raw: dict[str, Any], shape_type: str, where: str, size: tuple[int, int], budget: list[int]
) -> Shape:
    """Validate one shape of a known type; ``budget[0]`` holds the patch pixels left."""
    raw_points = raw.get("points")
    if not isinstance(raw_points, list) or not all(
        isinstance(p, list) and len(p) == 2 for p in raw_points
    ):
        raise AnnotationError(f"{where}: 'points' must be a list of [x, y] pairs")
    if not all(_is_number(v) for p in raw_points for v in p):
        raise AnnotationError(f"{where}: 'points' must contain only numbers")
    try:
        points = np.array(raw_points, dtype=float).reshape(-1, 2)
    except OverflowError:
        points = np.array([[np.inf, np.inf]])
    if not np.isfinite(points).all():
        raise AnnotationError(f"{where}: 'points' must be finite numbers")
    if np.abs(points).max(initial=0) > COORD_LIMIT:
        raise AnnotationError(
            f"{where}: a coordinate lies beyond ±{COORD_LIMIT} pixels (absurdly far outside)"
        )
    low, high = _POINT_COUNTS[shape_type]
    if len(points) < low or (high is not None and len(points) > high):
        expected = str(low) if low == high else f"at least {low}"
        raise AnnotationError(f"{where}: {shape_type} needs {expected} points, got {len(points)}")
    patch = None
    if shape_type == "mask":
        if not isinstance(raw.get("mask"), str):
            raise AnnotationError(f"{where}: mask shape needs a base64 PNG in 'mask'")
        try:
            patch = read_only(decode_patch(raw["mask"], size, budget[0]))
        except ValueError as exc:
            raise AnnotationError(f"{where}: {exc}") from exc
        budget[0] -= patch.size
    return Shape(str(raw.get("label", "")), shape_type, read_only(points), patch)
