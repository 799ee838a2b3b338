"""What a LabelMe file holds once parsed: its :class:`Shape` records and the :class:`Annotation`.

Parsing and validation are :mod:`assurexray.annotations.labelme`; masks are
:mod:`assurexray.annotations.masks`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from assurexray.core.errors import AnnotationError

_ASPECT_TOLERANCE = 0.01


@dataclass(frozen=True, eq=False)
class Shape:
    """One LabelMe shape.

    Attributes:
        label: The label as written in the file.
        shape_type: One of the keys of ``_POINT_COUNTS`` (``polygon``, ``rectangle``, ...).
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
        skipped_types: Shape types that were skipped as unknown, in file order.
    """

    path: Path
    image_height: int
    image_width: int
    shapes: tuple[Shape, ...]
    warnings: tuple[str, ...] = ()
    skipped_types: tuple[str, ...] = ()

    @property
    def labels(self) -> list[str]:
        """Distinct labels in order of first appearance."""
        return list(dict.fromkeys(shape.label for shape in self.shapes))

    def resized(self, size: tuple[int, int]) -> Annotation:
        """Return the annotation scaled to an image of ``size = (height, width)``.

        Points are scaled per axis and a warning is appended; the same
        annotation is returned if the size already matches.

        Raises:
            AnnotationError: If the aspect ratios differ by more than 1 %.
        """
        height, width = (int(v) for v in size)
        if height <= 0 or width <= 0:
            raise ValueError(f"image size must be positive, got {height}x{width}")
        if (height, width) == (self.image_height, self.image_width):
            return self
        declared = f"{self.image_height}x{self.image_width}"
        ratio = (width * self.image_height) / (height * self.image_width)
        if abs(ratio - 1) > _ASPECT_TOLERANCE:
            raise AnnotationError(
                f"{self.path}: declared size {declared} does not fit image size "
                f"{height}x{width} (different aspect ratio)"
            )
        scale = np.array([width / self.image_width, height / self.image_height])
        shapes = tuple(replace(s, points=read_only(s.points * scale)) for s in self.shapes)
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


def read_only(array: np.ndarray) -> np.ndarray:
    """The array, made read-only (shapes are shared between callers)."""
    array.setflags(write=False)
    return array
