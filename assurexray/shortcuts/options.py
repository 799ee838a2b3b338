"""The ``shortcuts`` job's options: :class:`ShortcutsOptions` (inputs, levels, draws, output)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assurexray.core.errors import ConfigError
from assurexray.engine.jobs import Overrides, StreamOptions

if TYPE_CHECKING:
    from assurexray.core.config import Settings

OVERRIDES = "data images annotations split output artefact_labels batch_size device"
"""The override names :meth:`ShortcutsOptions.from_settings` takes."""

#: Words that name a tumour outline: such a label is never an artefact label.
TUMOUR_WORDS = ("tumor", "tumour", "lesion", "normal", "benign", "malignant")


@dataclass(frozen=True)
class ShortcutsOptions:
    """What the shortcut analysis reads, how strictly it decides, and where it writes.

    Attributes:
        output: Folder of ``shortcuts_report.json``, ``shortcuts.csv`` and the pictures.
        data: Data set (labels, metadata) whose ``split`` is analysed; ignored with ``images``.
        images: A bare folder of images (no labels: subgroups and site probe skipped).
        annotations: LabelMe folder (``--images``) or None for the data set's own.
        split: ``train``, ``val``, ``test`` or ``all``.
        artefact_labels: LabelMe labels outlining artefacts (lower case); such shapes
            replace detection for their image and never count as tumour.
        alpha: Level of every test behind a flag.
        dilate_fraction: Artefact masks grow by this share of the short side.
        border_width: Border band as a share of each side.
        attention_side: Attention is measured on a copy at most this many pixels a side.
        null_draws: Random placements of the artefact shapes per image (permutation null).
        grid, knn, min_cluster: Strategy clustering (pooled grid, neighbours, least size).
        probe_folds, probe_permutations: Site probe cross-validation and null.
        min_enrichment: The enrichment interval must lie above this for an attention flag.
        min_effect: Least material effect: excess |dp| or flip rate over the control,
            subgroup accuracy gap, probe margin over chance.
        examples: Rows of ``shortcut_artefacts.png``.
        seed: Seed of every draw, bootstrap and permutation.
        stream: Device, batch size, decoding threads, pixel limit.
    """

    output: Path
    data: Path | None = None
    images: Path | None = None
    annotations: Path | None = None
    split: str = "test"
    artefact_labels: tuple[str, ...] = ()
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
    examples: int = 6
    seed: int = 0
    stream: StreamOptions = field(default_factory=StreamOptions)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ShortcutsOptions:
        """Options from the config's ``shortcuts`` section, changed by ``overrides``.

        Overrides (None keeps the config's value): ``data``, ``images``, ``annotations``,
        ``split``, ``output``, ``artefact_labels``, ``batch_size``, ``device``.

        Raises:
            ConfigError: an artefact label that names a tumour or a class, or a bad split.
        """
        given = Overrides(cls, overrides, OVERRIDES)
        configured = settings.shortcuts
        labels = tuple(
            str(v).strip().lower()
            for v in (given.get("artefact_labels") or configured.artefact_labels)
            if str(v).strip()
        )
        classes = {c.lower() for c in settings.class_names}
        bad = [v for v in labels if v in classes or any(w in v for w in TUMOUR_WORDS)]
        if bad:
            raise ConfigError(
                f"--artefact-label {bad[0]!r} names a tumour or a class: a tumour outline is "
                "never an artefact"
            )
        split = given.pick("split", configured.split)
        if split not in ("train", "val", "test", "all"):
            raise ConfigError(f"--split must be train, val, test or all, not {split!r}")
        images = given.get("images")
        annotations = given.get("annotations")
        return cls(
            output=Path(given.pick("output", configured.output)),
            data=None if images is not None else Path(given.pick("data", settings.data)),
            images=Path(images) if images is not None else None,
            annotations=Path(annotations) if annotations else None,
            split=split,
            artefact_labels=labels,
            alpha=configured.alpha,
            dilate_fraction=configured.dilate_fraction,
            border_width=configured.border_width,
            attention_side=configured.attention_side,
            null_draws=configured.null_draws,
            grid=configured.grid,
            knn=configured.knn,
            min_cluster=configured.min_cluster,
            probe_folds=configured.probe_folds,
            probe_permutations=configured.probe_permutations,
            min_enrichment=configured.min_enrichment,
            min_effect=configured.min_effect,
            examples=configured.examples,
            seed=settings.seed,
            stream=StreamOptions.from_settings(
                settings, section="shortcuts", **given.only("batch_size", "device")
            ),
        )

    def settings_record(self) -> dict[str, Any]:
        """The options as written into the report (paths as text, no stream internals)."""
        record = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if name not in ("stream", "output", "data", "images", "annotations")
        }
        for name in ("output", "data", "images", "annotations"):
            value = getattr(self, name)
            record[name] = None if value is None else str(value)
        record["artefact_labels"] = list(self.artefact_labels)
        record["device"] = self.stream.device
        record["batch_size"] = self.stream.batch_size
        return record
