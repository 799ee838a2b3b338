"""Typed settings read from a YAML file; command-line options override them.

The dataclass defaults below are the built-in defaults. ``configs/default.yaml``
spells out the same values (a test keeps the two equal) so a user can copy and
edit it. Any unknown key or badly typed value is a :class:`ConfigError` that
names the file and the dotted key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from assurexray.core.errors import ConfigError, refuse_special
from assurexray.core.naming import check_class_names, printable
from assurexray.core.text import first_line

DEFAULT_CONFIG_PATH = Path("configs/default.yaml")
CLASS_NAMES: tuple[str, ...] = ("Normal", "Benign", "Malignant")
"""The BTXRD classes, in label-index order: the one definition every module imports."""

AUDIT_METHODS = (
    *("gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "eigencam"),
    *("integrated_gradients", "smoothgrad"),
)
"""The audit's candidate methods by default: the CAMs (one shared pass draws them all) and
two Captum attributions, Integrated Gradients and SmoothGrad (scorecam, ablationcam,
occlusion, gradient_shap and guided_gradcam only when asked: slow, or much alike)."""


@dataclass(frozen=True)
class ModelSettings:
    arch: str = "efficientnet_b0"
    image_size: int = 224
    resize_mode: str = "letterbox"
    interpolation: str = "area"
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    clahe: bool = False
    weights_key: str = ""


@dataclass(frozen=True)
class RolloutSettings:
    head_fusion: str = "mean"
    discard_ratio: float = 0.9


@dataclass(frozen=True)
class AttributionSettings:
    n_steps: int = 16
    n_samples: int = 8
    noise: float = 0.1
    window: float = 0.125
    stride: float = 0.5
    internal_batch_size: int = 32


@dataclass(frozen=True)
class ExplainSettings:
    method: str = "gradcam"
    target_layer: str = "auto"
    aggregation: str = "mean"
    fast_path: bool = True
    colormap: str = "jet"
    alpha: float = 0.4
    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    attributions: AttributionSettings = field(default_factory=AttributionSettings)


@dataclass(frozen=True)
class InferSettings:
    output: str = "results/inference"
    batch_size: int = 8
    recursive: bool = False
    workers: int = 2


@dataclass(frozen=True)
class GallerySettings:
    split: str = "test"
    k: int = 3
    output: str = "results/gradcam"
    batch_size: int = 16


@dataclass(frozen=True)
class CompareSettings:
    split: str = "test"
    annotations: str = ""
    output: str = "results/gradcam"
    per_class: int = 5
    thresholds: list[float] = field(default_factory=lambda: [0.5])
    annotation_mode: str = "btxrd"
    classes: list[str] = field(default_factory=lambda: ["Benign", "Malignant"])
    rows_per_page: int = 6


@dataclass(frozen=True)
class TrainSettings:
    output: str = "checkpoints/best.pt"
    epochs: int = 30
    batch_size: int = 32
    lr: float = 0.002
    weight_decay: float = 0.0001
    patience: int = 10
    split_fractions: list[float] = field(default_factory=lambda: [0.7, 0.15, 0.15])
    workers: int = 2


@dataclass(frozen=True)
class AuditSettings:
    output: str = "results/audit"
    methods: list[str] = field(default_factory=lambda: list(AUDIT_METHODS))
    layers: list[str] = field(default_factory=list)
    per_class: int = 20
    rank_by: str = "localisation"
    check_images: int = 12
    sanity_depth: int = 2
    sanity_threshold: float = 0.5
    road_percentiles: list[int] = field(default_factory=lambda: [20, 40, 60, 80])
    adversarial_attacks: list[str] = field(default_factory=lambda: ["fgsm", "pgd"])
    adversarial_epsilon: float = 2.0
    adversarial_steps: int = 5
    adversarial_step_size: float = 1.0
    shown_images: int = 4


@dataclass(frozen=True)
class ShortcutsSettings:
    output: str = "results/shortcuts"
    split: str = "test"
    batch_size: int = 16
    alpha: float = 0.05
    dilate_fraction: float = 0.004
    border_width: float = 0.15
    attention_side: int = 256
    null_draws: int = 200
    grid: int = 8
    knn: int = 10
    min_cluster: int = 5
    probe_folds: int = 5
    probe_permutations: int = 100
    min_enrichment: float = 1.0
    min_effect: float = 0.05
    artefact_labels: list[str] = field(default_factory=list)
    examples: int = 6


@dataclass(frozen=True)
class DemoSettings:
    output: str = "results/demo"
    data: str = "data/demo"
    images: int = 600
    epochs: int = 30
    image_size: int = 128
    resize_mode: str = "stretch"
    per_class: int = 20
    audit_methods: list[str] = field(
        default_factory=lambda: "gradcam layercam eigencam integrated_gradients smoothgrad".split()
    )


@dataclass(frozen=True)
class Settings:
    """Every default the commands use."""

    device: str = "auto"
    seed: int = 0
    max_pixels: int = 100_000_000
    data: str = "data/demo"
    checkpoint: str = "results/demo/checkpoints/best.pt"
    class_names: list[str] = field(default_factory=lambda: list(CLASS_NAMES))
    model: ModelSettings = field(default_factory=ModelSettings)
    explain: ExplainSettings = field(default_factory=ExplainSettings)
    infer: InferSettings = field(default_factory=InferSettings)
    gallery: GallerySettings = field(default_factory=GallerySettings)
    compare: CompareSettings = field(default_factory=CompareSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    shortcuts: ShortcutsSettings = field(default_factory=ShortcutsSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)


def load_settings(path: str | Path | None = None) -> Settings:
    """Read settings from ``path``; with no path, ``configs/default.yaml`` if present.

    Args:
        path: A YAML file. Keys left out keep their built-in defaults.

    Raises:
        ConfigError: the file is missing or unreadable, or a key or value is bad.
    """
    import yaml

    if path is None:
        if not DEFAULT_CONFIG_PATH.is_file():
            return Settings()
        path = DEFAULT_CONFIG_PATH
    path = Path(path)
    refuse_special(path, ConfigError)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = first_line(exc)
        raise ConfigError(f"{path}: not valid YAML ({first})") from None
    if data is None:
        return Settings()
    settings = _merge(Settings(), data, path, prefix="")
    _check_ranges(settings, path)
    try:
        check_class_names(settings.class_names, f"{path}: key 'class_names'")
    except ValueError as exc:
        raise ConfigError(printable(exc)) from None
    return settings


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


def _check_ranges(settings: Settings, path: Path) -> None:
    """Values of the right type can still be out of range: name the first such key."""
    for key, check, meaning in _RANGES:
        value: Any = settings
        for part in key.split("."):
            value = getattr(value, part)
        if not check(value):
            raise ConfigError(f"{path}: key {key!r} must be {meaning}, got {value!r}")


def _merge(defaults: Any, data: Any, path: Path, prefix: str) -> Any:
    """Return ``defaults`` with the values of the mapping ``data`` checked and applied."""
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {where} must be a mapping of keys to values")
    known = {f.name: f for f in fields(defaults)}
    changes = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(f"{path}: unknown key {dotted!r} (known: {', '.join(sorted(known))})")
        current = getattr(defaults, key)
        if is_dataclass(current):
            changes[key] = _merge(current, value, path, prefix=f"{dotted}.")
        else:
            changes[key] = _check_value(current, value, path, dotted)
    return replace(defaults, **changes)


def _check_value(default: Any, value: Any, path: Path, key: str) -> Any:
    """Check ``value`` has the type of ``default`` (ints are accepted for floats)."""
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is list and isinstance(value, list):
        item_type = type(default[0]) if default else None
        if item_type is not None:
            return [_check_value(default[0], item, path, f"{key}[]") for item in value]
        return value
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{path}: key {key!r} must be of type {expected.__name__}, got {value!r}")
