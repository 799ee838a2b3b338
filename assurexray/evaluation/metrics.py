"""Scores: heatmap localisation against a mask, and classification metrics.

Localisation scores compare a heatmap (float, H×W, non-negative, normally in
[0, 1]) with a boolean mask of the same shape, both in the original image frame.
Edge cases:

* empty mask and empty prediction: IoU is NaN (undefined; use ``np.nanmean``);
  an empty mask with a non-empty prediction gives IoU 0.0;
* flat heatmap (constant, e.g. all zero): Otsu IoU and the pointing game treat
  it as pointing nowhere (IoU 0.0 or NaN, hit ``False``); relevance mass of an
  all-zero heatmap is 0.0;
* ties for the maximum: the pointing game counts a hit if any maximum lies in
  the mask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np


class ShapeMismatchError(ValueError):
    """The heatmap and the mask do not have the same height and width."""


def iou(heatmap: np.ndarray, mask: np.ndarray, threshold: float = 0.5) -> float:
    """Intersection over union of ``heatmap >= threshold`` and ``mask``."""
    heatmap, mask = _check(heatmap, mask)
    return _iou(heatmap >= threshold, mask)


def otsu_mask(heatmap: np.ndarray) -> np.ndarray:
    """Region of a heatmap above its Otsu threshold (the CheXlocalize method).

    The heatmap is min–max normalised to [0, 1], quantised to 8 bits, and the
    pixels strictly above the Otsu threshold are kept. A flat heatmap gives an
    empty region.
    """
    heatmap = np.asarray(heatmap, dtype=np.float64)
    low, high = heatmap.min(), heatmap.max()
    if high == low:
        return np.zeros(heatmap.shape, bool)
    scaled = np.floor((heatmap - low) / (high - low) * 255 + 0.5).astype(np.uint8)
    threshold, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return scaled > threshold


def otsu_iou(heatmap: np.ndarray, mask: np.ndarray) -> float:
    """IoU of the heatmap's Otsu region (see :func:`otsu_mask`) and ``mask``."""
    heatmap, mask = _check(heatmap, mask)
    return _iou(otsu_mask(heatmap), mask)


def pointing_game(heatmap: np.ndarray, mask: np.ndarray) -> bool:
    """Whether the heatmap's maximum lies in the mask (any of tied maxima counts).

    A flat heatmap points nowhere and never hits.
    """
    heatmap, mask = _check(heatmap, mask)
    peak = heatmap.max()
    return bool(peak != heatmap.min() and mask[heatmap == peak].any())


def relevance_mass(heatmap: np.ndarray, mask: np.ndarray) -> float:
    """Share of the heatmap's total inside the mask; 0.0 for an all-zero heatmap."""
    heatmap, mask = _check(heatmap, mask)
    total = heatmap.sum()
    return float(heatmap[mask].sum() / total) if total else 0.0


def mask_fraction(mask: np.ndarray) -> float:
    """Share of the image covered by the mask: the chance level of hit rate and relevance mass."""
    mask = np.asarray(mask, dtype=bool)
    return float(mask.mean()) if mask.size else 0.0


