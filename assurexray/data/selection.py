"""Choosing examples: TP/FP/FN per class for galleries, and a stratified
choice of annotated images for comparison. Both are deterministic."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

CATEGORIES = ("TP", "FP", "FN")


def select_examples(
    predictions: pd.DataFrame, class_names: Sequence[str], k: int = 3
) -> dict[str, dict[str, pd.DataFrame]]:
    """Pick up to ``k`` true positives, false positives and false negatives per class.

    Args:
        predictions: One row per image with ``image_id``, ``true_label``,
            ``predicted_label`` and a ``p_<Class>`` column per class.
        class_names: The classes, in the model's order.
        k: Examples per category (1–5).

    Returns:
        ``{class: {"TP": rows, "FP": rows, "FN": rows}}``. TP and FP are the
        most confident predictions of the class first; FN are ordered by the
        confidence of the (wrong) predicted class. Ties go to the smaller
        image id. A category may have fewer than ``k`` rows, or none.
    """
    if not 1 <= k <= 5:
        raise ValueError(f"k must be between 1 and 5, got {k}")
    frame = predictions.copy()
    frame["_confidence"] = (
        [row[f"p_{row['predicted_label']}"] for _, row in frame.iterrows()] if len(frame) else []
    )
    chosen: dict[str, dict[str, pd.DataFrame]] = {}
    for name in class_names:
        true_c = frame["true_label"] == name
        pred_c = frame["predicted_label"] == name
        groups = {"TP": true_c & pred_c, "FP": pred_c & ~true_c, "FN": true_c & ~pred_c}
        chosen[name] = {
            category: frame[mask]
            .sort_values(["_confidence", "image_id"], ascending=[False, True], kind="mergesort")
            .head(k)
            .drop(columns="_confidence")
            for category, mask in groups.items()
        }
    return chosen


def stratified_choice(
    frame: pd.DataFrame, by: str, per_group: int | None, *, seed: int = 0
) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Choose up to ``per_group`` rows of each value of column ``by``, at random.

    Args:
        frame: Candidate rows (must have ``image_id``).
        by: Column to stratify on (e.g. ``label``).
        per_group: Rows per group; None takes every row.
        seed: Seed of the random choice.

    Returns:
        The chosen rows (sorted by group, then image id) and, per group, how
        many were ``available`` and ``used``.
    """
    rng = np.random.default_rng(seed)
    parts, counts = [], {}
    for value, group in frame.sort_values("image_id").groupby(by, sort=True):
        if per_group is not None and len(group) > per_group:
            group = group.iloc[np.sort(rng.choice(len(group), per_group, replace=False))]
        parts.append(group)
        counts[str(value)] = {"available": int((frame[by] == value).sum()), "used": len(group)}
    chosen = pd.concat(parts) if parts else frame.iloc[0:0]
    return chosen, counts
