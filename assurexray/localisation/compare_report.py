"""The ``compare`` job's report: mean scores overall and per class, and a summary.

Built from the per-image scores of :mod:`assurexray.localisation.compare`; written as
``annotation_report.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from assurexray.core.text import number, percent

if TYPE_CHECKING:
    from assurexray.localisation.image_choice import ImageChoice


def _mean(values: Sequence[Any]) -> float | None:
    numbers = np.array([v for v in values if v is not None], dtype=np.float64)
    if numbers.size == 0 or np.isnan(numbers).all():
        return None
    return float(np.nanmean(numbers))


def mean_scores(entries: Sequence[dict[str, Any]], thresholds: Sequence[float]) -> dict[str, Any]:
    """Mean of every score over ``entries`` (NaN IoUs of empty cases left out)."""
    keys = [f"{t:g}" for t in thresholds]
    return {
        "num_images": len(entries),
        "iou": {k: _mean([e["iou"][k] for e in entries]) for k in keys},
        "otsu_iou": _mean([e["otsu_iou"] for e in entries]),
        "hit_rate": _mean([float(e["hit"]) for e in entries]),
        "relevance_mass": _mean([e["relevance_mass"] for e in entries]),
        "mask_fraction": _mean([e["mask_fraction"] for e in entries]),
    }


def build_report(
    per_image: list[dict[str, Any]],
    counts: dict[str, dict[str, int]],
    choice: ImageChoice,
    *,
    names: tuple[str, ...],
    failures: list[dict[str, str]],
    method: str,
    excluded: Sequence[dict[str, str]] = (),
    interrupted: bool = False,
) -> dict[str, Any]:
    """The JSON report: per-image scores, means overall and per class, and a summary.

    ``excluded`` lists images left out of every mean (an empty tumour mask);
    ``interrupted`` marks a report of the images scored before a Ctrl-C.
    """
    overall = mean_scores(per_image, choice.thresholds)
    per_class = {
        c: {
            **mean_scores([e for e in per_image if e["class"] == c], choice.thresholds),
            **counts.get(c, {}),
        }
        for c in choice.classes
    }
    first = f"{choice.thresholds[0]:g}"
    return {
        "num_images": len(per_image),
        "iou_threshold": choice.thresholds[0],
        "mean_iou": overall["iou"][first],
        "mean_iou_by_threshold": overall["iou"],
        "mean_otsu_iou": overall["otsu_iou"],
        "hit_rate": overall["hit_rate"],
        "mean_relevance_mass": overall["relevance_mass"],
        "chance_level": overall["mask_fraction"],
        "per_class": per_class,
        "selection": choice.selection,
        "method": method,
        "class_names": list(names),
        "per_image": per_image,
        "errors": failures,
        "excluded": list(excluded),
        "interrupted": interrupted,
        "summary": summary_sentence(overall, first)
        + (" Interrupted: only the images scored before Ctrl-C." if interrupted else ""),
    }


def summary_sentence(overall: dict[str, Any], threshold: str) -> str:
    """One sentence stating the scores against their chance level."""
    if not overall["num_images"]:
        return "No image could be scored."

    chance = overall["mask_fraction"]
    return (
        f"Over {overall['num_images']} images, mean IoU at {threshold} is "
        f"{number(overall['iou'][threshold])} (Otsu {number(overall['otsu_iou'])}); "
        "the heatmap peak "
        f"fell inside the tumour in {percent(overall['hit_rate'])} of images and "
        f"{percent(overall['relevance_mass'])} of the heatmap mass lay inside it, against a chance "
        f"level of {percent(chance)} (the mean tumour area fraction)."
    )
