"""Counterfactual removal: hand-computed effects, library agreement, planted and null effects."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy import stats

from assurexray.shortcuts.reliance import flag_reliance, reliance_effects


def _labels(p: np.ndarray) -> list[str]:
    """The explained class (Malignant) stays predicted while its probability is >= 0.5."""
    return ["Malignant" if q >= 0.5 else "Benign" for q in p]


def _study(seed: int, planted: bool, n: int = 60):
    rng = np.random.default_rng(seed)
    p0 = rng.uniform(0.55, 0.99, n)
    pc = np.clip(p0 + rng.normal(0, 0.03, n), 0, 1)
    if planted:  # removing the marker costs half the images 0.2-0.5 of probability
        drop = np.where(rng.random(n) < 0.5, rng.uniform(0.2, 0.5, n), 0.0)
        p1 = np.clip(p0 - drop + rng.normal(0, 0.03, n), 0, 1)
    else:  # both removals disturb the image alike
        p1 = np.clip(p0 + rng.normal(0, 0.03, n), 0, 1)
    return reliance_effects(
        p0, p1, pc, _labels(p0), _labels(p1), _labels(pc), seed=seed, n_resamples=500
    )


def test_effects_by_hand():
    p0 = [0.9, 0.8, 0.6, 0.5]
    p1 = [0.5, 0.8, 0.7, 0.1]
    pc = [0.9, 0.7, 0.6, 0.5]
    r = reliance_effects(p0, p1, pc, ["M", "M", "M", "B"], ["B", "M", "M", "N"],
                         ["M", "M", "M", "B"])  # fmt: skip
    a = r.artefact
    assert a.mean_dp == pytest.approx((-0.4 + 0 + 0.1 - 0.4) / 4)
    assert a.mean_abs_dp == pytest.approx(0.9 / 4)
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    expected = [logit(x1) - logit(x0) for x0, x1 in zip(p0, p1, strict=True)]
    assert a.mean_dlogodds == pytest.approx(sum(expected) / 4)
    assert (a.n_flips, a.flip_rate) == (2, 0.5)
    assert a.flips == [{"from": "B", "to": "N", "count": 1}, {"from": "M", "to": "B", "count": 1}]
    assert r.control.flips == [] and r.control.flip_rate == 0.0
    assert r.mcnemar.statistic == 2 and r.mcnemar.p_value == pytest.approx(0.25)  # 2 of 2
    assert r.wilcoxon.p_value is None and "non-zero" in r.wilcoxon.note  # only 4 pairs
    json.dumps(r.to_dict(), allow_nan=False)


def test_log_odds_are_clipped_not_infinite():
    r = reliance_effects([1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1, 0], [0, 1], [1, 0])
    bound = math.log((1 - 1e-6) / 1e-6)
    assert r.artefact.mean_dlogodds == pytest.approx(0.0)
    assert r.artefact.dlogodds_ci[0] == pytest.approx(-2 * bound)
    with pytest.raises(ValueError):
        reliance_effects([1.2], [0.5], [0.5], [1], [1], [1])


def test_wilcoxon_agrees_with_exact_enumeration():
    d = np.array([0.30, 0.12, -0.05, 0.21, 0.08, -0.15, 0.27, 0.02])
    p0 = np.full(len(d), 0.5)
    # |dp_artefact| - |dp_control| = d: the control moves 0.2, the artefact removal 0.2 + d
    r = reliance_effects(p0, p0 - (0.2 + d), p0 - 0.2, [0] * 8, [0] * 8, [0] * 8)
    ranks = stats.rankdata(np.abs(d))
    w_plus = ranks[d > 0].sum()
    null = [sum(r_ for r_, s in zip(ranks, signs, strict=True) if s)
            for signs in itertools.product([0, 1], repeat=len(d))]  # fmt: skip
    exact = np.mean(np.array(null) >= w_plus)
    assert r.wilcoxon.statistic == pytest.approx(w_plus)
    assert r.wilcoxon.p_value == pytest.approx(exact)


def test_mcnemar_agrees_with_binomial_sum():
    # 7 images flip only under artefact removal, 1 only under the control, 2 under both.
    fa = [1] * 7 + [0] + [1, 1] + [0] * 5
    fc = [0] * 7 + [1] + [1, 1] + [0] * 5
    n = len(fa)
    p = np.full(n, 0.7)
    r = reliance_effects(p, p, p, [0] * n, fa, fc)
    exact = sum(math.comb(8, i) for i in range(7, 9)) / 2**8
    assert (r.mcnemar.statistic, r.mcnemar.n_used) == (7, 8)
    assert r.mcnemar.p_value == pytest.approx(exact)


def test_identical_arms_of_zeros_do_not_crash_or_flag():
    p = [0.7] * 10
    y = ["Malignant"] * 10
    r = reliance_effects(p, p, p, y, y, y)
    assert r.artefact.mean_dp == 0.0 and r.artefact.dp_ci == [0.0, 0.0]
    assert r.wilcoxon.p_value is None and r.mcnemar.p_value is None
    assert not flag_reliance(r).flagged
    json.dumps(r.to_dict(), allow_nan=False)


def test_same_seed_same_numbers():
    assert _study(5, planted=True).to_dict() == _study(5, planted=True).to_dict()


@pytest.mark.parametrize("seed", range(5))
def test_planted_reliance_is_flagged(seed):
    r = _study(seed, planted=True)
    decision = flag_reliance(r)
    assert decision.flagged, decision.reason
    assert r.artefact.mean_dp < -0.05 and r.artefact.flip_rate > r.control.flip_rate


def test_equal_arms_false_positive_rate_is_at_most_alpha():
    alpha, runs = 0.05, 200
    results = [_study(1000 + s, planted=False) for s in range(runs)]
    wilcoxon_rate = np.mean([r.wilcoxon.p_value < alpha for r in results])
    flag_rate = np.mean([flag_reliance(r, alpha).flagged for r in results])
    # Binomial(200, 0.05) exceeds 20 with probability < 0.1 %.
    assert wilcoxon_rate <= 2 * alpha
    assert flag_rate <= alpha


def test_significant_but_immaterial_shift_is_not_flagged():
    rng = np.random.default_rng(0)
    p0 = rng.uniform(0.6, 0.9, 200)
    pc = p0 - 0.02
    p1 = p0 - 0.03  # every image moves 0.01 more: tiny p-value, immaterial effect
    y = _labels(p0)
    r = reliance_effects(p0, p1, pc, y, y, y, n_resamples=200)
    assert r.wilcoxon.p_value < 1e-10
    assert not flag_reliance(r).flagged
    assert flag_reliance(r, min_abs_dp=0.005).flagged
