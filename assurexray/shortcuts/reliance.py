"""Does removing the artefacts change the prediction more than removing something else?

Per image the caller gives the probability of the explained class on the original image,
after inpainting the artefacts, and after a control inpainting (the same shapes at random
places off the artefacts and off the tumour), plus the predicted labels of the three.
:func:`reliance_effects` summarises both arms and compares them with paired tests;
:func:`flag_reliance` decides. Outputs are JSON-ready (``None`` for undefined, never NaN).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from assurexray.evaluation.statistics import bootstrap_mean, wilson_interval

#: Probabilities are clipped to ``[EPS, 1 - EPS]`` before taking log-odds.
EPS = 1e-6
#: Fewest non-zero paired differences for the Wilcoxon test: with 4 the exact one-sided
#: p-value cannot go below 1/16 = 0.0625, so the test could never reject at 0.05.
MIN_WILCOXON_PAIRS = 5


@dataclass(frozen=True)
class ArmEffect:
    """The effect of one inpainting (artefacts or control) over the images.

    Attributes:
        mean_dp, dp_ci: mean of ``p_new - p_original`` and its percentile bootstrap interval.
        mean_abs_dp, abs_dp_ci: mean of ``|p_new - p_original|`` and its interval.
        mean_dlogodds, dlogodds_ci: mean change of the log-odds and its interval.
        flip_rate, flip_ci: share of images whose predicted label changed, Wilson interval.
        n_flips: images whose label changed.
        flips: ``[{"from": a, "to": b, "count": c}]`` for each change, most frequent first.
    """

    mean_dp: float | None
    dp_ci: list[float] | None
    mean_abs_dp: float | None
    abs_dp_ci: list[float] | None
    mean_dlogodds: float | None
    dlogodds_ci: list[float] | None
    flip_rate: float | None
    flip_ci: list[float] | None
    n_flips: int
    flips: list[dict[str, Any]]


@dataclass(frozen=True)
class PairedTest:
    """A one-sided paired test (artefact removal matters more than the control).

    Attributes:
        name: ``"wilcoxon"`` or ``"mcnemar"``.
        statistic: the test statistic (Wilcoxon ``W+``; McNemar: artefact-only flips).
        p_value: one-sided p-value, ``None`` when the test is undefined.
        n_used: pairs the test used (non-zero differences; discordant pairs).
        note: why the p-value is ``None``, else empty.
    """

    name: str
    statistic: float | None
    p_value: float | None
    n_used: int
    note: str = ""


@dataclass(frozen=True)
class RelianceResult:
    """Both arms and their paired comparisons (see :func:`reliance_effects`)."""

    n: int
    artefact: ArmEffect
    control: ArmEffect
    wilcoxon: PairedTest
    mcnemar: PairedTest
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready types."""
        return asdict(self)


@dataclass(frozen=True)
class RelianceDecision:
    """Outcome of :func:`flag_reliance`: whether flagged, and one sentence why."""

    flagged: bool
    reason: str


def reliance_effects(
    p_original: Sequence[float],
    p_removed: Sequence[float],
    p_control: Sequence[float],
    pred_original: Sequence[Hashable],
    pred_removed: Sequence[Hashable],
    pred_control: Sequence[Hashable],
    *,
    seed: int = 0,
    confidence: float = 0.95,
    n_resamples: int = 2000,
) -> RelianceResult:
    """Summarise the counterfactual removal of artefacts against a control removal.

    Paired tests, both one-sided ("artefact removal changes more"):

    * Wilcoxon signed-rank on ``|dp_artefact| - |dp_control|``
      (``scipy.stats.wilcoxon``, ``zero_method="wilcox"``: pairs with equal change carry
      no information on the direction and are dropped); ``None`` with fewer than
      :data:`MIN_WILCOXON_PAIRS` non-zero differences.
    * Exact McNemar: of the discordant pairs (label flips under one removal only), are
      the artefact-only flips more than half? ``scipy.stats.binomtest(b, b + c, 0.5,
      alternative="greater")``; ``None`` without discordant pairs.

    Args:
        p_original: probability of the explained class on the original images.
        p_removed: the same after inpainting the artefacts.
        p_control: the same after the control inpainting.
        pred_original: predicted labels on the original images.
        pred_removed: predicted labels after inpainting the artefacts.
        pred_control: predicted labels after the control inpainting.
        seed: seed of the bootstrap.
        confidence: level of the intervals.
        n_resamples: bootstrap resamples.

    Returns:
        The effects of both arms and the two paired tests.

    Raises:
        ValueError: if lengths differ or a probability is outside [0, 1] or not finite.
    """
    p0 = _probabilities(p_original, "p_original")
    p1 = _probabilities(p_removed, "p_removed")
    pc = _probabilities(p_control, "p_control")
    n = len(p0)
    others = {"p_removed": p1, "p_control": pc, "pred_original": pred_original}
    others.update(pred_removed=pred_removed, pred_control=pred_control)
    for name, seq in others.items():
        if len(seq) != n:
            raise ValueError(f"{name} has {len(seq)} values for {n} images")
    y0, y1, yc = (_plain_list(y) for y in (pred_original, pred_removed, pred_control))
    flip_a = np.array([a != b for a, b in zip(y0, y1, strict=True)], dtype=bool)
    flip_c = np.array([a != b for a, b in zip(y0, yc, strict=True)], dtype=bool)
    boot = (seed, confidence, n_resamples)
    return RelianceResult(
        n=n,
        artefact=_arm(p0, p1, y0, y1, flip_a, boot),
        control=_arm(p0, pc, y0, yc, flip_c, boot),
        wilcoxon=_wilcoxon(np.abs(p1 - p0) - np.abs(pc - p0)),
        mcnemar=_mcnemar(flip_a, flip_c),
        confidence=confidence,
    )


