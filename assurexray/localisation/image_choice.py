"""Which annotated images are scored, and how: the options ``compare`` and ``audit`` share.

Images come from ``images`` (a bare folder, labels unknown) or else from the
``split`` of the data set ``data``; annotations from ``annotations`` or else
the data set's own. ``per_class=None`` scores every annotated image; otherwise
the true positives of each tumour class, stratified. Heatmaps are scored
against the masks at ``thresholds``, masks drawn by ``annotation_mode``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assurexray.engine.jobs import Overrides, StreamOptions

if TYPE_CHECKING:
    from assurexray.core.config import Settings

OVERRIDES = "annotations images data split per_class all_images thresholds batch_size device"
"""The override names :meth:`ImageChoice.from_settings` takes (declared once)."""


@dataclass(frozen=True)
class ImageChoice:
    """Which annotated images are scored, and how they are scored against their outlines."""

    thresholds: tuple[float, ...] = (0.5,)
    per_class: int | None = 5
    classes: tuple[str, ...] = ("Benign", "Malignant")
    annotation_mode: str = "btxrd"
    seed: int = 0
    data: Path | None = None
    split: str = "test"
    images: Path | None = None
    annotations: Path | None = None
    stream: StreamOptions = field(default_factory=StreamOptions)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, default_per_class: int | None = None, **overrides: Any
    ) -> ImageChoice:
        """The choice from the config's ``compare`` section, changed by ``overrides``.

        Args:
            settings: The settings.
            default_per_class: The job's own number of images per class (the
                compare section's when None); an override of ``per_class`` wins.
            overrides: ``annotations``, ``images``, ``data``, ``split``,
                ``per_class``, ``all_images`` (True scores every annotated
                image), ``thresholds``, ``batch_size``, ``device``.
        """
        given = Overrides(cls, overrides, OVERRIDES)
        configured = settings.compare
        annotations = given.pick("annotations", configured.annotations)
        if default_per_class is None:
            default_per_class = configured.per_class
        return cls(
            thresholds=tuple(given.get("thresholds") or configured.thresholds),
            per_class=None
            if given.get("all_images")
            else given.pick("per_class", default_per_class),
            classes=tuple(configured.classes),
            annotation_mode=configured.annotation_mode,
            seed=settings.seed,
            data=Path(given.pick("data", settings.data)),
            split=given.pick("split", configured.split),
            images=given.get("images"),
            annotations=Path(annotations) if annotations else None,
            stream=StreamOptions.from_settings(
                settings, section="gallery", **given.only("batch_size", "device")
            ),
        )

    @property
    def selection(self) -> str:
        """The rule the images were chosen by, in words."""
        if self.per_class is None:
            return "every annotated image"
        return f"true positives, up to {self.per_class} per class"
