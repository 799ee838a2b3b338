"""The ``compare`` job: score heatmaps against LabelMe tumour outlines.

Choose annotated images (by default the true positives of each tumour class,
stratified; :mod:`assurexray.localisation.annotated_images`), explain each image's class,
score the heatmap against the mask in the original image frame, and write
``annotation_report.json`` with panels ``annotation_comparison*.png``
(Original | Annotation | Heatmap | Overlay). :func:`run` with
:class:`CompareOptions` is the job; the report's means are built in
:mod:`assurexray.localisation.compare_report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from assurexray.annotations.labelme import load_labelme
from assurexray.annotations.masks import draw_annotation
from assurexray.core.callbacks import Progress, Warn, no_progress, no_warn
from assurexray.core.errors import AnnotationError
from assurexray.core.files import check_output_folder, write_json, write_png
from assurexray.engine.jobs import Overrides, StreamOptions
from assurexray.engine.model_opening import OpenedModel
from assurexray.engine.streaming import LoadFailure, explain_paths
from assurexray.evaluation.metrics import localisation_scores
from assurexray.localisation.annotated_images import choose_annotated
from assurexray.localisation.compare_report import build_report
from assurexray.localisation.image_choice import OVERRIDES as CHOICE_OVERRIDES
from assurexray.localisation.image_choice import ImageChoice
from assurexray.reporting import render as draw
from assurexray.reporting.html_report import Pictures, job_facts, write_pictures, write_report
from assurexray.reporting.page_parts import PageContext
from assurexray.reporting.report_pages import compare_page

if TYPE_CHECKING:
    from assurexray.core.config import Settings

PANEL_SIDE = 320
OVERRIDES = f"output {CHOICE_OVERRIDES}"


@dataclass(frozen=True)
class CompareOptions:
    """Which images the ``compare`` job scores (``choice``), where and how it draws them."""

    output: Path
    choice: ImageChoice = field(default_factory=ImageChoice)
    rows_per_page: int = 6
    alpha: float = 0.4
    colormap: str = "jet"

    @property
    def stream(self) -> StreamOptions:
        """How images stream through the model (the image choice's own)."""
        return self.choice.stream

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> CompareOptions:
        """Options from the config, changed by ``overrides`` (one left at None keeps it).

        Overrides: ``output`` and the image choice of :meth:`ImageChoice.from_settings`.
        """
        given = Overrides(cls, overrides, OVERRIDES)
        choice = {k: v for k, v in given.items() if k != "output"}
        return cls(
            output=Path(given.pick("output", settings.compare.output)),
            choice=ImageChoice.from_settings(settings, **choice),
            rows_per_page=settings.compare.rows_per_page,
            alpha=settings.explain.alpha,
            colormap=settings.explain.colormap,
        )


@dataclass
class CompareResult:
    """The report and the files written."""

    report: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    excluded: list[dict[str, str]] = field(default_factory=list)  # empty tumour masks
    interrupted: bool = False
    pictures: dict[str, Pictures] = field(default_factory=dict)  # report.html's, by image id


def score_image(
    heatmap: np.ndarray, annotation_path: Path, size: tuple[int, int], choice: ImageChoice
) -> tuple[np.ndarray, dict[str, Any] | str, list[str]]:
    """The tumour mask at the image's size and the heatmap's scores against it.

    Instead of scores, an empty mask gives the reason it is empty (``no
    shapes``, ...): there is nothing to score against, and a zero would pull
    down the means and the chance level.
    """
    annotation = load_labelme(annotation_path, max_pixels=choice.stream.max_pixels)
    annotation = annotation.resized(size)
    drawn = draw_annotation(annotation, size, mode=choice.annotation_mode)
    notes = list(annotation.warnings)
    if drawn.empty_reason is not None:
        return drawn.mask, drawn.empty_reason, notes
    return drawn.mask, localisation_scores(heatmap, drawn.mask, choice.thresholds), notes


def run(
    model: OpenedModel,
    options: CompareOptions,
    *,
    progress: Progress = no_progress,
    warn: Warn = no_warn,
) -> CompareResult:
    """The ``compare`` job: choose annotated images, explain, score, write report and panels.

    Raises:
        DatasetError: no images, no annotations, or labels the checkpoint lacks.
    """
    check_output_folder(options.output)  # before the work, not after it
    chosen, counts, failures = choose_annotated(model, options.choice, progress, warn)
    return score_images(
        chosen, counts, model, options, progress=progress, warn=warn, failures=failures
    )


def score_images(
    chosen: pd.DataFrame,
    counts: dict[str, dict[str, int]],
    model: OpenedModel,
    options: CompareOptions,
    progress: Progress = no_progress,
    warn: Warn = no_warn,
    failures: Sequence[dict[str, str]] = (),
) -> CompareResult:
    """Explain and score ``chosen`` images; write the report and the panels.

    Panels are written a page at a time as rows come, so a long run holds at
    most one page in memory. ``failures`` from earlier steps join the report.
    """
    names = model.class_names
    explainer = model.explainer
    lookup = {n: i for i, n in enumerate(names)}
    result = CompareResult(report={}, failures=list(failures))
    per_image, page = [], []
    rows = list(chosen.itertuples())
    stream = explain_paths(
        [str(r.path) for r in rows],
        explainer,
        model.preprocess,
        options.stream,
        targets=[lookup[str(r.label)] for r in rows],
        display_side=PANEL_SIDE,
    )
    try:
        for done, (row, item) in enumerate(zip(rows, stream, strict=True), start=1):
            progress("compare", done, len(rows))
            if isinstance(item, LoadFailure):
                result.failures.append({"image_id": str(row.image_id), "error": item.error})
                continue
            try:
                mask, scores, notes = score_image(
                    item.heatmap,
                    Path(str(row.annotation)),
                    item.image.radiograph.size,
                    options.choice,
                )
            except AnnotationError as exc:
                result.failures.append({"image_id": str(row.image_id), "error": str(exc)})
                continue
            for note in notes:
                warn(note)
            if isinstance(scores, str):
                reason = f"{row.annotation}: empty tumour mask: {scores}"
                result.excluded.append({"image_id": str(row.image_id), "reason": reason})
                warn(f"{row.image_id} left out of the scores: {reason}")
                continue
            entry = {
                "image_id": row.image_id,
                "class": row.label,
                "predicted_class": names[item.predicted],
                "confidence": float(item.probabilities[item.predicted]),
                "explained_class": names[item.target],
                "class_known": bool(getattr(row, "label_known", True)),
                "heatmap_empty": item.empty,
                **scores,
            }
            per_image.append(entry)
            page.append(comparison_row(item, mask, entry, options))
            result.pictures[str(row.image_id)] = write_pictures(
                options.output,
                str(row.image_id),
                item.image.radiograph.pixels,
                item.heatmap,
                mask,
                alpha=options.alpha,
                colormap=options.colormap,
            )
            if len(page) == options.rows_per_page:
                result.files.append(write_page(page, len(result.files) + 1, options))
                page = []
    except KeyboardInterrupt:  # keep what was scored: the report says it is partial
        result.interrupted = True
    if page:
        result.files.append(write_page(page, len(result.files) + 1, options))
    result.report = build_report(
        per_image,
        counts,
        options.choice,
        names=names,
        failures=result.failures,
        method=explainer.method,
        excluded=result.excluded,
        interrupted=result.interrupted,
    )
    result.files.append(write_json(options.output / "annotation_report.json", result.report))
    facts = {
        "selection": result.report["selection"],
        "IoU thresholds": options.choice.thresholds,
        "annotations": options.choice.annotation_mode,
        "heatmap opacity": options.alpha,
    }
    context = PageContext(result.pictures, job_facts(model, **facts), options.colormap)
    html = compare_page(result.report, context)
    result.files.append(write_report(html, options.output))
    return result


def comparison_row(
    item: Any, mask: np.ndarray, entry: dict[str, Any], options: CompareOptions
) -> np.ndarray:
    """Original | Annotation outline | Heatmap | Overlay with outline, for one image."""
    radiograph = item.image.radiograph  # a reduced copy; size is the file's
    gray = draw.fit_display(radiograph.data, PANEL_SIDE, frame=radiograph.size)
    small_mask = draw.fit_display(mask.astype(np.uint8), PANEL_SIDE).astype(bool)
    heat = item.heatmap_at(gray.shape[:2])
    first = f"{options.choice.thresholds[0]:g}"
    tiles = [
        draw.add_caption(gray, f"{entry['image_id']} ({entry['class']})"),
        draw.add_caption(draw.outline(gray, small_mask), "annotation"),
        draw.add_caption(
            draw.colorize(heat, options.colormap), f"heatmap: {entry['explained_class']}"
        ),
        draw.add_caption(
            draw.outline(
                draw.overlay(gray, heat, alpha=options.alpha, colormap=options.colormap), small_mask
            ),
            f"IoU@{first} {entry['iou'][first]:.2f}  hit {'yes' if entry['hit'] else 'no'}",
        ),
    ]
    return draw.grid(tiles, ncols=4, cell_size=(PANEL_SIDE + 40, PANEL_SIDE))


def write_page(rows: Sequence[np.ndarray], number: int, options: CompareOptions) -> Path:
    """Write one page of rows: annotation_comparison.png, then _2.png, _3.png, …"""
    body = np.vstack(rows)
    legend = draw.colorbar(min(body.shape[0], 480), options.colormap)
    figure = draw.hstack_panels([body, draw.letterbox(legend, (body.shape[0], legend.shape[1]))])
    title = "Original | Annotation (green) | Heatmap | Overlay"
    if number > 1:
        title += f"   (page {number})"
    suffix = "" if number == 1 else f"_{number}"
    path = options.output / f"annotation_comparison{suffix}.png"
    return write_png(path, draw.add_caption(figure, title))
