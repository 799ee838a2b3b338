"""The ``audit`` job: which heatmap can be trusted, measured against the annotations.

Every candidate heatmap (method × target layer) and three trivial baselines are
drawn for the chosen annotated images, scored against the tumour masks in the
original image frame, and checked on a subset of images for model dependence
(sanity), faithfulness (ROAD) and stability. See :mod:`assurexray.audit.scoring`
for the scoring, :mod:`assurexray.audit.summary` for the ranking and
:mod:`assurexray.audit.report` for the files written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assurexray.audit.options import AuditOptions
from assurexray.audit.scoring import AuditResult, score_candidates
from assurexray.core.callbacks import Progress, Warn, no_progress, no_warn
from assurexray.core.errors import DatasetError
from assurexray.core.files import check_output_folder
from assurexray.engine.model_opening import OpenedModel
from assurexray.explain.candidates import build_candidates
from assurexray.explain.explainer import resolve_target_layers
from assurexray.localisation.annotated_images import choose_annotated

if TYPE_CHECKING:
    pass


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
    chosen, counts, failures = choose_annotated(model, options.choice, progress, warn)
    if chosen.empty:
        for failure in failures:  # the result that would list them is never made
            warn(failure["error"])
        unread = f"; {len(failures)} could not be read (listed above)" if failures else ""
        raise DatasetError(
            "no annotated image to audit: no true positive of "
            f"{', '.join(options.choice.classes)} among the annotated images (try --all)" + unread
        )
    result = score_candidates(
        chosen, model, candidates, final_layer, options, progress, warn, failures
    )
    result.report.update(
        {
            "per_class_counts": counts,
            "selection": options.choice.selection,
            "errors": result.failures,
            "checkpoint": model.describe(),
            "settings": settings_record(options),
            "versions": versions(),
        }
    )
    result.files = write_outputs(result, options)
    result.files.append(write_page(result, options))
    return result
