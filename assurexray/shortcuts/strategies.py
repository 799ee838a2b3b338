"""Spectral Relevance Analysis: which distinct "strategies" do a class's heatmaps show?

After Lapuschkin et al. (2019), "Unmasking Clever Hans predictors and assessing what
machines really learn" (and the CoRelAy library): heatmaps of one predicted class are
pooled to a small grid, normalised to sum 1, linked by a symmetric k-nearest-neighbour
graph, and clustered spectrally. A cluster whose maps sit on artefacts and whose images
come mostly from one hospital is a candidate shortcut (:func:`describe_clusters`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
from scipy import linalg, sparse, stats
from scipy.sparse import csgraph
from sklearn.cluster import KMeans
from sklearn.neighbors import kneighbors_graph

_ZERO = 1e-10  # eigenvalues below this are zero (connected components)


@dataclass(frozen=True)
class StrategyClusters:
    """Spectral clusters of one group of heatmaps.

    Attributes:
        labels: cluster per heatmap, ``0..k-1`` numbered by size (largest first).
        k: number of clusters.
        eigenvalues: smallest eigenvalues of the normalised Laplacian, ascending.
        eigengap: the gap criterion at ``i = 1..`` (relative ``(l_i - l_{i-1}) / l_i`` by
            default, see :func:`spectral_strategies`); the largest at ``i >= 2`` chose k
            (before any size reduction).
        mean_maps: per cluster the mean pooled map (grid x grid, each sums to 1).
        note: how k was settled (tiny group, clusters merged for size), else empty.
    """

    labels: list[int]
    k: int
    eigenvalues: list[float]
    eigengap: list[float]
    mean_maps: list[list[list[float]]]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The clusters as plain JSON-ready types."""
        return asdict(self)


@dataclass(frozen=True)
class ClusterDescription:
    """One cluster next to the rest of its class (see :func:`describe_clusters`)."""

    cluster: int
    size: int
    share: float
    mean_artefact_mass: float | None
    rest_artefact_mass: float | None
    mass_excess: float | None
    mass_p: float | None
    accuracy: float | None
    centers: dict[str, int]
    dominant_center: str | None
    dominant_center_share: float | None
    suspect: bool
    reason: str


def pool_heatmaps(heatmaps: Sequence[np.ndarray] | np.ndarray, grid: int = 8) -> np.ndarray:
    """Pool heatmaps to ``grid x grid`` (``cv2.INTER_AREA``) and normalise each to sum 1.

    Maps already ``grid x grid`` are only normalised. Negative values are clipped (ReLU);
    an all-zero map becomes uniform (it shows no preference for any place).

    Args:
        heatmaps: 2-D maps in a common frame (any sizes; each is resized on its own).
        grid: side of the pooled grid.

    Returns:
        ``(n, grid * grid)`` array of rows summing to 1.
    """
    rows = []
    for h in heatmaps:
        m = np.maximum(np.asarray(h, dtype=np.float32), 0)
        if m.shape != (grid, grid):
            m = cv2.resize(m, (grid, grid), interpolation=cv2.INTER_AREA)
        rows.append(m.astype(float).ravel())
    x = np.array(rows, dtype=float).reshape(len(rows), grid * grid)
    total = x.sum(axis=1, keepdims=True)
    return np.where(total > 0, x / np.where(total > 0, total, 1), 1.0 / (grid * grid))


def knn_affinity(x: np.ndarray, k: int = 10) -> sparse.csr_matrix:
    """Symmetric kNN connectivity: ``i ~ j`` when either is among the other's k nearest.

    ``k`` is capped at ``n - 1``. Euclidean distance on the normalised pooled maps.
    """
    n = x.shape[0]
    a = kneighbors_graph(x, n_neighbors=min(k, n - 1), mode="connectivity", include_self=False)
    return sparse.csr_matrix(a.maximum(a.T))


def normalized_laplacian(affinity: sparse.spmatrix | np.ndarray) -> np.ndarray:
    """``I - D^-1/2 W D^-1/2`` as a dense array (``scipy.sparse.csgraph.laplacian``)."""
    lap = csgraph.laplacian(sparse.csr_matrix(affinity, dtype=float), normed=True)
    return np.asarray(lap.toarray())


