"""Attention on artefacts: hand-computed values, library agreement, planted and null effects."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from assurexray.shortcuts.attention import (
    RegionAttention,
    attention_on,
    flag_attention,
    permutation_p_value,
    summarise_attention,
)

SIZE = 32
MARK = 4  # marker side in pixels
# Candidate marker places in the border band: top and bottom rows, every 4 px.
PLACES = [(r, c) for r in (0, SIZE - MARK) for c in range(0, SIZE - MARK + 1, 4)]


def _square(r: int, c: int) -> np.ndarray:
    m = np.zeros((SIZE, SIZE), bool)
    m[r : r + MARK, c : c + MARK] = True
    return m


def _blob(rng: np.random.Generator, centre: tuple[float, float]) -> np.ndarray:
    yy, xx = np.mgrid[:SIZE, :SIZE]
    g = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * 3.0**2))
    return g + 0.05 * rng.random((SIZE, SIZE))


def _image(rng: np.random.Generator, planted: bool) -> tuple[RegionAttention, float | None]:
    """One image: a marker at a random band place; the heatmap on it or anywhere."""
    k = int(rng.integers(len(PLACES)))
    r, c = PLACES[k]
    if planted:
        h = _blob(rng, (r + MARK / 2, c + MARK / 2))
    else:
        h = _blob(rng, tuple(rng.uniform(0, SIZE, 2)))
    mask = _square(r, c)
    region = attention_on(h, mask)
    nulls = [_square(*p) for i, p in enumerate(PLACES) if i != k]
    return region, permutation_p_value(h, region.mass, nulls)


def _study(seed: int, planted: bool, n: int = 25):
    rng = np.random.default_rng(seed)
    items = [_image(rng, planted) for _ in range(n)]
    return summarise_attention(
        [r for r, _ in items], seed=seed, p_values=[p for _, p in items], n_resamples=500
    )


def test_attention_on_by_hand():
    h = np.array([[0, 1, 2, 0], [0, 0, 3, 0], [0, 0, 0, 0], [-5, 0, 0, 4]], float)
    mask = np.zeros((4, 4), bool)
    mask[0:2, 2] = True  # holds 2 + 3 of a total 1 + 2 + 3 + 4 = 10 (the -5 is ReLU'd)
    r = attention_on(h, mask)
    assert r.mass == pytest.approx(0.5)
    assert r.area == pytest.approx(2 / 16)
    assert r.enrichment == pytest.approx(0.5 / (2 / 16))
    assert r.peak_inside is False  # the peak 4 is at (3, 3)
    mask[3, 3] = True
    assert attention_on(h, mask).peak_inside is True


def test_attention_on_undefined_cases():
    zero = attention_on(np.zeros((3, 3)), np.eye(3, dtype=bool))
    assert zero == RegionAttention(mass=None, area=pytest.approx(1 / 3), enrichment=None,
                                   peak_inside=False)  # fmt: skip
    empty = attention_on(np.ones((3, 3)), np.zeros((3, 3), bool))
    assert (empty.mass, empty.area, empty.enrichment) == (0.0, 0.0, None)
    with pytest.raises(ValueError):
        attention_on(np.ones((3, 3)), np.ones((2, 2), bool))
    with pytest.raises(ValueError):
        attention_on(np.full((2, 2), np.nan), np.ones((2, 2), bool))


def test_permutation_p_value_counts_ties_and_adds_one():
    h = np.array([[5.0, 5.0, 1.0, 0.0]])  # total 11
    masks = [np.array([[1, 0, 0, 0]]), np.array([[0, 1, 0, 0]]), np.array([[0, 0, 1, 1]])]
    # observed 5/11; null masses 5/11 (tie counts), 5/11, 1/11 -> (1 + 2) / (1 + 3)
    assert permutation_p_value(h, 5 / 11, masks) == pytest.approx(0.75)
    assert permutation_p_value(h, 0.9, masks) == pytest.approx(0.25)  # never 0
    assert permutation_p_value(np.zeros((1, 4)), None, masks) is None
    with pytest.raises(ValueError):
        permutation_p_value(h, 0.5, [])


def test_summary_by_hand_and_json_ready():
    items = [
        RegionAttention(0.2, 0.1, 2.0, True),
        RegionAttention(0.4, 0.1, 4.0, False),
        RegionAttention(0.0, 0.2, 0.0, False),
        RegionAttention(None, 0.1, None, False),  # all-zero heatmap: left out of the means
    ]
    s = summarise_attention(items, groups={"predicted": ["B", "M", "M", "B"]}, p_values=None)
    assert s.n == 4 and s.n_defined == 3
    assert s.mean_mass == pytest.approx(0.2)
    assert s.mean_area == pytest.approx(0.4 / 3)
    assert s.enrichment == pytest.approx(0.2 / (0.4 / 3))  # ratio of means: 1.5, not 2.0
    assert s.peak_rate == pytest.approx(1 / 3)
    assert s.combined_p is None and flag_attention(s).flagged is False
    assert s.groups["predicted"]["M"].mean_mass == pytest.approx(0.2)
    assert s.groups["predicted"]["B"].n_defined == 1
    assert s.groups["predicted"]["B"].mass_ci is None  # one value: no interval
    json.dumps(s.to_dict(), allow_nan=False)


def test_library_calls_agree_with_their_definitions():
    ps = [0.01, 0.2, 0.5, 0.04]
    fisher = stats.chi2.sf(-2 * sum(math.log(p) for p in ps), 2 * len(ps))
    items = [RegionAttention(0.1, 0.1, 1.0, i < 3) for i in range(4)]
    s = summarise_attention(items, p_values=ps)
    assert s.combined_p == pytest.approx(fisher)
    # Wilson interval for 3 of 4 from its formula.
    k, n, z = 3, 4, stats.norm.ppf(0.975)
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
    assert s.peak_ci == pytest.approx([centre - half, centre + half])
    binom = summarise_attention(items, p_values=ps, p_method="binomial")
    # 2 of 4 below 0.05: P(X >= 2), X ~ Binomial(4, 0.05)
    assert binom.combined_p == pytest.approx(1 - stats.binom.cdf(1, 4, 0.05))


def test_same_seed_same_numbers():
    assert _study(3, planted=False).to_dict() == _study(3, planted=False).to_dict()


@pytest.mark.parametrize("seed", range(5))
def test_planted_attention_on_markers_is_flagged(seed):
    s = _study(seed, planted=True)
    assert s.enrichment > 5
    decision = flag_attention(s)
    assert decision.flagged, decision.reason


def test_null_attention_false_positive_rate_is_at_most_alpha():
    alpha, runs = 0.05, 200
    summaries = [_study(1000 + seed, planted=False) for seed in range(runs)]
    test_rate = np.mean([s.combined_p < alpha for s in summaries])
    flag_rate = np.mean([flag_attention(s, alpha).flagged for s in summaries])
    # Binomial(200, 0.05) exceeds 0.1 (20 of 200) with probability < 0.1 %.
    assert test_rate <= 2 * alpha
    assert flag_rate <= test_rate
    assert not flag_attention(summaries[0]).flagged


def test_placement_p_value_equals_the_p_value_of_the_painted_masks() -> None:
    from assurexray.shortcuts.attention_null import placement_p_value
    from assurexray.shortcuts.regions import paint, place_at_random, random_placements

    rng = np.random.default_rng(4)
    shapes = [_square(0, 4), _square(SIZE - MARK, 20)]
    band = np.zeros((SIZE, SIZE), bool)
    band[:8], band[-8:] = True, True
    for trial in range(5):
        h = _blob(rng, tuple(rng.uniform(0, SIZE, 2)))
        observed = attention_on(h, shapes[0] | shapes[1]).mass
        draws = random_placements(shapes, band, np.random.default_rng(trial), 40)
        masks = place_at_random(shapes, band, np.random.default_rng(trial), 40)
        assert len(draws) == len(masks) > 0
        for draw, mask in zip(draws, masks, strict=True):
            np.testing.assert_array_equal(paint(band.shape, draw), mask)
        assert placement_p_value(h, observed, draws) == permutation_p_value(h, observed, masks)
    assert placement_p_value(np.zeros((SIZE, SIZE)), None, draws) is None
    with pytest.raises(ValueError):
        placement_p_value(h, 0.5, [])
