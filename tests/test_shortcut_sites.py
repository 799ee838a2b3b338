"""Subgroups and the site probe: hand-computed values, library agreement, planted and null."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import balanced_accuracy_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from assurexray.evaluation.statistics import wilson_interval
from assurexray.shortcuts.site_probe import (
    _balanced_accuracy,
    _classifier,
    _feature_prep,
    _metadata_model,
    _prepared_folds,
    flag_site_encoded,
    permutation_test,
    site_probe,
)
from assurexray.shortcuts.subgroups import age_band, holm, subgroup_gap, subgroup_table

CLASSES = ["Normal", "Benign", "Malignant"]


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Thousands of tiny fits: BLAS threads only contend (8x slower on a busy machine)."""
    with threadpool_limits(1):
        yield


def test_wilson_interval_matches_its_formula():
    k, n, z = 7, 20, stats.norm.ppf(0.975)
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
    assert wilson_interval(k, n) == pytest.approx([centre - half, centre + half])
    assert wilson_interval(0, 0) is None


def test_age_bands():
    assert [age_band(a) for a in (5, 10, 19.9, 39.5, 59, 60, 88)] == [
        "<10", "10-19", "10-19", "20-39", "40-59", "60+", "60+"
    ]  # fmt: skip
    assert age_band(float("nan")) is None and age_band(None) is None and age_band("x") is None


def test_subgroup_table_by_hand():
    df = pd.DataFrame(
        {
            "center": [1, 1, 1, 2, 2, None],
            "age": [8, 15, 15, 45, 70, np.nan],
            "label": [0, 2, 2, 1, 1, 0],
            "pred": [0, 2, 1, 1, 2, 0],
        },
        index=[10, 11, 12, 13, 14, 15],  # a non-default index must not misalign
    )
    t = subgroup_table(df, "center", "label", "pred", CLASSES)
    one, two, missing = t.rows
    assert (one.group, one.n, one.n_correct, one.accuracy) == ("1.0", 3, 2, 2 / 3)
    assert one.recall == {"Normal": 1.0, "Benign": None, "Malignant": 0.5}
    assert (one.majority_class, one.majority_accuracy) == ("Malignant", 2 / 3)
    assert one.counts == {"Normal": 1, "Benign": 0, "Malignant": 2}
    assert (two.accuracy, missing.group, missing.n) == (0.5, "missing", 1)
    assert t.overall.n == 6 and t.overall.accuracy == pytest.approx(4 / 6)
    ages = subgroup_table(df, "age", "label", "pred", CLASSES)
    assert [r.group for r in ages.rows] == ["10-19", "40-59", "60+", "<10", "missing"]
    json.dumps(t.to_dict(), allow_nan=False)


def test_holm_by_hand():
    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def _groups_df(seed: int, bad: float) -> pd.DataFrame:
    """Three centers of 150 images; center 3 has accuracy ``bad``, the others 0.85."""
    rng = np.random.default_rng(seed)
    center = np.repeat([1, 2, 3], 150)
    acc = np.where(center == 3, bad, 0.85)
    label = rng.integers(0, 3, len(center))
    correct = rng.random(len(center)) < acc
    pred = np.where(correct, label, (label + 1) % 3)
    return pd.DataFrame({"center": center, "label": label, "pred": pred})


def test_fisher_p_value_agrees_with_hypergeometric_tail():
    df = _groups_df(0, 0.6)
    gap = subgroup_gap(subgroup_table(df, "center", "label", "pred", CLASSES))
    t3 = gap.tests[2]
    ok3 = int(round(t3["accuracy"] * 150))
    ok_all = int(round(t3["accuracy"] * 150 + t3["rest_accuracy"] * 300))
    # P(at most ok3 correct in center 3) drawing 150 of 450 images with ok_all correct
    assert t3["p_value"] == pytest.approx(stats.hypergeom.cdf(ok3, 450, ok_all, 150))


@pytest.mark.parametrize("seed", range(3))
def test_worse_center_is_flagged(seed):
    gap = subgroup_gap(subgroup_table(_groups_df(seed, 0.6), "center", "label", "pred", CLASSES))
    assert gap.flagged and gap.flagged_groups == ["3"]
    assert gap.omnibus_p < 0.05
    json.dumps(gap.to_dict(), allow_nan=False)


