"""Means with seeded bootstrap confidence intervals, and paired comparisons.

Every score the audit reports is a mean over images; its uncertainty is a
95 % percentile bootstrap interval over images from :func:`scipy.stats.bootstrap`,
seeded so a rerun gives the same numbers. A difference between two heatmaps on
the same images is judged with a paired bootstrap of the per-image differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


def finite(values: Sequence[float | bool | None]) -> np.ndarray:
    """The values as float64 with None and NaN left out."""
    array = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return array[np.isfinite(array)]


def bootstrap_mean(
    values: Sequence[float | bool | None],
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
    if data.size == 1:
        return Estimate(mean, None, None, 1)
    if np.all(data == data[0]):
        return Estimate(mean, mean, mean, int(data.size))
    from scipy.stats import bootstrap

    result = bootstrap(
        (data,),
        np.mean,
        confidence_level=confidence,
        n_resamples=resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return Estimate(mean, float(interval.low), float(interval.high), int(data.size))


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
