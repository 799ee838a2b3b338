"""The range each setting's value must lie in, checked once its type is right.

:func:`check_ranges` names the first key whose value is out of range, in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assurexray.core.errors import ConfigError


def colormap_names() -> tuple[str, ...]:
    """OpenCV's colour maps by name (``jet``, ``turbo``, ...), for the ``colormap`` setting."""
    import cv2  # imported only when settings are read

    return tuple(
        sorted(
            name[len("COLORMAP_") :].lower() for name in dir(cv2) if name.startswith("COLORMAP_")
        )
    )


def _known_colormap(value: str) -> bool:
    return value.strip().lower() in colormap_names()


def _positive(value: Any) -> bool:
    return value > 0


def _fraction(value: Any) -> bool:
    return 0.0 <= value <= 1.0


# Dotted key, the check its value must pass, and what the check means.
_RANGES: list[tuple[str, Any, str]] = [
    ("seed", lambda v: v >= 0, "at least 0"),
    ("max_pixels", _positive, "positive"),
    ("model.image_size", lambda v: v >= 16, "at least 16"),
    ("model.resize_mode", lambda v: v in ("letterbox", "stretch"), "letterbox or stretch"),
    ("model.interpolation", lambda v: v in ("area", "linear", "cubic"), "area, linear or cubic"),
    ("model.mean", lambda v: len(v) == 3, "three numbers (one per channel)"),
    ("model.std", lambda v: len(v) == 3 and min(v) > 0, "three positive numbers"),
    ("explain.alpha", _fraction, "between 0 and 1"),
    ("explain.colormap", _known_colormap, "an OpenCV colormap name (jet, turbo, inferno, ...)"),
    ("explain.rollout.head_fusion", lambda v: v in ("mean", "max", "min"), "mean, max or min"),
    ("explain.rollout.discard_ratio", lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    ("explain.attributions.n_steps", lambda v: v >= 2, "at least 2"),
    ("explain.attributions.n_samples", _positive, "positive"),
    ("explain.attributions.noise", lambda v: 0.0 <= v <= 1.0, "between 0 and 1"),
    ("explain.attributions.window", lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
    ("explain.attributions.stride", lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
    ("explain.attributions.internal_batch_size", _positive, "positive"),
    ("infer.batch_size", _positive, "positive"),
    ("infer.workers", _positive, "positive"),
    ("gallery.k", lambda v: 1 <= v <= 5, "between 1 and 5"),
    ("gallery.batch_size", _positive, "positive"),
    ("compare.per_class", _positive, "positive"),
    ("compare.thresholds", lambda v: v and all(map(_fraction, v)), "one or more values in [0, 1]"),
    ("compare.annotation_mode", lambda v: v in ("btxrd", "boxes", "all"), "btxrd, boxes or all"),
    ("compare.rows_per_page", _positive, "positive"),
    ("train.epochs", _positive, "positive"),
    ("train.batch_size", lambda v: v >= 2, "at least 2"),
    ("train.lr", _positive, "positive"),
    ("train.patience", _positive, "positive"),
    ("train.workers", _positive, "positive"),
    (
        "train.split_fractions",
        lambda v: len(v) == 3 and min(v) >= 0 and sum(v) > 0,
        "three non-negative numbers (train, val, test)",
    ),
    ("audit.methods", lambda v: len(v) >= 1, "one or more method names"),
    ("audit.per_class", _positive, "positive"),
    (
        "audit.rank_by",
        lambda v: v in ("localisation", "relevance_mass", "hit_rate", "mean_iou", "mean_otsu_iou"),
        "localisation, relevance_mass, hit_rate, mean_iou or mean_otsu_iou",
    ),
    ("audit.check_images", lambda v: v >= 2, "at least 2"),
    ("audit.sanity_depth", lambda v: v >= 0, "at least 0"),
    ("audit.sanity_threshold", lambda v: -1.0 <= v <= 1.0, "between -1 and 1"),
    ("audit.road_percentiles", lambda v: v and all(0 < p < 100 for p in v), "values in 1-99"),
    (
        "audit.adversarial_attacks",
        lambda v: all(a in ("fgsm", "pgd") for a in v),
        "fgsm and/or pgd (empty: no adversarial check)",
    ),
    ("audit.adversarial_epsilon", lambda v: 0 < v <= 255, "in (0, 255] grey levels"),
    ("audit.adversarial_steps", _positive, "positive"),
    ("audit.adversarial_step_size", _positive, "positive"),
    ("audit.shown_images", lambda v: v >= 0, "at least 0"),
    ("shortcuts.batch_size", _positive, "positive"),
    ("shortcuts.alpha", lambda v: 0 < v < 1, "between 0 and 1 (exclusive)"),
    ("shortcuts.dilate_fraction", lambda v: 0 <= v <= 0.1, "between 0 and 0.1"),
    ("shortcuts.border_width", lambda v: 0 < v < 0.5, "between 0 and 0.5 (exclusive)"),
    ("shortcuts.attention_side", lambda v: 32 <= v <= 512, "between 32 and 512"),
    ("shortcuts.null_draws", lambda v: v >= 19, "at least 19 (a p-value below 0.05 needs 19)"),
    ("shortcuts.grid", lambda v: 2 <= v <= 32, "between 2 and 32"),
    ("shortcuts.knn", _positive, "positive"),
    ("shortcuts.min_cluster", _positive, "positive"),
    ("shortcuts.probe_folds", lambda v: v >= 2, "at least 2"),
    ("shortcuts.probe_permutations", lambda v: v >= 19, "at least 19"),
    ("shortcuts.min_enrichment", lambda v: v >= 0, "at least 0"),
    ("shortcuts.min_effect", _fraction, "between 0 and 1"),
    ("shortcuts.examples", lambda v: v >= 0, "at least 0"),
    ("demo.images", lambda v: v >= 12, "at least 12"),
    ("demo.epochs", _positive, "positive"),
    ("demo.image_size", lambda v: v >= 16, "at least 16"),
    ("demo.resize_mode", lambda v: v in ("letterbox", "stretch"), "letterbox or stretch"),
    ("demo.per_class", _positive, "positive"),
    ("demo.audit_methods", lambda v: len(v) >= 1, "one or more method names"),
]


def check_ranges(settings: Any, path: Path) -> None:
    """Values of the right type can still be out of range: name the first such key."""
    for key, check, meaning in _RANGES:
        value: Any = settings
        for part in key.split("."):
            value = getattr(value, part)
        if not check(value):
            raise ConfigError(f"{path}: key {key!r} must be {meaning}, got {value!r}")
