"""The ``audit`` job: which heatmap can be trusted, measured against the annotations.

Every candidate heatmap (method × target layer) and three trivial baselines are
drawn for the chosen annotated images, scored against the tumour masks in the
original image frame, and checked on a subset of images for model dependence
(sanity), faithfulness (ROAD) and stability. See :mod:`assurexray.audit.scoring`
for the scoring, :mod:`assurexray.audit.summary` for the ranking and
:mod:`assurexray.audit.report` for the files written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assurexray.audit.scoring import AuditResult, score_candidates
from assurexray.audit.summary import RANK_SCORES
from assurexray.core.errors import ConfigError, DatasetError
from assurexray.core.files import check_output_folder
from assurexray.engine.jobs import OpenedModel, Overrides, Progress, Warn, no_progress, no_warn
from assurexray.evaluation.faithfulness import DEFAULT_PERCENTILES
from assurexray.evaluation.sanity import DEFAULT_DEPTH, DEFAULT_THRESHOLD
from assurexray.explain.candidates import DEFAULT_METHODS, build_candidates
from assurexray.explain.explainer import resolve_target_layers
from assurexray.localisation.annotated_images import choose_annotated
from assurexray.localisation.compare import OVERRIDES as COMPARE_OVERRIDES
from assurexray.localisation.compare import CompareOptions

if TYPE_CHECKING:
    from assurexray.core.config import Settings
    from assurexray.engine.jobs import StreamOptions

OWN_OVERRIDES = "methods layers rank_by check_images output"  # the others choose images


@dataclass(frozen=True)
class AuditOptions:
    """What the audit compares and how thoroughly it checks.

    ``compare`` holds the image choice (data set or folders, split, per class,
    thresholds, annotation mode, streaming) exactly as the ``compare`` job
    takes it; ``output`` is where the audit's files go.
    """

    output: Path
    compare: CompareOptions
    methods: tuple[str, ...] = DEFAULT_METHODS
    layers: tuple[str, ...] = ()
    rank_by: str = "localisation"
    check_images: int = 12
    sanity_depth: int = DEFAULT_DEPTH
    sanity_threshold: float = DEFAULT_THRESHOLD
    road_percentiles: tuple[int, ...] = DEFAULT_PERCENTILES
    shown_images: int = 4
    seed: int = 0
    colormap: str = "jet"

    @property
    def stream(self) -> StreamOptions:
        """How images stream through the model (the image choice's own)."""
        return self.compare.stream

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> AuditOptions:
        """Options from the config, changed by ``overrides`` (one left at None keeps it).

        Overrides: ``methods``, ``layers``, ``rank_by``, ``check_images``,
        ``output``, and the image choice of :meth:`CompareOptions.from_settings`
        (``data``, ``images``, ``annotations``, ``per_class``, ``all_images``, ...).

        Raises:
            ConfigError: an unknown ranking score.
        """
        given = Overrides(cls, overrides, f"{OWN_OVERRIDES} {COMPARE_OVERRIDES}")
        configured = settings.audit
        chosen_rank = given.pick("rank_by", configured.rank_by)
        if chosen_rank not in RANK_SCORES:
            raise ConfigError(
                f"--rank-by must be one of {', '.join(RANK_SCORES)}, not {chosen_rank!r}"
            )
        compare = {k: v for k, v in given.items() if k not in OWN_OVERRIDES.split()}
        if compare.get("per_class") is None:  # the audit's own number, not compare's
            compare["per_class"] = configured.per_class
        return cls(
            output=Path(given.pick("output", configured.output)),
            compare=CompareOptions.from_settings(settings, **compare),
            methods=tuple(given.get("methods") or configured.methods),
            layers=tuple(given.get("layers") or configured.layers),
            rank_by=chosen_rank,
            check_images=given.pick("check_images", configured.check_images),
            sanity_depth=configured.sanity_depth,
            sanity_threshold=configured.sanity_threshold,
            road_percentiles=tuple(configured.road_percentiles),
            shown_images=configured.shown_images,
            seed=settings.seed,
            colormap=settings.explain.colormap,
        )


def run(
    model: OpenedModel,
    options: AuditOptions,
    *,
    progress: Progress = no_progress,
    warn: Warn = no_warn,
) -> AuditResult:
    """The ``audit`` job: choose images as ``compare`` does, score and check every candidate,
    and write ``audit_report.json``, ``audit.csv``, ``audit_leaderboard.png`` and
    ``audit_methods.png``.

    Raises:
        DatasetError: no annotated image to audit.
        ExplainError: an unknown method or layer.
    """
    from assurexray.audit.report import settings_record, versions, write_outputs, write_page

    checkpoint = model.checkpoint
    final_layer = resolve_target_layers(checkpoint.model, checkpoint.target_layer or "auto")[0][0]
    candidates = build_candidates(
        checkpoint.model,
        methods=options.methods,
        layers=options.layers,
        final_layer=final_layer,
        input_size=(
            checkpoint.preprocess.channels,
            checkpoint.preprocess.image_size,
            checkpoint.preprocess.image_size,
        ),
    )  # checked before any image is read
    check_output_folder(options.output)  # writable, before any image is read
    chosen, counts, failures = choose_annotated(model, options.compare, progress, warn)
    if chosen.empty:
        raise DatasetError(
            "no annotated image to audit: no true positive of "
            f"{', '.join(options.compare.classes)} among the annotated images (try --all)"
        )
    result = score_candidates(chosen, model, candidates, final_layer, options, progress)
    result.failures = failures + result.failures
    result.report.update(
        {
            "per_class_counts": counts,
            "selection": "every annotated image"
            if options.compare.per_class is None
            else f"true positives, up to {options.compare.per_class} per class",
            "errors": result.failures,
            "checkpoint": model.describe(),
            "settings": settings_record(options),
            "versions": versions(),
        }
    )
    result.files = write_outputs(result, options)
    result.files.append(write_page(result, options))
    return result