def spectral_strategies(
    heatmaps: Sequence[np.ndarray] | np.ndarray,
    *,
    grid: int = 8,
    n_neighbors: int = 10,
    max_k: int = 8,
    min_size: int = 5,
    n_eigen: int = 10,
    gap: str = "relative",
    seed: int = 0,
) -> StrategyClusters:
    """Cluster one group of heatmaps (e.g. one predicted class) spectrally.

    k is the argmax of the eigengap over ``2 <= k <= max_k`` (``k`` near-zero eigenvalues
    mean ``k`` nearly disconnected groups). The default ``gap="relative"`` uses
    ``(lambda_k - lambda_{k-1}) / lambda_k`` (0 when ``lambda_k`` is 0): within each
    strategy the kNN graph of jittered maps has its own spread-out spectrum whose absolute
    gaps can exceed the gap after the strategies, so the paper's absolute gap
    (``gap="absolute"``, ``lambda_k - lambda_{k-1}``) over-splits; the relative gap is 1
    exactly at the number of disconnected groups and is scale-free. k-means
    (``n_init=10``, seeded) runs on the first ``k`` eigenvectors with rows scaled to unit
    length (Ng, Jordan and Weiss). While a cluster is smaller than ``min_size``, k drops
    by one and k-means reruns. A group of fewer than ``2 * min_size`` maps is one cluster.

    Args:
        heatmaps: the group's heatmaps, or maps already pooled to ``grid x grid``.
        grid: pooled grid side.
        n_neighbors: k of the kNN graph (capped at ``n - 1``).
        max_k: most clusters considered.
        min_size: fewest maps a cluster may hold.
        n_eigen: eigenvalues returned (at least ``max_k + 1`` are computed).
        gap: ``"relative"`` or ``"absolute"`` eigengap.
        seed: seed of k-means.

    Returns:
        The clusters, the spectrum and the mean pooled map per cluster.
    """
    x = pool_heatmaps(heatmaps, grid)
    n = x.shape[0]
    if n < 2 * min_size:
        note = f"{n} maps, fewer than 2 x min_size = {2 * min_size}: one cluster"
        return _result(x, np.zeros(n, int), [], [], grid, note)
    lap = normalized_laplacian(knn_affinity(x, n_neighbors))
    m = min(n, max(n_eigen, max_k + 1))
    values, vectors = linalg.eigh(lap, subset_by_index=[0, m - 1])
    values = np.where(values < _ZERO, 0.0, values)  # round-off: exact zeros stay zero
    gaps = _gaps(values, gap)
    top = min(max_k, m - 1)
    k = int(np.argmax(gaps[1:top]) + 2) if top >= 2 else 1  # gaps[i - 1] sits at k = i
    note = ""
    while True:
        labels = _kmeans(vectors[:, :k], k, seed) if k > 1 else np.zeros(n, int)
        smallest = int(np.bincount(labels).min())
        if smallest >= min_size or k == 1:
            break
        note = f"eigengap chose more clusters; reduced to k = {k - 1} for min_size {min_size}"
        k -= 1
    return _result(x, labels, values[:n_eigen].tolist(), gaps[: n_eigen - 1].tolist(), grid, note)


