"""Turn the audit's per-image scores into the leaderboard, the checks and the verdict.

A candidate is *recommended* when it passes the sanity check, is clearly
more faithful than the random baseline (the paired bootstrap interval of the
ROAD difference lies above zero) and clearly localises better than the centre
baseline (a map no better than pointing at the middle of the film deserves no
belief about where the lesion is); among those, the best mean of the ranking
score wins. The default ranking score, ``localisation``, is the mean of the
pointing-game hit and the relevance mass per image: either alone can be won
by a map's shape (a sharp map concentrates mass without finding the lesion
more often; a broad one hits without concentrating), and both have the tumour
area fraction as their chance level, so their mean has it too. Every mean
carries its bootstrap interval and stands beside the
chance level (the mean tumour area fraction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assurexray.core.text import number
from assurexray.evaluation.statistics import (
    Estimate,
    bootstrap_mean,
    clearly_above,
    paired_difference,
)

RANK_SCORES = ("localisation", "relevance_mass", "hit_rate", "mean_iou", "mean_otsu_iou")
_PER_IMAGE = {"hit_rate": "hit", "relevance_mass": "relevance_mass", "mean_otsu_iou": "otsu_iou"}


@dataclass
class Scores:
    """Everything measured for one candidate or baseline."""

    name: str
    method: str
    layers: tuple[str, ...]
    is_baseline: bool = False
    per_image: list[dict[str, Any]] = field(default_factory=list)  # localisation, one per image
    classes: list[str] = field(default_factory=list)
    faithfulness: list[float] = field(default_factory=list)
    stability: list[float] = field(default_factory=list)
    adversarial: list[float] = field(default_factory=list)  # SSIM, kept (image, attack) pairs
    adversarial_flips: list[bool] = field(default_factory=list)  # every (image, attack) pair
    sanity: dict[str, Any] | None = None

    def series(self, score: str, threshold: str) -> list[float | None]:
        """One value per image of a ranking score."""
        if score == "mean_iou":
            return [entry["iou"][threshold] for entry in self.per_image]
        if score == "localisation":  # hit and mass share one chance level: so does their mean
            return [(float(e["hit"]) + e["relevance_mass"]) / 2 for e in self.per_image]
        key = _PER_IMAGE[score]
        return [None if entry[key] is None else float(entry[key]) for entry in self.per_image]


def _estimate_fields(name: str, estimate: Estimate) -> dict[str, Any]:
    return {name: estimate.mean, f"{name}_ci": estimate.interval}


def localisation(scores: Scores, thresholds: Sequence[str], seed: int, rows: Sequence[int]) -> dict:
    """Means with intervals of every localisation score over the images ``rows``."""
    subset = Scores(scores.name, scores.method, scores.layers)
    subset.per_image = [scores.per_image[i] for i in rows]
    out: dict[str, Any] = {"num_images": len(rows)}
    for score in RANK_SCORES:
        out.update(
            _estimate_fields(score, bootstrap_mean(subset.series(score, thresholds[0]), seed=seed))
        )
    out["mean_iou_by_threshold"] = {
        t: bootstrap_mean([e["iou"][t] for e in subset.per_image], seed=seed).mean
        for t in thresholds
    }
    return out


def summarise(
    scores: Sequence[Scores],
    *,
    thresholds: Sequence[str],
    rank_by: str,
    seed: int,
    chance: Sequence[float],
    seed_candidate: str | None,
) -> dict[str, Any]:
    """The report's ``candidates``, ``baselines``, ``recommended`` and ``verdict``."""
    if rank_by not in RANK_SCORES:
        raise ValueError(f"rank_by must be one of {', '.join(RANK_SCORES)}, not {rank_by!r}")
    by_name = {s.name: s for s in scores}
    random_road = by_name["random"].faithfulness if "random" in by_name else []
    centre = by_name.get("centre")
    class_names = sorted(set(scores[0].classes)) if scores else []
    entries = []
    for item in scores:
        entry: dict[str, Any] = {
            "name": item.name,
            "method": item.method,
            "layers": list(item.layers),
        }
        entry.update(localisation(item, thresholds, seed, range(len(item.per_image))))
        entry["per_class"] = {
            c: localisation(
                item, thresholds, seed, [i for i, k in enumerate(item.classes) if k == c]
            )
            for c in class_names
        }
        entry.update(_estimate_fields("faithfulness", bootstrap_mean(item.faithfulness, seed=seed)))
        stability = bootstrap_mean(item.stability, seed=seed)
        entry.update(_estimate_fields("stability_ssim", stability))
        entry["stability_ssim_worst"] = min(item.stability) if item.stability else None
        if not item.is_baseline:
            adversarial = bootstrap_mean(item.adversarial, seed=seed)
            entry.update(_estimate_fields("adversarial_ssim", adversarial))
            entry["adversarial_ssim_worst"] = min(item.adversarial) if item.adversarial else None
            flips = bootstrap_mean([float(f) for f in item.adversarial_flips], seed=seed)
            entry.update(_estimate_fields("adversarial_flip_share", flips))
        entry["sanity"] = item.sanity
        if item.faithfulness and random_road and item.name != "random":
            gain = paired_difference(item.faithfulness, random_road, seed=seed)
            entry["faithfulness_vs_random"] = {
                "difference": gain.mean,
                "ci": gain.interval,
                "beats_random": clearly_above(gain),
            }
        if centre is not None and item.name != "centre":
            gain = paired_difference(
                item.series(rank_by, thresholds[0]),
                centre.series(rank_by, thresholds[0]),
                seed=seed,
            )
            entry["vs_centre"] = {
                "score": rank_by,
                "difference": gain.mean,
                "ci": gain.interval,
                "beats_centre": clearly_above(gain),
            }
        entry["eligible"] = bool(
            not item.is_baseline
            and (item.sanity or {}).get("passed") is True
            and entry.get("faithfulness_vs_random", {}).get("beats_random") is True
            and entry.get("vs_centre", {"beats_centre": True})["beats_centre"] is True
        )
        entries.append(entry)
    candidates = sorted(
        (e for e, s in zip(entries, scores, strict=True) if not s.is_baseline),
        key=lambda e: _rank_key(e, rank_by),
    )
    baselines = [e for e, s in zip(entries, scores, strict=True) if s.is_baseline]
    for rank, entry in enumerate(candidates, start=1):
        entry["rank"] = rank
    eligible = [e for e in candidates if e["eligible"]]
    recommended = eligible[0]["name"] if eligible else None
    chance_estimate = bootstrap_mean(chance, seed=seed)
    return {
        "rank_by": rank_by,
        "chance_level": chance_estimate.mean,
        "chance_level_ci": chance_estimate.interval,
        "candidates": candidates,
        "baselines": baselines,
        "recommended": recommended,
        "seed_candidate": seed_candidate,
        "verdict": verdict(candidates, baselines, recommended, rank_by, seed_candidate),
    }


