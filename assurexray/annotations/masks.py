"""Tumour masks from a parsed LabelMe annotation: which shapes, drawn how, and why empty.

The BTXRD rule (``mode="btxrd"``): the union of polygons, rectangles only when
no polygon is left after the label filter, every other shape type too. Shapes
are drawn exactly as labelme draws them (:mod:`assurexray.annotations.shapes`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from assurexray.annotations.shapes import LINE_WIDTH, POINT_SIZE, draw_shapes
from assurexray.core.errors import AnnotationError

if TYPE_CHECKING:
    from assurexray.annotations.records import Annotation, Shape

MODES = ("btxrd", "boxes", "all")


class AnnotationWarning(UserWarning):
    """An annotation was usable but had to be adjusted (for example rescaled)."""


@dataclass(frozen=True)
class AnnotationMask:
    """A drawn boolean ``H×W`` mask and, if it has no pixel, why (one line).

    ``empty_reason`` is ``None`` for a mask with pixels, else e.g. ``no shapes``,
    ``only unknown shape types ('ellipse')``, ``no shape left after the label
    filter and mode 'boxes'`` or ``shapes cover no pixel of the image``.
    """

    mask: np.ndarray
    empty_reason: str | None = None


def draw_annotation(
    annotation: Annotation,
    size: tuple[int, int] | None = None,
    *,
    labels: Iterable[str] | None = None,
    mode: str = "btxrd",
    line_width: int = LINE_WIDTH,
    point_radius: int = POINT_SIZE,
) -> AnnotationMask:
    """Draw the annotation as a boolean mask and say why it is empty, if it is.

    Args:
        annotation: A loaded annotation.
        size: ``(height, width)`` of the real image; ``None`` uses the declared
            size. A different size rescales the shapes (see
            :meth:`Annotation.resized`) and emits an :class:`AnnotationWarning`.
        labels: Labels to keep, compared case-insensitively; ``None`` keeps all.
        mode: ``btxrd`` (polygons, rectangles only when no polygon is left after
            label filtering, every other shape type too), ``boxes`` (rectangles
            only) or ``all`` (every shape).
        line_width: Width in pixels of ``line``/``linestrip`` shapes (labelme: 10).
        point_radius: Radius in pixels of the disc drawn for a ``point`` (labelme: 5).

    Returns:
        The :class:`AnnotationMask`.

    Raises:
        AnnotationError: If ``size`` has a different aspect ratio, or a shape
            lies absurdly far outside the image after rescaling.
    """
    if mode not in MODES:
        raise ValueError(f"unknown annotation mode {mode!r}; choose one of {', '.join(MODES)}")
    if line_width < 1 or point_radius < 0:
        raise ValueError("line_width must be at least 1 and point_radius non-negative")
    if size is not None and tuple(size) != (annotation.image_height, annotation.image_width):
        annotation = annotation.resized(size)
        warnings.warn(annotation.warnings[-1], AnnotationWarning, stacklevel=2)
    chosen = _select(annotation.shapes, labels, mode)
    try:
        mask = draw_shapes(
            chosen,
            (annotation.image_height, annotation.image_width),
            line_width=line_width,
            point_size=point_radius,
        )
    except ValueError as exc:
        raise AnnotationError(f"{annotation.path}: {exc}") from exc
    return AnnotationMask(mask, None if mask.any() else _empty_reason(annotation, chosen, mode))


def annotation_mask(
    annotation: Annotation, size: tuple[int, int] | None = None, **options: Any
) -> np.ndarray:
    """The boolean mask of :func:`draw_annotation` (same arguments), without the reason."""
    return draw_annotation(annotation, size, **options).mask


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


def _empty_reason(annotation: Annotation, chosen: list[Shape], mode: str) -> str:
    """Why nothing was drawn."""
    if not annotation.shapes and annotation.skipped_types:
        kinds = ", ".join(dict.fromkeys(annotation.skipped_types))
        return f"only unknown shape types ({kinds})"
    if not annotation.shapes:
        return "no shapes"
    if not chosen:
        return f"no shape left after the label filter and mode {mode!r}"
    return "shapes cover no pixel of the image"