def test_equal_centers_false_positive_rate_is_at_most_alpha():
    flags = [
        subgroup_gap(subgroup_table(_groups_df(100 + s, 0.85), "center", "label", "pred", CLASSES))
        for s in range(120)
    ]
    assert np.mean([g.flagged for g in flags]) <= 0.05
    # A significant but small gap (accuracy 0.82 vs 0.85, huge groups) is not material.
    big = pd.concat([_groups_df(s, 0.82) for s in range(20)], ignore_index=True)
    gap = subgroup_gap(subgroup_table(big, "center", "label", "pred", CLASSES))
    assert gap.tests[2]["p_holm"] < 0.05 and not gap.flagged


def _site_data(seed: int, shift: float, n: int = 60, d: int = 4):
    rng = np.random.default_rng(seed)
    site = np.repeat([1, 2, 3], n // 3)
    x = rng.normal(size=(n, d))
    x[:, :3] += shift * np.eye(3)[site - 1]
    return x, site


def test_balanced_accuracy_agrees_with_sklearn():
    rng = np.random.default_rng(0)
    yt, yp = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    assert _balanced_accuracy(yt, yp, 3) == pytest.approx(balanced_accuracy_score(yt, yp))


def test_permutation_test_agrees_with_sklearn():
    """Folds prepared once give sklearn's permutation_test_score and cross_val_predict on the
    whole pipeline refitted every time, and Newton-Cholesky predicts as lbfgs does."""
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import (
        StratifiedKFold,
        cross_val_predict,
        permutation_test_score,
    )
    from sklearn.pipeline import make_pipeline

    x, site = _site_data(3, 0.5, n=45)
    meta = pd.DataFrame({"gender": np.where(x[:, 0] > 0, "F", "M"), "age": x[:, 1] * 10})
    y = site - 1
    cv = list(StratifiedKFold(3, shuffle=True, random_state=0).split(x, y))
    for data, (prep, classifier) in [(x, (StandardScaler(), _classifier())),
                                     (meta, _metadata_model(meta)[1])]:  # fmt: skip
        prepared = _prepared_folds(data, prep, cv)
        score, null, p = permutation_test(prepared, y, classifier, 9, seed=4)
        pipe = make_pipeline(clone(prep), clone(classifier))
        want = permutation_test_score(
            pipe, data, y, cv=cv, n_permutations=9, scoring="balanced_accuracy", random_state=4
        )
        assert score == pytest.approx(want[0]) and p == pytest.approx(want[2])
        np.testing.assert_allclose(null, want[1])
        lbfgs = make_pipeline(clone(prep), LogisticRegression(max_iter=2000))
        assert np.array_equal(
            cross_val_predict(pipe, data, y, cv=cv), cross_val_predict(lbfgs, data, y, cv=cv)
        )


def test_rotation_onto_the_training_span_keeps_the_predictions():
    """With more features than training images, the probe works in the training fold's
    principal axes; the regression's probabilities equal those on the raw features."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    x, site = _site_data(1, 0.7, n=45)
    x = np.hstack([x, np.random.default_rng(1).normal(size=(45, 300))])
    cv = list(StratifiedKFold(3, shuffle=True, random_state=0).split(x, site))
    raw = _prepared_folds(x, StandardScaler(), cv)
    rotated = _prepared_folds(x, _feature_prep(), cv)
    for (train, _, xtr, xte), (_, _, rtr, rte) in zip(raw, rotated, strict=True):
        assert rtr.shape[1] == len(train) < xtr.shape[1]
        exact = _classifier().set_params(tol=1e-10)  # the same optimum, solved to the end
        want = clone(exact).fit(xtr, site[train]).predict_proba(xte)
        got = clone(exact).fit(rtr, site[train]).predict_proba(rte)
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert 0.05 < want.max(axis=1).min() and want.max(axis=1).max() < 0.999  # not trivial
        fast = _classifier().fit(rtr, site[train]).predict(rte)  # the probe's own tolerance
        assert np.array_equal(fast, _classifier().fit(xtr, site[train]).predict(xte))


@pytest.mark.parametrize("seed", range(2))
def test_site_carried_by_features_is_flagged(seed):
    x, site = _site_data(seed, shift=2.0)
    r = site_probe(x, site, folds=3, permutations=39, seed=seed, n_resamples=200)
    decision = flag_site_encoded(r)
    assert decision.flagged, decision.reason
    assert r.chance == pytest.approx(1 / 3) and r.ci[0] > 1 / 3
    assert r.p_value == pytest.approx(1 / 40)  # no permutation does as well
    json.dumps(r.to_dict(), allow_nan=False)


def test_site_independent_features_false_positive_rate():
    runs = [
        site_probe(
            *_site_data(500 + s, 0.0, n=45), folds=2, permutations=39, seed=s, n_resamples=50
        )  # fmt: skip
        for s in range(8)
    ]
    assert sum(r.p_value < 0.05 for r in runs) <= 2  # P(more than 2 of 8 | 0.05) < 1 %
    assert sum(flag_site_encoded(r).flagged for r in runs) <= 2
    assert np.mean([r.null_mean for r in runs]) == pytest.approx(1 / 3, abs=0.05)


def test_patient_groups_stop_leakage():
    # Each patient's 4 images share a random feature vector; sites are per patient.
    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(30), 4)
    site = np.repeat(rng.permutation(np.repeat([1, 2, 3], 10)), 4)
    x = rng.normal(size=(30, 40))[patients] + 0.05 * rng.normal(size=(120, 40))
    leaky = site_probe(x, site, folds=3, permutations=19, n_resamples=50)
    grouped = site_probe(x, site, patients, folds=3, permutations=19, n_resamples=50)
    assert leaky.balanced_accuracy >= 0.8  # the same patient on both sides of the split
    assert grouped.balanced_accuracy < 0.6
    assert not flag_site_encoded(grouped).flagged


def test_skips_and_fold_reduction_and_metadata():
    x, site = _site_data(0, 2.0)
    one = site_probe(x, np.ones(len(x)), permutations=9)
    assert one.status == "skipped" and not flag_site_encoded(one).flagged
    lonely = np.array([1] * 59 + [2])
    assert "single" in site_probe(x, lonely, permutations=9).reason
    few = np.array([1] * 57 + [2] * 3)
    r = site_probe(x, few, folds=5, permutations=9, n_resamples=50)
    assert r.status == "ok" and r.folds == 3 and "reduced" in r.reason
    meta = pd.DataFrame({"gender": np.where(site == 1, "F", "M"), "age": np.arange(60.0)})
    meta.loc[0, "age"] = np.nan
    both = site_probe(x, site, folds=3, permutations=9, metadata=meta, n_resamples=50)
    assert both.metadata is not None and both.metadata.balanced_accuracy > 0.5
    again = site_probe(x, site, folds=3, permutations=9, metadata=meta, n_resamples=50)
    assert both.to_dict() == again.to_dict()  # seeded
    json.dumps(both.to_dict(), allow_nan=False)


def test_permutations_stop_once_the_null_reaches_the_score_often_enough():
    """Besag and Clifford's sequential p-value: a probe far from significant stops early with
    p = h / drawn; one carried by the features draws every permutation, as without stopping."""
    from sklearn.model_selection import StratifiedKFold

    x, site = _site_data(7, 0.0, n=45)
    cv = list(StratifiedKFold(3, shuffle=True, random_state=0).split(x, site))
    prepared = _prepared_folds(x, StandardScaler(), cv)
    y = site - 1
    full = permutation_test(prepared, y, _classifier(), 99, seed=1)
    score, null, p = permutation_test(prepared, y, _classifier(), 99, seed=1, stop_after=5)
    assert score == full[0] and len(null) < 99
    np.testing.assert_array_equal(null, full[1][: len(null)])  # the same draws, fewer of them
    assert np.sum(null >= score) == 5 and null[-1] >= score and p == 5 / len(null)
    assert p > 0.05 and full[2] > 0.05

    x, site = _site_data(7, 2.0, n=45)
    prepared = _prepared_folds(x, StandardScaler(), cv)
    stopped = permutation_test(prepared, y, _classifier(), 39, seed=1, stop_after=5)
    unstopped = permutation_test(prepared, y, _classifier(), 39, seed=1)
    assert len(stopped[1]) == 39 and stopped[2] == unstopped[2] == pytest.approx(1 / 40)