def describe_clusters(
    clusters: StrategyClusters,
    artefact_mass: Sequence[float | None],
    correct: Sequence[bool] | None = None,
    center: Sequence[Hashable] | None = None,
    *,
    min_mass_excess: float = 0.1,
    min_center_share: float = 0.6,
    alpha: float = 0.05,
) -> list[ClusterDescription]:
    """Describe each cluster and mark suspect ones.

    A cluster is ``suspect`` when its artefact (or border) mass is clearly above the rest
    of the class: the mean exceeds the rest's by at least ``min_mass_excess`` (default
    0.1, a tenth of the heatmap) AND a one-sided Mann-Whitney U test says so at ``alpha``
    (guards against a few images); AND, when centers are given, one center makes up at
    least ``min_center_share`` (default 0.6, well above a third for three centers) of the
    cluster and more than its share of the whole class (a cluster from the class's usual
    center is not a hospital signature).

    Args:
        clusters: output of :func:`spectral_strategies`.
        artefact_mass: per image the heatmap mass on artefacts or the border (``None``
            when undefined; left out of the means).
        correct: per image whether the prediction was right.
        center: per image its hospital/center.
        min_mass_excess: least mass excess over the rest of the class.
        min_center_share: least share of the dominant center in the cluster.
        alpha: level of the Mann-Whitney test.

    Returns:
        One description per cluster, in cluster order.
    """
    labels = np.asarray(clusters.labels)
    n = len(labels)
    mass = np.array([np.nan if v is None else float(v) for v in artefact_mass])
    if len(mass) != n or (correct is not None and len(correct) != n):
        raise ValueError("per-image extras must have one value per clustered map")
    if center is not None and len(center) != n:
        raise ValueError("center must have one value per clustered map")
    centers = [str(c) for c in center] if center is not None else None
    class_share = Counter(centers) if centers else Counter()
    out = []
    for c in range(clusters.k):
        inside = labels == c
        m_in, m_out = mass[inside & ~np.isnan(mass)], mass[~inside & ~np.isnan(mass)]
        mean_in = float(m_in.mean()) if len(m_in) else None
        mean_out = float(m_out.mean()) if len(m_out) else None
        excess = None if mean_in is None or mean_out is None else mean_in - mean_out
        p = None
        if excess is not None and np.ptp(np.concatenate([m_in, m_out])) > 0:
            p = float(stats.mannwhitneyu(m_in, m_out, alternative="greater").pvalue)
        made_up = Counter(centers[i] for i in np.flatnonzero(inside)) if centers else Counter()
        dominant, count = made_up.most_common(1)[0] if made_up else (None, 0)
        share = count / int(inside.sum()) if dominant is not None else None
        usual = class_share[dominant] / n if dominant is not None else None
        mass_ok = excess is not None and excess >= min_mass_excess and p is not None and p < alpha
        center_ok = centers is None or (
            share is not None and share >= min_center_share and usual is not None and share > usual
        )
        reason = (
            f"mass excess {_fmt(excess)} (needs >= {min_mass_excess}, p {_fmt(p)} < {alpha}); "
            + (
                "no centers given"
                if centers is None
                else f"center {dominant} makes {_fmt(share)} (needs >= {min_center_share} and "
                f"more than its class share {_fmt(usual)})"
            )
        )
        acc = None
        if correct is not None and inside.any():
            acc = float(np.mean(np.asarray(correct, dtype=bool)[inside]))
        out.append(
            ClusterDescription(
                cluster=c,
                size=int(inside.sum()),
                share=float(inside.mean()),
                mean_artefact_mass=mean_in,
                rest_artefact_mass=mean_out,
                mass_excess=excess,
                mass_p=p,
                accuracy=acc,
                centers=dict(sorted(made_up.items())),
                dominant_center=dominant,
                dominant_center_share=share,
                suspect=bool(mass_ok and center_ok),
                reason=reason,
            )
        )
    return out


def _gaps(values: np.ndarray, kind: str) -> np.ndarray:
    diff = np.diff(values)
    if kind == "absolute":
        return diff
    if kind != "relative":
        raise ValueError(f"gap must be 'relative' or 'absolute', not {kind!r}")
    upper = values[1:]
    return np.where(upper > _ZERO, diff / np.where(upper > _ZERO, upper, 1.0), 0.0)


def _kmeans(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = vectors / np.where(norms > 0, norms, 1)
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(rows)


def _result(
    x: np.ndarray,
    labels: np.ndarray,
    values: list[float],
    gaps: list[float],
    grid: int,
    note: str,
) -> StrategyClusters:
    """Renumber clusters by size (largest first, ties by first member) and average maps."""
    sizes = Counter(labels.tolist())
    first = {c: int(np.flatnonzero(labels == c)[0]) for c in sizes}
    order = sorted(sizes, key=lambda c: (-sizes[c], first[c]))
    new = np.empty_like(labels)
    for rank, c in enumerate(order):
        new[labels == c] = rank
    maps = [x[new == c].mean(axis=0).reshape(grid, grid).tolist() for c in range(len(order))]
    return StrategyClusters(new.tolist(), len(order), values, gaps, maps, note)


def _fmt(v: float | None) -> str:
    return "undefined" if v is None else f"{v:.3g}"
