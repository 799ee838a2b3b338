"""Is the model worse for some subgroups (center, site, angle, gender, age band)?

:func:`subgroup_table` gives accuracy per subgroup with Wilson intervals, per-class recall
and the majority-class accuracy; :func:`subgroup_gap` tests each subgroup against the rest
(one-sided Fisher exact, Holm-corrected). Outputs are JSON-ready (``to_dict``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from assurexray.evaluation.statistics import wilson_interval

__all__ = [
    "AGE_EDGES",
    "SubgroupGap",
    "SubgroupRow",
    "SubgroupTable",
    "age_band",
    "holm",
    "is_numeric",
    "subgroup_gap",
    "subgroup_table",
    "wilson_interval",
]

#: Upper edges (years) of the age bands: <10, 10-19, 20-39, 40-59, 60+. Bone tumours
#: peak in adolescence, so the young bands are narrower.
AGE_EDGES = (10, 20, 40, 60)


def age_band(age: Any, edges: Sequence[float] = AGE_EDGES) -> str | None:
    """The band of an age in years, e.g. ``"10-19"``, ``"<10"``, ``"60+"``; ``None`` if missing."""
    try:
        a = float(age)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(a):
        return None
    if a < edges[0]:
        return f"<{edges[0]:g}"
    for low, high in zip(edges, edges[1:], strict=False):
        if a < high:
            return f"{low:g}-{high - 1:g}"
    return f"{edges[-1]:g}+"


@dataclass(frozen=True)
class SubgroupRow:
    """Accuracy of one subgroup (or of all images, ``group="all"``)."""

    group: str
    n: int
    n_correct: int
    accuracy: float | None
    accuracy_ci: list[float] | None
    recall: dict[str, float | None]
    majority_class: str | None
    majority_accuracy: float | None
    counts: dict[str, int]


@dataclass(frozen=True)
class SubgroupTable:
    """Per-subgroup rows of :func:`subgroup_table`; ``counts`` rows form group x class."""

    column: str
    rows: list[SubgroupRow]
    overall: SubgroupRow

    def to_dict(self) -> dict[str, Any]:
        """The table as plain JSON-ready types."""
        return asdict(self)


@dataclass(frozen=True)
class SubgroupGap:
    """Outcome of :func:`subgroup_gap`; ``tests`` holds one dict per subgroup."""

    column: str
    omnibus_p: float | None
    tests: list[dict[str, Any]]
    flagged: bool
    flagged_groups: list[str]
    alpha: float
    min_gap: float

    def to_dict(self) -> dict[str, Any]:
        """The decision as plain JSON-ready types."""
        return asdict(self)


def subgroup_table(
    df: pd.DataFrame,
    group_col: str,
    label_col: str,
    pred_col: str,
    class_names: Sequence[str],
    *,
    band: bool | None = None,
    confidence: float = 0.95,
) -> SubgroupTable:
    """Accuracy, per-class recall and class make-up per subgroup.

    ``majority_accuracy`` is the share of the subgroup's most common true class: what a
    model that always predicts it would score; an accuracy near it means little.

    Args:
        df: one row per image.
        group_col: subgroup column (e.g. ``center``, ``gender``, ``age``).
        label_col: true class (name, or index into ``class_names``).
        pred_col: predicted class (same coding).
        class_names: class names in index order.
        band: put the column in age bands (:func:`age_band`); ``None`` bands it when it
            is numeric and named ``age``. Missing values form the group ``"missing"``.
        confidence: level of the Wilson intervals.

    Returns:
        One row per subgroup (sorted by name) and the overall row.
    """
    col = df[group_col]
    if band or (band is None and group_col.lower() == "age" and is_numeric(col)):
        keys = col.map(age_band)
    else:
        keys = col.map(lambda v: None if pd.isna(v) else str(v))
    keys = keys.fillna("missing").astype(str).reset_index(drop=True)
    y = _class_names(df[label_col], class_names)
    p = _class_names(df[pred_col], class_names)
    rows = [
        _row(str(g), y[keys == g], p[keys == g], class_names, confidence)
        for g in sorted(keys.unique())
    ]
    return SubgroupTable(group_col, rows, _row("all", y, p, class_names, confidence))


def subgroup_gap(table: SubgroupTable, alpha: float = 0.05, min_gap: float = 0.05) -> SubgroupGap:
    """Flag subgroups whose accuracy is significantly AND materially below the rest.

    Each subgroup is compared with all other images by a one-sided Fisher exact test on
    the 2 x 2 table (subgroup/rest x correct/wrong); the p-values are Holm-corrected
    (family-wise error at most ``alpha`` over the subgroups). A subgroup is flagged when
    its corrected p < ``alpha`` AND its accuracy is at least ``min_gap`` (default 0.05,
    five points) below the rest's. ``omnibus_p`` is the chi-square test of independence
    of correctness and subgroup, for reference (``None`` when all right or all wrong).
    """
    rows = [r for r in table.rows if r.n > 0]
    total_n = sum(r.n for r in rows)
    total_ok = sum(r.n_correct for r in rows)
    tests: list[dict[str, Any]] = []
    for r in rows:
        rest_n, rest_ok = total_n - r.n, total_ok - r.n_correct
        p = None
        if rest_n > 0:
            two_by_two = [[r.n_correct, r.n - r.n_correct], [rest_ok, rest_n - rest_ok]]
            p = float(stats.fisher_exact(two_by_two, alternative="less").pvalue)
        rest_acc = rest_ok / rest_n if rest_n else None
        gap = None if rest_acc is None else rest_acc - r.n_correct / r.n
        tests.append({"group": r.group, "n": r.n, "accuracy": r.accuracy,
                      "rest_accuracy": rest_acc, "gap": gap, "p_value": p})  # fmt: skip
    for t, adj in zip(tests, holm([t["p_value"] for t in tests]), strict=True):
        t["p_holm"] = adj
        t["flagged"] = bool(adj is not None and adj < alpha and t["gap"] >= min_gap)
    omnibus = None
    if len(rows) > 1 and 0 < total_ok < total_n:
        counts = [[r.n_correct, r.n - r.n_correct] for r in rows]
        omnibus = float(stats.chi2_contingency(counts).pvalue)
    flagged = [t["group"] for t in tests if t["flagged"]]
    return SubgroupGap(table.column, omnibus, tests, bool(flagged), flagged, alpha, min_gap)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values (``None`` entries stay ``None`` and do not count)."""
    idx = [i for i, p in enumerate(p_values) if p is not None]
    m = len(idx)
    out: list[float | None] = [None] * len(p_values)
    given = {i: float(p) for i, p in enumerate(p_values) if p is not None}
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=given.__getitem__)):
        running = max(running, min(1.0, (m - rank) * given[i]))
        out[i] = running
    return out


def _class_names(values: pd.Series, class_names: Sequence[str]) -> pd.Series:
    if is_numeric(values):
        return values.map(lambda v: class_names[int(v)]).reset_index(drop=True)
    return values.astype(str).reset_index(drop=True)


def is_numeric(values: pd.Series) -> bool:
    """Whether a column is numeric (booleans are categories, not numbers)."""
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _row(group: str, y: pd.Series, p: pd.Series, names: Sequence[str], conf: float) -> SubgroupRow:
    n, ok = len(y), int((y.to_numpy() == p.to_numpy()).sum())
    counts = {c: int((y == c).sum()) for c in names}
    recall = {c: (float(((y == c) & (p == c)).sum() / counts[c]) if counts[c] else None)
              for c in names}  # fmt: skip
    majority = max(names, key=lambda c: counts[c]) if n else None
    return SubgroupRow(
        group, n, ok, ok / n if n else None, wilson_interval(ok, n, conf), recall,
        majority, counts[majority] / n if majority else None, counts,
    )  # fmt: skip
