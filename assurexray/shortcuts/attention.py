"""How much of a heatmap falls on artefacts (markers, text), and is that more than chance?

Notation: ``H`` is the ReLU'd heatmap in the original image frame (not min-max rescaled)
and ``A`` the dilated artefact mask of the same shape.

* :func:`attention_on` measures one image: mass ``M = sum(H[A]) / sum(H)``, area
  ``a = |A| / |image|``, enrichment ``E = M / a`` and whether the peak of ``H`` is in ``A``.
* :func:`permutation_p_value` (from :mod:`assurexray.shortcuts.attention_null`) compares the
  observed mass with the masses of null masks (the same shapes moved elsewhere in the same
  border band; the caller makes them).
* :func:`summarise_attention` aggregates images (overall and per group) with seeded
  bootstrap and Wilson intervals and a combined p-value; :func:`flag_attention` decides.

Every output is JSON-ready: floats, ints, bools, lists, dicts and ``None`` for undefined.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from scipy import stats

from assurexray.evaluation.statistics import bootstrap_interval, wilson_interval
from assurexray.shortcuts.attention_null import (  # noqa: F401 (permutation_p_value: re-exported)
    permutation_p_value,
    relu_heatmap,
)


@dataclass(frozen=True)
class RegionAttention:
    """Attention of one heatmap on one region.

    Attributes:
        mass: share of the heatmap's total on the region, ``None`` when the heatmap is all 0.
        area: share of the image's pixels in the region.
        enrichment: ``mass / area``; 1 means "as much as its size"; ``None`` when undefined.
        peak_inside: whether the heatmap's maximum (first in row-major order) is in the
            region; ``False`` for an all-zero heatmap, which has no peak.
    """

    mass: float | None
    area: float
    enrichment: float | None
    peak_inside: bool


@dataclass(frozen=True)
class AttentionSummary:
    """Attention on artefacts over a set of images.

    Attributes:
        n: images given.
        n_defined: images whose mass is defined (heatmap not all zero); the means use these.
        mean_mass, mass_ci: mean of ``M`` and its percentile bootstrap interval.
        mean_area, area_ci: mean of ``a`` and its interval.
        enrichment, enrichment_ci: ratio of means ``mean(M) / mean(a)`` and its interval
            (images resampled in pairs). Chosen over the mean of ratios because ``M / a``
            explodes for tiny markers (a 0.1 % marker can give ``E = 1000``) and is undefined
            for ``a = 0``; the ratio of means is the pooled "share of attention per share of
            area" and is stable.
        peak_rate, peak_ci: share of images whose peak is on an artefact, Wilson interval.
        combined_p: combined one-sided p-value of the per-image permutation tests, ``None``
            when no p-values were given.
        p_method: ``"fisher"`` or ``"binomial"`` (see :func:`summarise_attention`).
        n_p: per-image p-values combined.
        confidence: level of every interval.
        groups: ``{grouping: {level: AttentionSummary}}`` for each grouping given.
    """

    n: int
    n_defined: int
    mean_mass: float | None
    mass_ci: list[float] | None
    mean_area: float | None
    area_ci: list[float] | None
    enrichment: float | None
    enrichment_ci: list[float] | None
    peak_rate: float | None
    peak_ci: list[float] | None
    combined_p: float | None
    p_method: str
    n_p: int
    confidence: float
    groups: dict[str, dict[str, AttentionSummary]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready types (nested group summaries included)."""
        return asdict(self)


@dataclass(frozen=True)
class AttentionDecision:
    """Outcome of :func:`flag_attention`.

    Attributes:
        flagged: whether attention on artefacts is both significant and enriched.
        reason: one sentence saying why (or why not).
    """

    flagged: bool
    reason: str


def attention_on(heatmap: np.ndarray, mask: np.ndarray) -> RegionAttention:
    """Measure how much of ``heatmap`` falls on ``mask``.

    Args:
        heatmap: 2-D heatmap in the image frame; negative values are clipped to 0 (ReLU).
        mask: boolean (or 0/1) array of the same shape; True marks the artefact region.

    Returns:
        The mass, area, enrichment and peak-inside of the region.

    Raises:
        ValueError: if the shapes differ, the heatmap is not 2-D or has non-finite values.
    """
    h = relu_heatmap(heatmap)
    a = _as_mask(mask, h.shape)
    total = float(h.sum())
    area = float(a.mean())
    mass = float(h[a].sum()) / total if total > 0 else None
    enrichment = mass / area if (mass is not None and area > 0) else None
    peak_inside = bool(total > 0 and a.flat[int(np.argmax(h))])
    return RegionAttention(mass=mass, area=area, enrichment=enrichment, peak_inside=peak_inside)


