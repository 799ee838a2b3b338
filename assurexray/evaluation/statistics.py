"""Means with seeded bootstrap confidence intervals, and paired comparisons.

Every score the audit reports is a mean over images; its uncertainty is a
95 % percentile bootstrap interval over images from :func:`scipy.stats.bootstrap`,
seeded so a rerun gives the same numbers. A difference between two heatmaps on
the same images is judged with a paired bootstrap of the per-image differences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 2000


@dataclass(frozen=True)
class Estimate:
    """A mean over images and its bootstrap confidence interval.

    Attributes:
        mean: Mean of the finite values (None if there are none).
        low: Lower end of the interval (None with fewer than two values).
        high: Upper end of the interval.
        count: How many finite values went in.
    """

    mean: float | None
    low: float | None
    high: float | None
    count: int

    @property
    def interval(self) -> list[float] | None:
        """``[low, high]`` for a report, or None when undefined."""
        return None if self.low is None or self.high is None else [self.low, self.high]


def finite(values: Sequence[float | bool | None] | np.ndarray) -> np.ndarray:
    """The values as float64 with None and NaN left out."""
    array = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return array[np.isfinite(array)]


def bootstrap_mean(
    values: Sequence[float | bool | None] | np.ndarray,
    *,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
) -> Estimate:
    """Mean of ``values`` with a seeded percentile bootstrap interval.

    None and NaN (an undefined score, e.g. the IoU of two empty regions) are
    left out. With one value the interval is undefined; with identical values
    it is that value.
    """
    data = finite(values)
    if data.size == 0:
        return Estimate(None, None, None, 0)
    mean = float(data.mean())
    interval = bootstrap_interval(
        (data,), np.mean, seed=seed, confidence=confidence, resamples=resamples
    )
    if interval is None:
        return Estimate(mean, None, None, int(data.size))
    return Estimate(mean, interval[0], interval[1], int(data.size))


def bootstrap_interval(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., Any],
    *,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    paired: bool = False,
) -> list[float] | None:
    """Seeded percentile bootstrap interval of ``statistic`` over one or more samples.

    Args:
        data: The samples (one array, or several of equal length with ``paired``).
        statistic: Vectorised statistic taking one array per sample and ``axis``
            (e.g. ``np.mean``), as :func:`scipy.stats.bootstrap` calls it.
        seed: Seed of the resampling; the same seed gives the same interval.
        confidence: Level of the interval.
        resamples: Bootstrap resamples.
        paired: Resample the samples' items together (e.g. a ratio of two means).

    Returns:
        ``[low, high]``; ``None`` with fewer than two values or a non-finite end;
        the point itself when every sample is constant.
    """
    if len(data[0]) < 2:
        return None
    if all(np.ptp(d) == 0 for d in data):  # constant data: the interval is the point
        value = float(statistic(*data))
        return [value, value] if np.isfinite(value) else None
    from scipy.stats import bootstrap

    result = bootstrap(
        data,
        statistic,
        paired=paired,
        vectorized=True,
        confidence_level=confidence,
        n_resamples=resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return [low, high] if np.isfinite(low) and np.isfinite(high) else None


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> list[float] | None:
    """Wilson score interval ``[low, high]`` of a proportion (``scipy.stats.binomtest``).

    ``None`` when ``n`` is 0. Used for every rate (peak on an artefact, flips, accuracy).
    """
    if n == 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(n)).proportion_ci(confidence, method="wilson")
    return [float(ci.low), float(ci.high)]


def paired_difference(
    first: Sequence[float | bool | None],
    second: Sequence[float | bool | None],
    *,
    seed: int = 0,
) -> Estimate:
    """Mean of ``first - second`` over the images where both are defined, with its interval."""
    if len(first) != len(second):
        raise ValueError(f"paired scores differ in length: {len(first)} and {len(second)}")
    a = np.array([np.nan if v is None else float(v) for v in first], dtype=np.float64)
    b = np.array([np.nan if v is None else float(v) for v in second], dtype=np.float64)
    both = np.isfinite(a) & np.isfinite(b)
    return bootstrap_mean(list(a[both] - b[both]), seed=seed)


def clearly_above(difference: Estimate) -> bool:
    """True when the whole interval of a difference lies above zero."""
    return difference.low is not None and difference.low > 0
