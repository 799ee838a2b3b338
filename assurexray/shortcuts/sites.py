"""Is the model worse for some subgroups, and do its features encode the hospital?

* :func:`subgroup_table` and :func:`subgroup_gap`: accuracy per subgroup (center, site,
  angle, gender, age band) with Wilson intervals, and a Holm-corrected test of each
  subgroup against the rest.
* :func:`site_probe` and :func:`flag_site_encoded`: can a linear probe tell the center from
  image features (and from metadata alone)? Grouped cross-validation and a permutation null.

Outputs are JSON-ready (``to_dict``; ``None`` for undefined, never NaN).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    StratifiedGroupKFold,
    cross_val_predict,
    permutation_test_score,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

#: Upper edges (years) of the age bands: <10, 10-19, 20-39, 40-59, 60+. Bone tumours
#: peak in adolescence, so the young bands are narrower.
AGE_EDGES = (10, 20, 40, 60)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion (``scipy.stats.binomtest``); ``None`` if n = 0."""
    if n == 0:
        return None
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)


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
    accuracy_ci: tuple[float, float] | None
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


@dataclass(frozen=True)
class SiteProbe:
    """Result of :func:`site_probe` (``status`` ``"ok"`` or ``"skipped"`` with a reason)."""

    status: str
    reason: str
    n: int
    sites: dict[str, int]
    folds: int | None = None
    balanced_accuracy: float | None = None
    ci: tuple[float, float] | None = None
    fold_mean: float | None = None
    chance: float | None = None
    null_mean: float | None = None
    p_value: float | None = None
    permutations: int = 0
    metadata: SiteProbe | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """The probe as plain JSON-ready types."""
        return asdict(self)


@dataclass(frozen=True)
class SiteDecision:
    """Outcome of :func:`flag_site_encoded`: whether flagged, and one sentence why."""

    flagged: bool
    reason: str


def site_probe(
    features: np.ndarray,
    sites: Sequence[Any],
    groups: Sequence[Any] | None = None,
    *,
    folds: int = 5,
    permutations: int = 200,
    seed: int = 0,
    metadata: pd.DataFrame | None = None,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    n_jobs: int | None = None,
) -> SiteProbe:
    """Can a standardised logistic regression tell the site from the features?

    Cross-validation is ``StratifiedGroupKFold`` (shuffled, seeded) over ``groups``
    (patient ids; each image its own group when ``None``), so no patient is in both
    training and test. ``balanced_accuracy`` is that of the pooled out-of-fold
    predictions, with a percentile bootstrap interval resampling groups. The p-value is
    ``permutation_test_score``'s on the same folds (site labels permuted over all images:
    passing patient ids there would only permute within a patient, where the site is
    constant). Chance level of balanced accuracy is ``1 / #sites``. Folds drop to the
    fewest groups of a site when that is below ``folds``; a site with one group, or
    fewer than 2 sites, skips the probe.

    Args:
        features: ``(n, d)`` image features (e.g. the pooled pre-logits).
        sites: site/center per image.
        groups: patient id per image, or ``None``.
        folds: cross-validation folds.
        permutations: permutations of the null (p-values are ``>= 1 / (permutations + 1)``).
        seed: seed of folds, permutations and bootstrap.
        metadata: per-image columns (e.g. anatomical site, angle, gender, age) to probe on
            their own: categorical columns one-hot, numeric ones imputed and scaled.
        confidence: level of the bootstrap interval.
        n_resamples: bootstrap resamples.
        n_jobs: parallel jobs for the permutations.

    Returns:
        The probe on the features, with the metadata probe under ``metadata``.
    """
    x = np.asarray(features, dtype=float)
    y = np.array([str(s) for s in sites])
    g = np.arange(len(y)) if groups is None else np.array([str(v) for v in groups])
    if x.ndim != 2 or len(x) != len(y) or len(g) != len(y):
        raise ValueError("features must be (n, d) with one site and group per row")
    model = _Probe(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)))
    run = partial(_probe, y=y, g=g, boot=(confidence, n_resamples), folds=folds,
                  permutations=permutations, seed=seed, n_jobs=n_jobs)  # fmt: skip
    meta = None if metadata is None else run(*_metadata_model(metadata))
    result = run(x, model)
    return result if meta is None else replace(result, metadata=meta)


