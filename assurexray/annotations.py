"""LabelMe annotations: parse a JSON file into shapes and draw a boolean mask.

Pixel convention: a LabelMe point ``(x, y)`` names the pixel in column ``x`` and
row ``y``, rounded to the nearest pixel (halves up). Shapes are drawn with their
boundary included, as LabelMe's own converter does: a rectangle from (2, 3) to
(5, 7) covers columns 2..5 and rows 3..7, a polygon includes its vertices and
edges, a circle or point disc includes every pixel whose centre is within the
radius. Parts of shapes outside the image are clipped.

``imagePath`` and ``imageData`` are never read: images and annotations are
matched by file stem (:func:`find_annotation`).
"""

from __future__ import annotations

import base64
import binascii
import glob
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from warnings import warn

import cv2
import numpy as np

from assurexray.errors import AnnotationError

MODES = ("btxrd", "boxes", "all")
# Number of points each shape type accepts: (minimum, maximum or None for no limit).
# A rectangle with more than two points (some converters store four corners) is
# drawn as their bounding box.
_POINT_COUNTS: dict[str, tuple[int, int | None]] = {
    "polygon": (3, None),
    "rectangle": (2, None),
    "circle": (2, 2),
    "point": (1, 1),
    "line": (2, 2),
    "linestrip": (2, None),
    "mask": (2, 2),
}
_ASPECT_TOLERANCE = 0.01
_COORD_LIMIT = 2**20  # keeps absurd coordinates from overflowing int32 when drawing


class AnnotationWarning(UserWarning):
    """An annotation was usable but had to be adjusted (for example rescaled)."""


@dataclass(frozen=True, eq=False)
class Shape:
    """One LabelMe shape.

    Attributes:
        label: The label as written in the file.
        shape_type: ``polygon``, ``rectangle``, ``circle``, ``point``, ``line``,
            ``linestrip`` or ``mask``.
        points: N×2 float array of ``(x, y)`` pixel coordinates (read-only).
        mask: Boolean patch of a ``mask`` shape, drawn in the box given by its
            two points; ``None`` for other shape types.
    """

    label: str
    shape_type: str
    points: np.ndarray
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class Annotation:
    """A parsed LabelMe file.

    Attributes:
        path: The JSON file.
        image_height: Declared (or, after :meth:`resized`, actual) image height.
        image_width: Declared (or, after :meth:`resized`, actual) image width.
        shapes: The usable shapes, in file order.
        warnings: One-line notes about skipped shapes and rescaling.
    """

    path: Path
    image_height: int
    image_width: int
    shapes: tuple[Shape, ...]
    warnings: tuple[str, ...] = ()

    @property
    def labels(self) -> list[str]:
        """Distinct labels in order of first appearance."""
        return list(dict.fromkeys(shape.label for shape in self.shapes))

    def resized(self, size: tuple[int, int]) -> Annotation:
        """Return the annotation scaled to an image of ``size = (height, width)``.

        Points are scaled by ``width / image_width`` and ``height / image_height``
        and a warning is appended. The same annotation is returned if the size
        already matches.

        Raises:
            AnnotationError: If the aspect ratios differ by more than 1 %.
        """
        height, width = (int(v) for v in size)
        if height <= 0 or width <= 0:
            raise ValueError(f"image size must be positive, got {height}x{width}")
        if (height, width) == (self.image_height, self.image_width):
            return self
        declared = f"{self.image_height}x{self.image_width}"
        ratio = (width / height) / (self.image_width / self.image_height)
        if abs(ratio - 1) > _ASPECT_TOLERANCE:
            raise AnnotationError(
                f"{self.path}: declared size {declared} does not fit image size "
                f"{height}x{width} (different aspect ratio)"
            )
        scale = np.array([width / self.image_width, height / self.image_height])
        shapes = tuple(replace(s, points=_read_only(s.points * scale)) for s in self.shapes)
        note = (
            f"{self.path}: declared size {declared} differs from image size "
            f"{height}x{width}; shapes rescaled"
        )
        return replace(
            self,
            image_height=height,
            image_width=width,
            shapes=shapes,
            warnings=(*self.warnings, note),
        )


