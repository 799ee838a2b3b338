"""The attention null: is the mass on the artefacts larger than on the same shapes elsewhere?

``p = (1 + #{null mass >= observed}) / (1 + n)`` over ``n`` null placements of the artefact
shapes (the same shapes moved to random places in the same border band, drawn by
:mod:`assurexray.shortcuts.regions`), given as painted masks or as placed shapes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_TIE_TOLERANCE = 1e-12  # masses are in [0, 1]; "null mass >= observed" allows rounding


def relu_heatmap(heatmap: np.ndarray) -> np.ndarray:
    """The heatmap as float64 with negative values set to 0; refuses non-2-D or non-finite."""
    h = np.asarray(heatmap, dtype=float)
    if h.ndim != 2:
        raise ValueError(f"heatmap must be 2-D, got shape {h.shape}")
    if not np.all(np.isfinite(h)):
        raise ValueError("heatmap has non-finite values")
    return np.maximum(h, 0.0)


def permutation_p_value(
    heatmap: np.ndarray, observed_mass: float | None, null_masks: Sequence[np.ndarray] | np.ndarray
) -> float | None:
    """One-sided permutation p-value: is the mass on the artefacts larger than elsewhere?

    ``p = (1 + #{null mass >= observed}) / (1 + n)``, the +1 counting the observed mask
    itself, so that ``P(p <= u) <= u`` under exchangeability and ``p`` is never 0.

    Args:
        heatmap: the heatmap the observed mass was measured on.
        observed_mass: ``attention_on(heatmap, mask).mass``.
        null_masks: ``n >= 1`` masks of the heatmap's shape (a sequence or an ``(n, h, w)``
            array): the same shapes placed elsewhere in the same border band.

    Returns:
        The p-value, or ``None`` when the mass is undefined (all-zero heatmap).

    Raises:
        ValueError: if there are no null masks or a shape differs.
    """
    h = relu_heatmap(heatmap)
    masks = np.asarray(null_masks)
    if masks.ndim != 3 or masks.shape[0] == 0:
        raise ValueError("null_masks must hold at least one 2-D mask")
    if masks.shape[1:] != h.shape:
        raise ValueError(f"null masks have shape {masks.shape[1:]}, the heatmap {h.shape}")
    total = float(h.sum())
    if observed_mass is None or total <= 0:
        return None
    # One small sum per mask: a full (n, h, w) product would allocate n float frames.
    null_mass = np.array([h[m].sum() for m in masks.astype(bool, copy=False)]) / total
    return _exceedance(observed_mass, null_mass)


def placement_p_value(
    heatmap: np.ndarray,
    observed_mass: float | None,
    draws: Sequence[Sequence[tuple[int, int, np.ndarray]]],
) -> float | None:
    """:func:`permutation_p_value` with each null mask given as its placed shapes
    ``(top, left, crop)`` (:func:`assurexray.shortcuts.regions.random_placements`): the
    shapes of a draw do not overlap, so its mass is the sum of theirs; no frame is painted.

    Raises:
        ValueError: if there are no draws.
    """
    if len(draws) == 0:
        raise ValueError("draws must hold at least one placement")
    h = relu_heatmap(heatmap)
    total = float(h.sum())
    if observed_mass is None or total <= 0:
        return None
    null_mass = np.array(
        [sum(float(h[y : y + c.shape[0], x : x + c.shape[1]][c].sum()) for y, x, c in draw)
         for draw in draws]
    ) / total  # fmt: skip
    return _exceedance(observed_mass, null_mass)


def _exceedance(observed_mass: float, null_mass: np.ndarray) -> float:
    """``(1 + #{null >= observed}) / (1 + n)``, ties within :data:`_TIE_TOLERANCE` counted."""
    exceed = int(np.count_nonzero(null_mass >= observed_mass - _TIE_TOLERANCE))
    return (1 + exceed) / (1 + null_mass.size)