def localisation_scores(
    heatmap: np.ndarray, mask: np.ndarray, thresholds: Sequence[float] = (0.5,)
) -> dict[str, Any]:
    """Every localisation score of one heatmap against one mask.

    Returns:
        ``{"iou": {"0.5": float, ...}, "otsu_iou": float, "hit": bool,
        "relevance_mass": float, "mask_fraction": float, "empty_mask": bool,
        "flat_heatmap": bool}``; threshold keys are formatted with ``{:g}``.

    Raises:
        ShapeMismatchError: If heatmap and mask differ in shape.
    """
    heatmap, mask = _check(heatmap, mask)
    return {
        "iou": {f"{t:g}": iou(heatmap, mask, t) for t in thresholds},
        "otsu_iou": otsu_iou(heatmap, mask),
        "hit": pointing_game(heatmap, mask),
        "relevance_mass": relevance_mass(heatmap, mask),
        "mask_fraction": mask_fraction(mask),
        "empty_mask": not mask.any(),
        "flat_heatmap": bool(heatmap.max() == heatmap.min()),
    }


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/ROC AUC, macro means, confusion matrix.

    Computed by scikit-learn. Undefined precision, recall or F1 (no predictions
    or no samples of a class) are 0.0 (``zero_division=0``). ROC AUC is
    one-vs-rest from the class's probability column; it is ``None`` for a class
    without positives or without negatives, and the macro mean is over the
    defined classes (``None`` if there are none).

    Args:
        y_true: True class indices, length N.
        y_pred: Predicted class indices, length N.
        probabilities: N×C class probabilities (or any scores).
        class_names: C class names, in index order.

    Returns:
        ``{"num_images", "class_names", "accuracy", "macro_f1", "macro_roc_auc",
        "per_class": {name: {"precision", "recall", "f1", "support", "roc_auc"}},
        "confusion_matrix"}``, the matrix as nested lists, rows true and columns
        predicted.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    names = list(class_names)
    truth, predicted, scores = _check_classification(y_true, y_pred, probabilities, names)
    labels = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    aucs = [_roc_auc(truth == c, scores[:, c]) for c in labels]
    defined = [auc for auc in aucs if auc is not None]
    per_class = {
        name: {
            "precision": float(precision[c]),
            "recall": float(recall[c]),
            "f1": float(f1[c]),
            "support": int(support[c]),
            "roc_auc": aucs[c],
        }
        for c, name in enumerate(names)
    }
    return {
        "num_images": len(truth),
        "class_names": names,
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(np.mean(f1)),
        "macro_roc_auc": float(np.mean(defined)) if defined else None,
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(truth, predicted, labels=labels).tolist(),
    }


def _check(heatmap: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return heatmap (float64) and mask (bool) after checking shapes and values."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if heatmap.ndim != 2 or heatmap.size == 0:
        raise ValueError(f"heatmap must be a non-empty H×W array, got shape {heatmap.shape}")
    if heatmap.shape != mask.shape:
        raise ShapeMismatchError(
            f"heatmap shape {heatmap.shape} differs from mask shape {mask.shape}; "
            "bring the heatmap to the original image frame first"
        )
    if not np.isfinite(heatmap).all():
        raise ValueError("heatmap contains NaN or infinite values")
    return heatmap, mask


def _iou(prediction: np.ndarray, mask: np.ndarray) -> float:
    union = np.logical_or(prediction, mask).sum()
    return float(np.logical_and(prediction, mask).sum() / union) if union else float("nan")


def _roc_auc(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Binary ROC AUC by scikit-learn; ``None`` without positives or without negatives."""
    from sklearn.metrics import roc_auc_score

    if positive.all() or not positive.any():
        return None
    return float(roc_auc_score(positive, scores))


def _check_classification(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    names: list[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the inputs of :func:`classification_metrics` and return arrays."""
    truth, predicted = np.asarray(y_true), np.asarray(y_pred)
    scores = np.asarray(probabilities, dtype=np.float64)
    n_classes = len(names)
    if len(set(names)) != n_classes or n_classes < 2:
        raise ValueError(f"class names must be at least two distinct names, got {names}")
    if truth.ndim != 1 or truth.size == 0 or truth.shape != predicted.shape:
        raise ValueError("y_true and y_pred must be non-empty 1-D sequences of equal length")
    if scores.shape != (truth.size, n_classes):
        raise ValueError(
            f"probabilities must have shape ({truth.size}, {n_classes}), got {scores.shape}"
        )
    for name, labels in (("y_true", truth), ("y_pred", predicted)):
        if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= n_classes:
            raise ValueError(f"{name} must hold class indices 0..{n_classes - 1}")
    return truth.astype(np.int64), predicted.astype(np.int64), scores


def majority_accuracy(metrics: Mapping[str, Any]) -> float | None:
    """Accuracy of always answering the commonest class (``metrics`` as from
    :func:`classification_metrics`); None for an empty split."""
    supports = [row["support"] for row in metrics["per_class"].values()]
    return max(supports) / sum(supports) if sum(supports) else None
