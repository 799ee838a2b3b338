"""What a stream of images yields: each decoded image, its prediction and heatmap, or
the one line saying why a file could not be used (:mod:`assurexray.engine.streaming`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from assurexray.imaging.preprocess import Geometry
from assurexray.imaging.reading import Radiograph


@dataclass(frozen=True)
class LoadedImage:
    """A decoded radiograph and its network input.

    ``radiograph.data`` is a copy at most ``display_side`` pixels a side (the
    pictures' size; ``radiograph.size`` is the file's), so images waiting in
    the stream hold little memory whatever the files' size.
    """

    path: Path
    radiograph: Radiograph
    tensor: np.ndarray
    geometry: Geometry


@dataclass(frozen=True)
class LoadFailure:
    """A file that could not be used, and why (one line naming the file)."""

    path: Path
    error: str


@dataclass(frozen=True)
class Prediction:
    """The classifier's output for one image."""

    path: Path
    probabilities: np.ndarray
    predicted: int


@dataclass(frozen=True, eq=False)
class ExplainedImage:
    """Prediction plus heatmap; :attr:`heatmap` is in the original image frame."""

    image: LoadedImage
    probabilities: np.ndarray
    predicted: int
    target: int
    network_heatmap: np.ndarray  # S×S, at the network input
    empty: bool

    @cached_property
    def heatmap(self) -> np.ndarray:
        """The heatmap in the original frame, ``radiograph.size`` (made on first use)."""
        return self.image.geometry.heatmap_to_original(self.network_heatmap)

    def heatmap_at(self, size: tuple[int, int]) -> np.ndarray:
        """The heatmap of the whole image at ``size`` (H, W), e.g. a picture's size."""
        return self.image.geometry.heatmap_to_original(self.network_heatmap, size=size)