def _rank_key(entry: dict[str, Any], rank_by: str) -> tuple[float, float]:
    value = entry.get(rank_by)
    return (-(value if value is not None else -np.inf), -(entry.get("hit_rate") or 0.0))


def verdict(
    candidates: list[dict[str, Any]],
    baselines: list[dict[str, Any]],
    recommended: str | None,
    rank_by: str,
    seed_candidate: str | None,
) -> list[str]:
    """Plain sentences: what to use, what fails and why, how the default compares."""
    lines = []
    label = rank_by.replace("_", " ")
    if recommended is None:
        failed_sanity = [
            e["name"] for e in candidates if (e["sanity"] or {}).get("passed") is False
        ]
        lines.append(
            "No candidate is trustworthy: none passes the sanity check, is clearly more "
            "faithful than a random map and clearly localises better than the centre baseline "
            f"({len(failed_sanity)} of {len(candidates)} fail the sanity check)."
        )
    else:
        best = next(e for e in candidates if e["name"] == recommended)
        lines.append(
            f"Recommended: {recommended} — {label} {_fmt(best.get(rank_by))} "
            f"{_fmt_ci(best.get(rank_by + '_ci'))}; it passes the sanity check and is more "
            "faithful than a random map."
        )
    centre = next((b for b in baselines if b["name"] == "centre"), None)
    for entry in candidates:
        if entry["name"] != seed_candidate or centre is None:
            continue
        versus = entry.get("vs_centre", {})
        beaten = "beats" if versus.get("beats_centre") else "does NOT clearly beat"
        lines.append(
            f"{seed_candidate} (the configured heatmap) {beaten} the centre baseline on {label}: "
            f"{_fmt(entry.get(rank_by))} vs {_fmt(centre.get(rank_by))}."
        )
    not_centre = [e["name"] for e in candidates if not e.get("vs_centre", {}).get("beats_centre")]
    if not_centre:
        lines.append(f"{len(not_centre)} candidates do not clearly beat the centre baseline.")
    return lines


def _fmt(value: float | None) -> str:
    return number(value, 3)


def _fmt_ci(interval: list[float] | None) -> str:
    return "" if not interval else f"[{interval[0]:.3f}, {interval[1]:.3f}]"