def summarise_attention(
    per_image: Sequence[RegionAttention],
    groups: Mapping[str, Sequence[Hashable]] | Sequence[Hashable] | None = None,
    seed: int = 0,
    *,
    p_values: Sequence[float | None] | None = None,
    p_method: str = "fisher",
    confidence: float = 0.95,
    n_resamples: int = 2000,
) -> AttentionSummary:
    """Aggregate per-image attention, overall and per group.

    The combined p-value tests "no image puts more mass on its artefacts than its null
    masks do". ``"fisher"`` (default) is Fisher's method (``scipy.stats.combine_pvalues``):
    powerful when many images each show a little; valid for the super-uniform permutation
    p-values (it is then conservative). ``"binomial"`` is a one-sided binomial test of the
    number of images with ``p < 0.05`` against ``Binomial(n, 0.05)``: it asks "do more
    images than chance show it?" and is robust to a few extreme images.

    Args:
        per_image: one :class:`RegionAttention` per image (on that image's artefact mask).
        groups: labels per image, either one sequence or ``{name: sequence}`` (e.g.
            ``{"predicted": [...], "center": [...]}``); each level gets its own summary.
        seed: seed of the bootstrap; the same seed gives the same intervals.
        p_values: per-image permutation p-values (``None`` entries are skipped).
        p_method: ``"fisher"`` or ``"binomial"``.
        confidence: level of the bootstrap and Wilson intervals.
        n_resamples: bootstrap resamples.

    Returns:
        The summary; undefined statistics are ``None``.

    Raises:
        ValueError: if lengths differ or ``p_method`` is unknown.
    """
    if p_method not in ("fisher", "binomial"):
        raise ValueError(f"p_method must be 'fisher' or 'binomial', not {p_method!r}")
    n = len(per_image)
    if p_values is not None and len(p_values) != n:
        raise ValueError(f"{len(p_values)} p-values for {n} images")
    grouped: dict[str, dict[str, AttentionSummary]] = {}
    if groups is not None:
        named = dict(groups) if isinstance(groups, Mapping) else {"group": groups}
        for name, labels in named.items():
            if len(labels) != n:
                raise ValueError(f"group {name!r} has {len(labels)} labels for {n} images")
            levels: dict[str, AttentionSummary] = {}
            for level in sorted({str(v) for v in labels}):
                idx = [i for i, v in enumerate(labels) if str(v) == level]
                levels[level] = _summarise(
                    [per_image[i] for i in idx],
                    None if p_values is None else [p_values[i] for i in idx],
                    seed, p_method, confidence, n_resamples,
                )  # fmt: skip
            grouped[str(name)] = levels
    overall = _summarise(list(per_image), p_values, seed, p_method, confidence, n_resamples)
    return replace(overall, groups=grouped)


def flag_attention(
    summary: AttentionSummary, alpha: float = 0.05, min_enrichment: float = 1.0
) -> AttentionDecision:
    """Flag attention on artefacts that is both significant and enriched.

    Flagged when the combined p-value is below ``alpha`` AND the lower end of the
    enrichment interval lies above ``min_enrichment``. The default 1.0 means "more
    attention than the artefacts' share of the image"; raise it (e.g. to 2) to flag only
    strong reliance. Both conditions are needed: the test alone flags tiny but consistent
    excesses on large data sets, the interval alone ignores where the null masks look.

    Args:
        summary: output of :func:`summarise_attention`.
        alpha: level of the combined test.
        min_enrichment: the enrichment the interval must exceed.

    Returns:
        The decision and its reason.
    """
    if summary.combined_p is None:
        return AttentionDecision(False, "no per-image p-values to combine")
    if summary.enrichment_ci is None:
        return AttentionDecision(False, "enrichment undefined (no images with artefact area)")
    significant = summary.combined_p < alpha
    enriched = summary.enrichment_ci[0] > min_enrichment
    text = (
        f"combined p = {summary.combined_p:.3g} ({'<' if significant else '>='} {alpha}); "
        f"enrichment {summary.enrichment:.3g}, interval low {summary.enrichment_ci[0]:.3g} "
        f"({'>' if enriched else '<='} {min_enrichment})"
    )
    return AttentionDecision(bool(significant and enriched), text)


def _summarise(
    items: list[RegionAttention],
    p_values: Sequence[float | None] | None,
    seed: int,
    p_method: str,
    confidence: float,
    n_resamples: int,
) -> AttentionSummary:
    defined = [r for r in items if r.mass is not None]
    mass = np.array([r.mass for r in defined], dtype=float)
    area = np.array([r.area for r in defined], dtype=float)
    peaks = sum(r.peak_inside for r in defined)
    enrichment = float(mass.mean() / area.mean()) if defined and area.sum() > 0 else None
    enrichment_ci = None
    if enrichment is not None:
        enrichment_ci = _bootstrap(
            (mass, area), _ratio_of_means, seed, confidence, n_resamples, paired=True
        )
    ps = [float(p) for p in (p_values or []) if p is not None]
    return AttentionSummary(
        n=len(items),
        n_defined=len(defined),
        mean_mass=float(mass.mean()) if defined else None,
        mass_ci=_bootstrap((mass,), np.mean, seed, confidence, n_resamples),
        mean_area=float(area.mean()) if defined else None,
        area_ci=_bootstrap((area,), np.mean, seed, confidence, n_resamples),
        enrichment=enrichment,
        enrichment_ci=enrichment_ci,
        peak_rate=peaks / len(defined) if defined else None,
        peak_ci=wilson_interval(peaks, len(defined), confidence),
        combined_p=_combine(ps, p_method),
        p_method=p_method,
        n_p=len(ps),
        confidence=confidence,
    )


def _combine(ps: list[float], method: str) -> float | None:
    if not ps:
        return None
    if method == "fisher":
        return float(stats.combine_pvalues(ps, method="fisher").pvalue)
    hits = sum(p < 0.05 for p in ps)
    return float(stats.binomtest(hits, len(ps), 0.05, alternative="greater").pvalue)


def _ratio_of_means(mass: np.ndarray, area: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean(mass, axis=axis) / np.mean(area, axis=axis)


def _bootstrap(
    data: tuple[np.ndarray, ...],
    statistic: Any,
    seed: int,
    confidence: float,
    n_resamples: int,
    paired: bool = False,
) -> list[float] | None:
    return bootstrap_interval(
        data, statistic, seed=seed, confidence=confidence, resamples=n_resamples, paired=paired
    )


def _as_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(mask).astype(bool)
    if a.shape != shape:
        raise ValueError(f"mask has shape {a.shape}, the heatmap {shape}")
    return a
