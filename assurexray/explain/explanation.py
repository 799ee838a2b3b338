"""What explaining a batch returns (:class:`Explanation`), and mapping its maps back to
each image's original frame (:func:`heatmaps_to_original`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assurexray.core.errors import ExplainError


@dataclass(frozen=True)
class Explanation:
    """Heatmaps of a batch and the prediction of the same forward pass.

    Attributes:
        heatmaps: ``N×H×W`` float32 in [0, 1] at the network input size, for
            the explained class of each image; never NaN.
        logits: ``N×C`` float32.
        probabilities: ``N×C`` float32 softmax of the logits.
        predicted: ``N`` predicted class indices.
        targets: ``N`` explained class indices.
        empty: ``N`` booleans, True where the heatmap is all zero (no positive
            evidence for the class at the target layer).
        method: Canonical method name, e.g. ``gradcam``.
        target_layers: Names of the layers the maps come from.
        used_fast_path: The maps came from the forward-only path.
        class_names: Names of the classes, if known.
    """

    heatmaps: np.ndarray
    logits: np.ndarray
    probabilities: np.ndarray
    predicted: np.ndarray
    targets: np.ndarray
    empty: np.ndarray
    method: str
    target_layers: tuple[str, ...]
    used_fast_path: bool
    class_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.heatmaps)


def heatmaps_to_original(
    heatmaps: np.ndarray | Sequence[np.ndarray], geometries: Sequence
) -> list[np.ndarray]:
    """Map network-size heatmaps back to each image's original frame.

    Args:
        heatmaps: ``N×S×S`` maps (or a list of ``S×S`` maps).
        geometries: One :class:`assurexray.imaging.preprocess.Geometry` per map.

    Returns:
        One float32 ``H×W`` map in [0, 1] per image.
    """
    if len(heatmaps) != len(geometries):
        raise ExplainError(f"{len(heatmaps)} heatmaps but {len(geometries)} geometries")
    return [
        geometry.heatmap_to_original(np.asarray(h))
        for h, geometry in zip(heatmaps, geometries, strict=True)
    ]