def load_labelme(path: str | Path) -> Annotation:
    """Read and validate a LabelMe JSON file.

    Shapes of an unknown type are skipped with a note in ``Annotation.warnings``.

    Raises:
        AnnotationError: If the file is unreadable or malformed; the message
            names the file and, for a bad shape, its index.
    """
    path = Path(path)
    data = _read_json(path)
    height = _positive_int(data, "imageHeight", path)
    width = _positive_int(data, "imageWidth", path)
    raw_shapes = data.get("shapes")
    if not isinstance(raw_shapes, list):
        raise AnnotationError(f"{path}: missing 'shapes' list")
    shapes, notes = [], []
    for index, raw in enumerate(raw_shapes):
        where = f"{path}: shape {index}"
        if not isinstance(raw, dict):
            raise AnnotationError(f"{where}: not a JSON object")
        shape_type = raw.get("shape_type") or "polygon"  # LabelMe's default
        if not isinstance(shape_type, str) or shape_type not in _POINT_COUNTS:
            notes.append(f"{where}: unknown shape type {shape_type!r} skipped")
            continue
        shapes.append(_parse_shape(raw, shape_type, where))
    return Annotation(path, height, width, tuple(shapes), tuple(notes))


def annotation_mask(
    annotation: Annotation,
    size: tuple[int, int] | None = None,
    *,
    labels: Iterable[str] | None = None,
    mode: str = "btxrd",
    line_width: int = 9,
    point_radius: int = 5,
) -> np.ndarray:
    """Draw the annotation as a boolean mask.

    Args:
        annotation: A loaded annotation.
        size: ``(height, width)`` of the real image; ``None`` uses the declared
            size. A different size rescales the shapes (see
            :meth:`Annotation.resized`) and emits an :class:`AnnotationWarning`.
        labels: Labels to keep, compared case-insensitively; ``None`` keeps all.
        mode: ``btxrd`` (polygons, rectangles only when no polygon is left after
            label filtering, every other shape type too), ``boxes`` (rectangles
            only) or ``all`` (every shape).
        line_width: Width in pixels of ``line``/``linestrip`` shapes, rounded
            down to an odd number.
        point_radius: Radius in pixels of the disc drawn for a ``point``.

    Returns:
        A boolean array of shape ``(height, width)``.

    Raises:
        AnnotationError: If ``size`` has a different aspect ratio.
    """
    if mode not in MODES:
        raise ValueError(f"unknown annotation mode {mode!r}; choose one of {', '.join(MODES)}")
    if line_width < 1 or point_radius < 0:
        raise ValueError("line_width must be at least 1 and point_radius non-negative")
    if size is not None and tuple(size) != (annotation.image_height, annotation.image_width):
        annotation = annotation.resized(size)
        warn(annotation.warnings[-1], AnnotationWarning, stacklevel=2)
    canvas = np.zeros((annotation.image_height, annotation.image_width), np.uint8)
    for shape in _select(annotation.shapes, labels, mode):
        _draw(canvas, shape, line_width, point_radius)
    return canvas.astype(bool)


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
    matches = folder.glob(f"{glob.escape(image_stem)}.[jJ][sS][oO][nN]")
    return min((p for p in matches if p.is_file()), default=None)