def flag_reliance(
    result: RelianceResult,
    alpha: float = 0.05,
    min_abs_dp: float = 0.05,
    min_flip_rate: float = 0.05,
) -> RelianceDecision:
    """Flag when removing the artefacts matters significantly AND materially more.

    Flagged when (Wilcoxon p < alpha / 2 AND mean ``|dp|`` exceeds the control's by at
    least ``min_abs_dp``) OR (McNemar p < alpha / 2 AND the flip rate exceeds the
    control's by at least ``min_flip_rate``). Halving alpha (Bonferroni over the two
    tests) keeps the chance of a false flag at most alpha. The effect is measured as the
    excess over the control because the inpainting itself disturbs the image; the control
    measures that disturbance. Defaults of 0.05: a 5-point probability shift, or one image
    in twenty changing its label, is the smallest change worth a reviewer's time.

    Args:
        result: output of :func:`reliance_effects`.
        alpha: family-wise level over the two tests.
        min_abs_dp: least excess of mean ``|dp|`` over the control.
        min_flip_rate: least excess of the flip rate over the control.

    Returns:
        The decision and its reason.
    """
    a, c = result.artefact, result.control
    level = alpha / 2
    dp_excess = _difference(a.mean_abs_dp, c.mean_abs_dp)
    flip_excess = _difference(a.flip_rate, c.flip_rate)
    by_dp = _below(result.wilcoxon.p_value, level) and dp_excess >= min_abs_dp
    by_flip = _below(result.mcnemar.p_value, level) and flip_excess >= min_flip_rate
    reason = (
        f"Wilcoxon p = {_fmt(result.wilcoxon.p_value)}, mean |dp| excess {dp_excess:.3g} "
        f"(needs p < {level:.3g} and >= {min_abs_dp}); McNemar p = {_fmt(result.mcnemar.p_value)}"
        f", flip-rate excess {flip_excess:.3g} (needs p < {level:.3g} and >= {min_flip_rate})"
    )
    return RelianceDecision(bool(by_dp or by_flip), reason)


def _arm(
    p0: np.ndarray,
    p1: np.ndarray,
    y0: list[Any],
    y1: list[Any],
    flipped: np.ndarray,
    boot: tuple[int, float, int],
) -> ArmEffect:
    dp = p1 - p0
    dlo = _logit(p1) - _logit(p0)
    n = len(dp)
    changes = Counter((a, b) for a, b in zip(y0, y1, strict=True) if a != b)
    flips = [{"from": a, "to": b, "count": k} for (a, b), k in changes.items()]
    flips.sort(key=lambda f: (-f["count"], str(f["from"]), str(f["to"])))
    return ArmEffect(
        mean_dp=float(dp.mean()) if n else None,
        dp_ci=_bootstrap_mean(dp, *boot),
        mean_abs_dp=float(np.abs(dp).mean()) if n else None,
        abs_dp_ci=_bootstrap_mean(np.abs(dp), *boot),
        mean_dlogodds=float(dlo.mean()) if n else None,
        dlogodds_ci=_bootstrap_mean(dlo, *boot),
        flip_rate=float(flipped.mean()) if n else None,
        flip_ci=wilson_interval(int(flipped.sum()), n, boot[1]),
        n_flips=int(flipped.sum()),
        flips=flips,
    )


def _wilcoxon(d: np.ndarray) -> PairedTest:
    nonzero = int(np.count_nonzero(d))
    if nonzero < MIN_WILCOXON_PAIRS:
        note = f"{nonzero} non-zero differences (needs {MIN_WILCOXON_PAIRS})"
        return PairedTest("wilcoxon", None, None, nonzero, note)
    res = stats.wilcoxon(d, zero_method="wilcox", alternative="greater")
    return PairedTest("wilcoxon", float(res.statistic), float(res.pvalue), nonzero)


def _mcnemar(flip_a: np.ndarray, flip_c: np.ndarray) -> PairedTest:
    b = int(np.count_nonzero(flip_a & ~flip_c))
    c = int(np.count_nonzero(~flip_a & flip_c))
    if b + c == 0:
        return PairedTest("mcnemar", float(b), None, 0, "no discordant pairs")
    p = stats.binomtest(b, b + c, 0.5, alternative="greater").pvalue
    return PairedTest("mcnemar", float(b), float(p), b + c)


def _bootstrap_mean(
    x: np.ndarray, seed: int, confidence: float, n_resamples: int
) -> list[float] | None:
    """Percentile bootstrap interval of the mean; ``None`` with fewer than 2 values."""
    return bootstrap_mean(x, seed=seed, confidence=confidence, resamples=n_resamples).interval


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, EPS, 1 - EPS)
    return np.log(q) - np.log1p(-q)


def _probabilities(p: Sequence[float], name: str) -> np.ndarray:
    x = np.asarray(p, dtype=float).ravel()
    if not np.all(np.isfinite(x)) or np.any((x < 0) | (x > 1)):
        raise ValueError(f"{name} must hold finite probabilities in [0, 1]")
    return x


def _plain_list(values: Sequence[Hashable]) -> list[Any]:
    """Labels as plain Python values (NumPy scalars become int/str) for JSON."""
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def _difference(a: float | None, b: float | None) -> float:
    return 0.0 if a is None or b is None else a - b


def _below(p: float | None, level: float) -> bool:
    return p is not None and p < level


def _fmt(p: float | None) -> str:
    return "undefined" if p is None else f"{p:.3g}"
