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

from assurexray.core.config_ranges import check_ranges
from assurexray.core.config_ranges import colormap_names as colormap_names  # its old home
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
    check_ranges(settings, path)
    try:
        check_class_names(settings.class_names, f"{path}: key 'class_names'")
    except ValueError as exc:
        raise ConfigError(printable(exc)) from None
    return settings


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
