"""Decode and draw LabelMe shapes exactly as labelme does.

labelme's own converters (``labelme.utils.shape_to_mask`` and
``shapes_to_label``) draw every shape with Pillow's ``ImageDraw`` and paste a
``mask`` shape's patch at its integer box. This module makes the same Pillow
calls with the same arguments, so a mask here equals labelme's pixel for pixel
(``tests/test_annotations.py`` checks it against masks made by labelme's code).

Two cases labelme does not handle are defined here: a rectangle given by more
than two corners is drawn as their bounding box, and a mask patch whose size
differs from its box (after rescaling) is stretched to the box by nearest
neighbour. Boxes partly outside the image are clipped.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import warnings
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import PIL.Image
import PIL.ImageDraw

# labelme's defaults in ``shape_to_mask``.
LINE_WIDTH = 10
POINT_SIZE = 5
# Pillow's ellipse fill slows by orders of magnitude beyond about 10**6 pixels
# of radius; coordinates and radii are kept within this bound.
COORD_LIMIT = 2**19


class DrawableShape(Protocol):
    """What drawing needs of a shape (see :class:`assurexray.annotations.labelme.Shape`).

    Read-only properties, so a frozen dataclass such as ``Shape`` matches.
    """

    @property
    def shape_type(self) -> str: ...

    @property
    def points(self) -> np.ndarray: ...

    @property
    def mask(self) -> np.ndarray | None: ...


def draw_shapes(
    shapes: Sequence[DrawableShape],
    size: tuple[int, int],
    *,
    line_width: int = LINE_WIDTH,
    point_size: int = POINT_SIZE,
) -> np.ndarray:
    """Union of the shapes as a boolean ``size = (height, width)`` mask.

    Args:
        shapes: Shapes with points in pixel coordinates of this size.
        size: ``(height, width)`` of the mask.
        line_width: Width of ``line`` and ``linestrip`` shapes (labelme: 10).
        point_size: Radius of the disc drawn for a ``point`` (labelme: 5).

    Raises:
        ValueError: A coordinate or circle radius beyond :data:`COORD_LIMIT`.
    """
    height, width = size
    image = PIL.Image.new("L", (width, height), 0)
    draw = PIL.ImageDraw.Draw(image)
    patches = []
    for shape in shapes:
        if np.abs(shape.points).max(initial=0) > COORD_LIMIT:
            raise ValueError(f"a coordinate lies beyond ±{COORD_LIMIT} pixels")
        if shape.shape_type == "mask":
            patches.append(shape)
        else:
            _draw_one(draw, shape, line_width, point_size)
    canvas = np.array(image, dtype=bool)
    for shape in patches:
        _paste(canvas, shape.mask, shape.points)
    return canvas


def _draw_one(
    draw: PIL.ImageDraw.ImageDraw, shape: DrawableShape, line_width: int, point_size: int
) -> None:
    """One shape, with the Pillow call of ``labelme.utils.shape_to_mask``."""
    xy = [(float(x), float(y)) for x, y in shape.points]
    kind = shape.shape_type
    if kind == "circle":
        (cx, cy), (px, py) = xy
        d = math.sqrt((cx - px) ** 2 + (cy - py) ** 2)
        if d > COORD_LIMIT:
            raise ValueError(f"a circle's radius exceeds {COORD_LIMIT} pixels")
        draw.ellipse(((cx - d, cy - d), (cx + d, cy + d)), outline=1, fill=1)
    elif kind == "rectangle":
        (x0, y0), (x1, y1) = shape.points.min(axis=0), shape.points.max(axis=0)
        draw.rectangle(((float(x0), float(y0)), (float(x1), float(y1))), outline=1, fill=1)
    elif kind in ("line", "linestrip"):
        draw.line(xy=xy, fill=1, width=line_width)
    elif kind == "point":
        cx, cy = xy[0]
        r = point_size
        draw.ellipse(((cx - r, cy - r), (cx + r, cy + r)), outline=1, fill=1)
    elif kind in ("polygon", "oriented_rectangle"):
        draw.polygon(xy=xy, outline=1, fill=1)
    else:
        raise ValueError(f"cannot draw shape type {kind!r}")


def _paste(canvas: np.ndarray, patch: np.ndarray | None, points: np.ndarray) -> None:
    """OR a mask patch into its box, as ``labelme.utils.shapes_to_label`` does.

    labelme takes the box corners as ``points.astype(int)`` (inclusive) and
    pastes the patch unchanged; a patch of another size is stretched to the box
    by nearest neighbour. Only the part of the box inside the canvas is used.
    """
    if patch is None:
        return
    (x0, y0), (x1, y1) = np.asarray(points, dtype=float).astype(int)
    x0, x1 = min(x0, x1), max(x0, x1)
    y0, y1 = min(y0, y1), max(y0, y1)
    top, left = max(y0, 0), max(x0, 0)
    bottom, right = min(y1 + 1, canvas.shape[0]), min(x1 + 1, canvas.shape[1])
    if top >= bottom or left >= right:
        return
    rows = (np.arange(top, bottom) - y0) * patch.shape[0] // (y1 - y0 + 1)
    cols = (np.arange(left, right) - x0) * patch.shape[1] // (x1 - x0 + 1)
    canvas[top:bottom, left:right] |= patch[np.ix_(rows, cols)]


def decode_patch(encoded: str, image_size: tuple[int, int], max_pixels: int) -> np.ndarray:
    """Decode a ``mask`` shape's base64 PNG as labelme does: non-zero is inside.

    The PNG's size is checked before its pixels are decoded: neither side may
    exceed the image's (``image_size = (height, width)``), nor its area
    ``max_pixels``. A colour patch counts a pixel as inside if any channel is
    non-zero.

    Raises:
        ValueError: Not base64, not a PNG, or too large.
    """
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("'mask' is not valid base64") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            image = PIL.Image.open(io.BytesIO(data), formats=["PNG"])
            width, height = image.size
            fits = height <= image_size[0] and width <= image_size[1]
            if fits and width * height <= max_pixels:
                patch = np.array(image)
    except (OSError, ValueError, SyntaxError, PIL.Image.DecompressionBombError) as exc:
        raise ValueError("'mask' is not a PNG image") from exc
    if not fits:
        raise ValueError(f"mask patch of {height}x{width} pixels is larger than its image")
    if width * height > max_pixels:
        raise ValueError(
            f"mask patch of {height}x{width} pixels exceeds the {max_pixels:,} pixels "
            "left under the pixel limit"
        )
    return patch != 0 if patch.ndim == 2 else (patch != 0).any(axis=2)
