"""The ``train`` job's options: :class:`TrainOptions` (model, optimisation, data, output)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assurexray.core.config import CLASS_NAMES
from assurexray.engine.jobs import Overrides
from assurexray.imaging.preprocess import PreprocessConfig
from assurexray.imaging.reading import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from assurexray.core.config import Settings

OVERRIDES = "data output arch image_size resize_mode epochs batch_size lr pretrained device"


@dataclass(frozen=True)
class TrainOptions:
    """Everything a training run needs; ``data`` and ``split_fractions`` are for :func:`run`."""

    output: Path
    class_names: tuple[str, ...] = CLASS_NAMES
    arch: str = "efficientnet_b0"
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    epochs: int = 30
    batch_size: int = 32
    lr: float = 0.002
    weight_decay: float = 1e-4
    patience: int = 10
    seed: int = 0
    device: str = "cpu"
    workers: int = 2
    pretrained: str | Path | None = None  # a weights file, "imagenet" or a timm tag
    max_pixels: int = DEFAULT_MAX_PIXELS
    data: Path | None = None
    split_fractions: tuple[float, ...] = (0.7, 0.15, 0.15)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> TrainOptions:
        """Options from the config, changed by ``overrides`` (one left at None keeps it).

        Overrides: ``data``, ``output``, ``arch``, ``image_size``, ``resize_mode``,
        ``epochs``, ``batch_size``, ``lr``, ``pretrained``, ``device``.
        """
        from assurexray.models.model import resolve_device

        given = Overrides(cls, overrides, OVERRIDES)
        configured = settings.train
        return cls(
            output=Path(given.pick("output", configured.output)),
            class_names=tuple(settings.class_names),
            arch=given.pick("arch", settings.model.arch),
            preprocess=PreprocessConfig(
                image_size=given.pick("image_size", settings.model.image_size),
                resize_mode=given.pick("resize_mode", settings.model.resize_mode),
                clahe=settings.model.clahe,
                interpolation=settings.model.interpolation,
                mean=tuple(settings.model.mean),
                std=tuple(settings.model.std),
            ),
            epochs=given.pick("epochs", configured.epochs),
            batch_size=given.pick("batch_size", configured.batch_size),
            lr=given.pick("lr", configured.lr),
            weight_decay=configured.weight_decay,
            patience=configured.patience,
            seed=settings.seed,
            device=str(resolve_device(given.pick("device", settings.device))),
            workers=configured.workers,
            pretrained=given.get("pretrained"),
            max_pixels=settings.max_pixels,
            data=Path(given.pick("data", settings.data)),
            split_fractions=tuple(configured.split_fractions),
        )