def _read_json(path: Path) -> dict[str, Any]:
    """Load the top-level JSON object of ``path``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno})") from exc
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
        raise AnnotationError(f"{path}: '{key}' must be a positive integer, got {value!r}")
    return int(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_shape(raw: dict[str, Any], shape_type: str, where: str) -> Shape:
    """Validate one shape of a known type."""
    raw_points = raw.get("points")
    if not isinstance(raw_points, list) or not all(
        isinstance(p, list) and len(p) == 2 for p in raw_points
    ):
        raise AnnotationError(f"{where}: 'points' must be a list of [x, y] pairs")
    if not all(_is_number(v) for p in raw_points for v in p):
        raise AnnotationError(f"{where}: 'points' must contain only numbers")
    points = np.array(raw_points, dtype=float).reshape(-1, 2)
    if not np.isfinite(points).all():
        raise AnnotationError(f"{where}: 'points' must be finite numbers")
    low, high = _POINT_COUNTS[shape_type]
    if len(points) < low or (high is not None and len(points) > high):
        expected = str(low) if low == high else f"at least {low}"
        raise AnnotationError(f"{where}: {shape_type} needs {expected} points, got {len(points)}")
    patch = _decode_patch(raw.get("mask"), where) if shape_type == "mask" else None
    return Shape(str(raw.get("label", "")), shape_type, _read_only(points), patch)


def _decode_patch(encoded: Any, where: str) -> np.ndarray:
    """Decode a LabelMe base64 PNG mask patch into a boolean array."""
    if not isinstance(encoded, str):
        raise AnnotationError(f"{where}: mask shape needs a base64 PNG in 'mask'")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AnnotationError(f"{where}: 'mask' is not valid base64") from exc
    patch = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE) if data else None
    if patch is None:
        raise AnnotationError(f"{where}: 'mask' is not a PNG image")
    return _read_only(patch > 0)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _select(shapes: Iterable[Shape], labels: Iterable[str] | None, mode: str) -> list[Shape]:
    """Apply the label filter and the drawing mode."""
    if isinstance(labels, str):
        labels = [labels]
    wanted = None if labels is None else {label.strip().casefold() for label in labels}
    kept = [s for s in shapes if wanted is None or s.label.strip().casefold() in wanted]
    if mode == "boxes":
        return [s for s in kept if s.shape_type == "rectangle"]
    if mode == "btxrd" and any(s.shape_type == "polygon" for s in kept):
        return [s for s in kept if s.shape_type != "rectangle"]
    return kept


def _draw(canvas: np.ndarray, shape: Shape, line_width: int, point_radius: int) -> None:
    """Draw one shape into a uint8 canvas (1 inside)."""
    pixels = np.clip(np.floor(shape.points + 0.5), -_COORD_LIMIT, _COORD_LIMIT).astype(np.int32)
    kind = shape.shape_type
    if kind == "polygon":
        cv2.fillPoly(canvas, [pixels], 1)
    elif kind == "rectangle":
        cv2.rectangle(canvas, _xy(pixels.min(0)), _xy(pixels.max(0)), 1, thickness=-1)
    elif kind == "mask":
        assert shape.mask is not None  # a mask shape always carries its patch
        _paste(canvas, shape.mask, pixels.min(0), pixels.max(0))
    elif kind in ("circle", "point"):
        radius = point_radius if kind == "point" else np.hypot(*(shape.points[1] - shape.points[0]))
        radius = int(min(np.floor(radius + 0.5), _COORD_LIMIT))
        cv2.circle(canvas, _xy(pixels[0]), radius, 1, thickness=-1)
    else:  # line, linestrip: a one-pixel path widened by a disc
        _draw_path(canvas, pixels, (line_width - 1) // 2)


def _draw_path(canvas: np.ndarray, pixels: np.ndarray, radius: int) -> None:
    """Draw a one-pixel open path dilated by a disc of ``radius``.

    The path is drawn on a canvas padded by ``radius`` so that a line just
    outside the image still widens into it.
    """
    height, width = canvas.shape
    path = np.zeros((height + 2 * radius, width + 2 * radius), np.uint8)
    cv2.polylines(path, [pixels + radius], isClosed=False, color=1, thickness=1)
    if radius:
        path = cv2.dilate(path, _disc(radius))
    canvas |= path[radius : radius + height, radius : radius + width]


def _xy(pixel: np.ndarray) -> tuple[int, int]:
    return int(pixel[0]), int(pixel[1])


def _disc(radius: int) -> np.ndarray:
    """Structuring element of the pixels within ``radius`` of the centre."""
    kernel = np.zeros((2 * radius + 1, 2 * radius + 1), np.uint8)
    return cv2.circle(kernel, (radius, radius), radius, 1, thickness=-1)


def _paste(canvas: np.ndarray, patch: np.ndarray, corner0: np.ndarray, corner1: np.ndarray) -> None:
    """OR a mask patch into the inclusive box ``corner0..corner1``, stretched to fit.

    Only the part of the box inside the canvas is computed, by nearest-neighbour
    indexing into the patch (the same rule as ``cv2.INTER_NEAREST``).
    """
    (x0, y0), (x1, y1) = (int(v) for v in corner0), (int(v) for v in corner1)
    top, left = max(y0, 0), max(x0, 0)
    bottom, right = min(y1 + 1, canvas.shape[0]), min(x1 + 1, canvas.shape[1])
    if top >= bottom or left >= right:
        return
    rows = (np.arange(top, bottom) - y0) * patch.shape[0] // (y1 - y0 + 1)
    cols = (np.arange(left, right) - x0) * patch.shape[1] // (x1 - x0 + 1)
    canvas[top:bottom, left:right] |= patch[np.ix_(rows, cols)].astype(np.uint8)
