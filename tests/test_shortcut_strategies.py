"""Spectral relevance analysis: library agreement, planted strategies and a single strategy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse import csgraph
from sklearn.metrics import adjusted_rand_score

from assurexray.shortcuts.strategies import (
    describe_clusters,
    knn_affinity,
    normalized_laplacian,
    pool_heatmaps,
    spectral_strategies,
)

SIZE = 32
CORNER = np.zeros((SIZE, SIZE), bool)
CORNER[:8, :8] = True  # where the planted "marker" strategy looks


def _maps(rng: np.random.Generator, centre: tuple[float, float], n: int, noise: float = 0.2):
    yy, xx = np.mgrid[:SIZE, :SIZE]
    out = []
    for _ in range(n):
        cy, cx = np.add(centre, rng.normal(0, 1.5, 2))
        g = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 4.0**2))
        out.append(g + noise * rng.random((SIZE, SIZE)))
    return out


def _mass(maps) -> list[float]:
    return [float(m[CORNER].sum() / m.sum()) for m in maps]


def test_pooling_is_block_mean_then_sum_one():
    h = np.arange(16, dtype=float).reshape(4, 4)
    pooled = pool_heatmaps([h, np.zeros((4, 4)), -np.ones((2, 2))], grid=2)
    blocks = np.array([2.5, 4.5, 10.5, 12.5])  # means of the 2 x 2 blocks
    assert pooled[0] == pytest.approx(blocks / blocks.sum())
    assert pooled[1] == pytest.approx([0.25] * 4)  # all zero: uniform
    assert pooled[2] == pytest.approx([0.25] * 4)  # all negative: ReLU'd to zero


def test_laplacian_matches_definition_and_scipy():
    x = np.random.default_rng(0).random((30, 16))
    w = knn_affinity(x, k=4)
    dense = w.toarray()
    assert (dense == dense.T).all() and dense.diagonal().sum() == 0
    assert (dense.sum(axis=1) >= 4).all()  # each node keeps its own 4 neighbours
    d = 1 / np.sqrt(dense.sum(axis=1))
    by_hand = np.eye(30) - d[:, None] * dense * d[None, :]
    lap = normalized_laplacian(w)
    assert lap == pytest.approx(by_hand)
    assert lap == pytest.approx(csgraph.laplacian(sparse.csr_matrix(dense), normed=True).toarray())


@pytest.mark.parametrize("seed", range(3))
def test_two_planted_strategies_are_recovered(seed):
    rng = np.random.default_rng(seed)
    maps = _maps(rng, (4, 4), 40) + _maps(rng, (16, 16), 50)
    truth = [0] * 40 + [1] * 50
    res = spectral_strategies(maps, seed=seed)
    assert res.k == 2
    assert adjusted_rand_score(truth, res.labels) >= 0.9
    assert res.eigenvalues[0] == pytest.approx(0, abs=1e-8) and len(res.eigenvalues) == 10
    corner_cluster = res.labels[0]
    assert np.argmax(res.mean_maps[corner_cluster]) == 9  # peaks at pooled cell (1, 1)
    json.dumps(res.to_dict(), allow_nan=False)


@pytest.mark.parametrize("seed", range(3))
def test_marker_cluster_from_one_center_is_suspect(seed):
    rng = np.random.default_rng(seed)
    maps = _maps(rng, (4, 4), 30) + _maps(rng, (16, 16), 60)
    center = ["2" if rng.random() < 0.9 else "1" for _ in range(30)]
    center += [str(rng.integers(1, 4)) for _ in range(60)]
    correct = [True] * 90
    res = spectral_strategies(maps, seed=seed)
    desc = describe_clusters(res, _mass(maps), correct, center)
    by_size = {d.size: d for d in desc}
    assert by_size[30].suspect, by_size[30].reason
    assert by_size[30].dominant_center == "2" and by_size[30].accuracy == 1.0
    assert not by_size[60].suspect
    # The same cluster with centers spread evenly is not a hospital signature.
    even = [str(i % 3 + 1) for i in range(90)]
    assert not any(d.suspect for d in describe_clusters(res, _mass(maps), correct, even))


@pytest.mark.parametrize("seed", range(5))
def test_one_strategy_with_noise_has_no_suspect(seed):
    rng = np.random.default_rng(100 + seed)
    maps = _maps(rng, (16, 16), 80, noise=0.5)
    center = [str(c) for c in rng.integers(1, 4, 80)]
    res = spectral_strategies(maps, seed=seed)
    assert 2 <= res.k <= 8  # the eigengap always picks some k
    assert min(np.bincount(res.labels)) >= 5
    desc = describe_clusters(res, _mass(maps), None, center)
    assert not any(d.suspect for d in desc), [d.reason for d in desc]


def test_tiny_group_is_one_cluster_and_small_clusters_are_merged():
    rng = np.random.default_rng(0)
    tiny = spectral_strategies(_maps(rng, (4, 4), 6), min_size=5)
    assert tiny.k == 1 and tiny.labels == [0] * 6 and "one cluster" in tiny.note
    d = describe_clusters(tiny, [0.5] * 6)
    assert d[0].mass_excess is None and not d[0].suspect
    # Three images of a third strategy cannot form a cluster of at least 5.
    maps = _maps(rng, (4, 4), 40) + _maps(rng, (16, 16), 40) + _maps(rng, (28, 28), 3)
    res = spectral_strategies(maps, min_size=5, seed=0)
    assert min(np.bincount(res.labels)) >= 5
    assert res.labels == spectral_strategies(maps, min_size=5, seed=0).labels  # seeded
    # Three separate strategies, one of 10 maps: k = 3 by the eigengap, 2 for min_size 15.
    maps = _maps(rng, (4, 4), 40) + _maps(rng, (16, 16), 40) + _maps(rng, (28, 28), 10)
    assert spectral_strategies(maps, n_neighbors=5, min_size=5).k == 3
    merged = spectral_strategies(maps, n_neighbors=5, min_size=15)
    assert merged.k == 2 and "reduced to k = 2" in merged.note
    assert min(np.bincount(merged.labels)) >= 15