def flag_site_encoded(
    result: SiteProbe, alpha: float = 0.05, min_margin: float = 0.05
) -> SiteDecision:
    """Flag when the permutation p < ``alpha`` AND balanced accuracy beats chance by ``min_margin``.

    The margin (default 0.05, five points of balanced accuracy) keeps large data sets
    from flagging a trace of site information that no model could exploit.
    """
    if result.status != "ok" or result.p_value is None or result.balanced_accuracy is None:
        return SiteDecision(False, f"probe not run: {result.reason}")
    margin = result.balanced_accuracy - (result.chance or 0.0)
    flagged = result.p_value < alpha and margin >= min_margin
    text = (
        f"p = {result.p_value:.3g} (needs < {alpha}); balanced accuracy "
        f"{result.balanced_accuracy:.3g}, {margin:+.3g} over chance (needs >= {min_margin})"
    )
    return SiteDecision(bool(flagged), text)


def _probe(
    x: np.ndarray | pd.DataFrame,
    model: _Probe,
    y: np.ndarray,
    g: np.ndarray,
    boot: tuple[float, int],
    *,
    folds: int,
    permutations: int,
    seed: int,
    n_jobs: int | None,
) -> SiteProbe:
    counts = {str(s): int(c) for s, c in zip(*np.unique(y, return_counts=True), strict=True)}
    if len(counts) < 2:
        return SiteProbe(
            "skipped", f"{len(counts)} site(s); a probe needs at least 2", len(y), counts
        )
    per_site = {s: len(np.unique(g[y == s])) for s in counts}
    fewest = min(per_site.values())
    if fewest < 2:
        small = [s for s, k in per_site.items() if k < 2]
        return SiteProbe("skipped", f"site(s) {small} have a single patient/image", len(y), counts)
    reason = f"folds reduced from {folds} to {fewest} (smallest site)" if fewest < folds else ""
    k = min(folds, fewest)
    cv = list(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(x, y, g))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a permuted training fold without one site
        pred = cross_val_predict(model, x, y, cv=cv)
        score, null, p = permutation_test_score(
            model, x, y, cv=cv, n_permutations=permutations, scoring="balanced_accuracy",
            random_state=seed, n_jobs=n_jobs,
        )  # fmt: skip
    codes = {s: i for i, s in enumerate(counts)}
    yt, yp = np.array([codes[s] for s in y]), np.array([codes[s] for s in pred])
    return SiteProbe(
        "ok", reason, len(y), counts, folds=k,
        balanced_accuracy=_balanced_accuracy(yt, yp, len(codes)),
        ci=_group_bootstrap(yt, yp, g, len(codes), seed, *boot),
        fold_mean=float(score), chance=1 / len(counts), null_mean=float(np.mean(null)),
        p_value=float(p), permutations=permutations,
    )  # fmt: skip


class _Probe(ClassifierMixin, BaseEstimator):
    """The wrapped model, or the one site a training fold holds (a permuted fold can)."""

    def __init__(self, model: Pipeline) -> None:
        self.model = model

    def fit(self, x: Any, y: np.ndarray) -> _Probe:
        self.classes_ = np.unique(y)
        self.fitted_ = clone(self.model).fit(x, y) if len(self.classes_) > 1 else None
        return self

    def predict(self, x: Any) -> np.ndarray:
        if self.fitted_ is None:
            return np.full(len(x), self.classes_[0])
        return self.fitted_.predict(x)


def _metadata_model(metadata: pd.DataFrame) -> tuple[pd.DataFrame, _Probe]:
    df = metadata.reset_index(drop=True).copy()
    numeric = [c for c in df.columns if is_numeric(df[c])]
    categorical = [c for c in df.columns if c not in numeric]
    df[categorical] = df[categorical].astype(str)
    prep = ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
    ])  # fmt: skip
    return df, _Probe(make_pipeline(prep, LogisticRegression(max_iter=2000)))


def _balanced_accuracy(yt: np.ndarray, yp: np.ndarray, k: int) -> float:
    """Mean recall over the classes present in ``yt`` (as sklearn's balanced accuracy)."""
    conf = np.bincount(yt * k + yp, minlength=k * k).reshape(k, k)
    support = conf.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(conf)[present] / support[present]))


def _group_bootstrap(
    yt: np.ndarray,
    yp: np.ndarray,
    g: np.ndarray,
    k: int,
    seed: int,
    confidence: float,
    n_resamples: int,
) -> tuple[float, float]:
    ids, inverse = np.unique(g, return_inverse=True)
    members = [np.flatnonzero(inverse == i) for i in range(len(ids))]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(ids), len(ids))])
        values.append(_balanced_accuracy(yt[idx], yp[idx], k))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


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
