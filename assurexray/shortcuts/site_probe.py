"""Do the model's features encode the hospital? A linear probe of the center.

:func:`site_probe` fits a standardised logistic regression from image features (and, for
comparison, from metadata alone) to the center, with grouped cross-validation and a
permutation null; :func:`flag_site_encoded` decides. "Predictable" is not "used" (Glocker
et al. 2023): the counterfactual removal is the test of use. Outputs are JSON-ready.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import _safe_indexing

from assurexray.shortcuts.batched_logistic import fit_predict_many
from assurexray.shortcuts.subgroups import is_numeric

#: Null scores reaching the observed one after which the permutations stop (Besag and
#: Clifford 1991): a probe far from significant costs a fraction of the permutations.
STOP_AFTER = 10
#: Permutations fitted together: bounds the batched solver's memory (each model holds a
#: dense Hessian) and how far past a sequential stop the fits go.
PERMUTATION_CHUNK = 10


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
    stop_after: int | None = STOP_AFTER,
    metadata: pd.DataFrame | None = None,
    confidence: float = 0.95,
    n_resamples: int = 1000,
) -> SiteProbe:
    """Can a standardised logistic regression tell the site from the features?

    Each training fold's standardised features are rotated onto their principal axes
    (every component kept, at most ``n_train``): an L2-regularised logistic regression's
    weights lie in the span of its centred training rows (representer theorem), so its
    predictions are those of the regression on the raw ``d`` features, while its Newton
    steps work in ``n_train`` dimensions instead of ``d`` (1280 for EfficientNet-B0; a test
    checks the predictions agree).

    Cross-validation is ``StratifiedGroupKFold`` (shuffled, seeded) over ``groups``
    (patient ids; each image its own group when ``None``), so no patient is in both
    training and test. ``balanced_accuracy`` is that of the pooled out-of-fold
    predictions, with a percentile bootstrap interval resampling groups. The p-value is
    that of sklearn's ``permutation_test_score`` on the same folds (:func:`permutation_test`
    computes the same numbers with each fold's scaling fitted once; site labels permuted
    over all images: passing patient ids there would only permute within a patient, where
    the site is constant). Chance level of balanced accuracy is ``1 / #sites``. Folds drop to the
    fewest groups of a site when that is below ``folds``; a site with one group, or
    fewer than 2 sites, skips the probe.

    Args:
        features: ``(n, d)`` image features (e.g. the pooled pre-logits).
        sites: site/center per image.
        groups: patient id per image, or ``None``.
        folds: cross-validation folds.
        permutations: most permutations of the null (p-values are ``>= 1 / (permutations + 1)``).
        seed: seed of folds, permutations and bootstrap.
        stop_after: stop drawing permutations once this many null scores reach the observed
            one (Besag & Clifford 1991; the p-value is then ``stop_after / drawn``, at least
            ``stop_after / permutations``: far from significant); None draws them all.
        metadata: per-image columns (e.g. anatomical site, angle, gender, age) to probe on
            their own: categorical columns one-hot, numeric ones imputed and scaled.
        confidence: level of the bootstrap interval.
        n_resamples: bootstrap resamples.

    Returns:
        The probe on the features, with the metadata probe under ``metadata``.
    """
    x = np.asarray(features, dtype=float)
    y = np.array([str(s) for s in sites])
    g = np.arange(len(y)) if groups is None else np.array([str(v) for v in groups])
    if x.ndim != 2 or len(x) != len(y) or len(g) != len(y):
        raise ValueError("features must be (n, d) with one site and group per row")
    model = (_feature_prep(), _classifier())
    run = partial(_probe, y=y, g=g, boot=(confidence, n_resamples), folds=folds,
                  permutations=permutations, seed=seed, stop_after=stop_after)  # fmt: skip
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
    model: tuple[Any, LogisticRegression],
    y: np.ndarray,
    g: np.ndarray,
    boot: tuple[float, int],
    *,
    folds: int,
    permutations: int,
    seed: int,
    stop_after: int | None,
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
    yt = np.unique(y, return_inverse=True)[1]  # codes in the order of ``counts``
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a permuted training fold without one site
        prepared = _prepared_folds(x, model[0], cv)
        yp = np.empty_like(yt)
        for (_, test), pred in zip(cv, _fold_predictions(prepared, yt, model[1]), strict=True):
            yp[test] = pred
        score, null, p = permutation_test(
            prepared, yt, model[1], permutations, seed, stop_after=stop_after
        )
    return SiteProbe(
        "ok", reason, len(y), counts, folds=k,
        balanced_accuracy=_balanced_accuracy(yt, yp, len(counts)),
        ci=_group_bootstrap(yt, yp, g, len(counts), seed, *boot),
        fold_mean=score, chance=1 / len(counts), null_mean=float(np.mean(null)),
        p_value=p, permutations=len(null),
    )  # fmt: skip


#: One cross-validation fold, its inputs already through the preprocessing fitted on its
#: training part: ``(train, test, x_train, x_test)``.
Fold = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _prepared_folds(x: Any, prep: Any, cv: list[tuple[np.ndarray, np.ndarray]]) -> list[Fold]:
    """Every fold through ``prep`` (scaling, encoding) fitted on its training rows.

    The preprocessing never sees the labels, so a pipeline refitted on permuted labels
    would compute exactly these arrays again: they are made once, not once per permutation.
    """
    out = []
    for train, test in cv:
        fitted = clone(prep).fit(_safe_indexing(x, train))
        xtr = np.asarray(fitted.transform(_safe_indexing(x, train)), dtype=float)
        xte = np.asarray(fitted.transform(_safe_indexing(x, test)), dtype=float)
        out.append((train, test, xtr, xte))
    return out


def _fold_predictions(
    prepared: list[Fold], y: np.ndarray, classifier: LogisticRegression
) -> list[np.ndarray]:
    """Each fold's test predictions of ``classifier`` fitted on its training labels (a
    training fold holding one site, as a permuted one can, predicts that site)."""
    out = []
    for train, _, xtr, xte in prepared:
        ytr = y[train]
        if np.all(ytr == ytr[0]):
            out.append(np.full(len(xte), ytr[0]))
        else:
            out.append(clone(classifier).fit(xtr, ytr).predict(xte))
    return out


def permutation_test(
    prepared: list[Fold],
    y: np.ndarray,
    classifier: LogisticRegression,
    permutations: int,
    seed: int,
    *,
    stop_after: int | None = None,
) -> tuple[float, np.ndarray, float]:
    """sklearn's ``permutation_test_score`` (balanced accuracy, the same permutations of the
    same seed, the same p-value) on folds prepared once by :func:`_prepared_folds`.

    Every permutation's regression on a fold is fitted at once with the others
    (:func:`~assurexray.shortcuts.batched_logistic.fit_predict_many`: the same optimum,
    so the same predictions, as sklearn's ``LogisticRegression`` fitted one at a time).

    Args:
        prepared: The folds and their preprocessed inputs.
        y: Integer class codes ``0..k-1`` of every image.
        classifier: The probe's L2-regularised ``LogisticRegression`` (its ``C`` is used).
        permutations: Permutations of ``y`` over all images.
        seed: ``random_state`` of the permutations.
        stop_after: Besag and Clifford's sequential stop: once this many null scores reach
            the observed one, stop and return ``p = stop_after / drawn`` (the null holds the
            scores drawn). None (default): draw all, as sklearn does.

    Returns:
        ``(score, null scores, p-value)``, the score the mean balanced accuracy of the folds.
    """
    k = int(y.max()) + 1
    c = float(classifier.C)

    def fold_means(labels: np.ndarray) -> np.ndarray:
        """The mean balanced accuracy over the folds of each row of ``labels``."""
        total = np.zeros(len(labels))
        for train, test, xtr, xte in prepared:
            predicted = fit_predict_many(xtr, labels[:, train], xte, k, c=c)
            pairs = zip(labels, predicted, strict=True)
            total += [_balanced_accuracy(row[test], pred, k) for row, pred in pairs]
        return total / len(prepared)

    rng = np.random.RandomState(seed)  # as sklearn's check_random_state(seed)
    shuffled = np.array([y[rng.permutation(len(y))] for _ in range(permutations)])
    score = float(fold_means(y[None])[0])
    chunk = max(1, min(stop_after or permutations, PERMUTATION_CHUNK))
    null = np.zeros(0)
    for start in range(0, permutations, chunk):
        null = np.concatenate([null, fold_means(shuffled[start : start + chunk])])
        reached = np.flatnonzero(null >= score)
        if stop_after and len(reached) >= stop_after:
            drawn = int(reached[stop_after - 1]) + 1
            return score, null[:drawn], stop_after / drawn
    p = (np.sum(null >= score) + 1.0) / (permutations + 1)
    return score, null, float(p)


def _feature_prep() -> Any:
    """Standardise, then rotate onto the training fold's principal axes (all of them)."""
    return make_pipeline(StandardScaler(), PCA(svd_solver="full"))


def _classifier() -> LogisticRegression:
    """The probe: L2-regularised multinomial logistic regression (``C = 1``) solved by
    Newton-Cholesky, which reaches the same optimum as lbfgs (the loss is strictly convex)
    an order of magnitude faster on these small, low-dimensional problems."""
    return LogisticRegression(solver="newton-cholesky", max_iter=2000)


def _metadata_model(metadata: pd.DataFrame) -> tuple[pd.DataFrame, tuple[Any, LogisticRegression]]:
    df = metadata.reset_index(drop=True).copy()
    numeric = [c for c in df.columns if is_numeric(df[c])]
    categorical = [c for c in df.columns if c not in numeric]
    df[categorical] = df[categorical].astype(str)
    prep = ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
    ])  # fmt: skip
    return df, (prep, _classifier())


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
