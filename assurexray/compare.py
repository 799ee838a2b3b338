"""The ``compare`` job: score heatmaps against LabelMe tumour outlines.

Choose annotated images (by default the true positives of each tumour class,
stratified), explain each image's class, score the heatmap against the mask in
the original image frame, and write ``annotation_report.json`` with panels
``annotation_comparison*.png`` (Original | Annotation | Heatmap | Overlay).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assurexray import render as draw
from assurexray.annotations import annotation_mask, find_annotation, load_labelme
from assurexray.errors import AnnotationError, DatasetError
from assurexray.html_report import Pictures, job_facts, write_pictures, write_report
from assurexray.inference import LoadFailure, Progress, explain_paths
from assurexray.metrics import localisation_scores
from assurexray.report import write_json, write_png
from assurexray.report_pages import compare_page
from assurexray.selection import stratified_choice

PANEL_SIDE = 320
SCORE_KEYS = ("otsu_iou", "hit", "relevance_mass", "mask_fraction")


@dataclass(frozen=True)
class CompareOptions:
    """How images are chosen and scored."""

    output: Path
    thresholds: tuple[float, ...] = (0.5,)
    per_class: int | None = 5
    classes: tuple[str, ...] = ("Benign", "Malignant")
    annotation_mode: str = "btxrd"
    rows_per_page: int = 6
    seed: int = 0
    alpha: float = 0.4
    colormap: str = "jet"


@dataclass
class CompareResult:
    """The report and the files written."""

    report: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    pictures: dict[str, Pictures] = field(default_factory=dict)  # report.html's, by image id


def attach_annotations(records: pd.DataFrame, annotation_dir: Path | None) -> pd.DataFrame:
    """Fill the ``annotation`` column from ``annotation_dir`` (matched by image stem)."""
    frame = records.copy()
    if annotation_dir is not None:
        if not annotation_dir.is_dir():
            raise DatasetError(f"{annotation_dir}: annotation folder not found")
        frame["annotation"] = [find_annotation(annotation_dir, Path(p).stem) for p in frame["path"]]
    return frame[frame["annotation"].notna()].reset_index(drop=True)


def choose_images(
    annotated: pd.DataFrame, predictions: pd.DataFrame | None, options: CompareOptions
) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Annotated images of the tumour classes; true positives only unless ``per_class`` is None.

    Where the true label is unknown (a bare image folder), the predicted class
    stands in for it and every annotated image is a candidate.
    """
    frame = annotated.copy()
    frame["label_known"] = frame["label"].notna()
    if predictions is not None:
        predicted = dict(
            zip(predictions["path"].astype(str), predictions["predicted_label"], strict=True)
        )
        frame["predicted_label"] = [predicted.get(str(p)) for p in frame["path"]]
        frame = frame[frame["predicted_label"].notna()]
        unknown = frame["label"].isna()
        frame.loc[unknown, "label"] = frame.loc[unknown, "predicted_label"]
        if options.per_class is not None:
            frame = frame[frame["label"] == frame["predicted_label"]]
    frame = frame[frame["label"].isin(options.classes)]
    return stratified_choice(frame, "label", options.per_class, seed=options.seed)


def score_image(
    heatmap: np.ndarray, annotation_path: Path, size: tuple[int, int], options: CompareOptions
) -> tuple[np.ndarray, dict[str, Any], list[str]]:
    """The tumour mask at the image's size and the heatmap's scores against it."""
    annotation = load_labelme(annotation_path).resized(size)
    mask = annotation_mask(annotation, size, mode=options.annotation_mode)
    return mask, localisation_scores(heatmap, mask, options.thresholds), list(annotation.warnings)


def run_compare(
    chosen: pd.DataFrame,
    counts: dict[str, dict[str, int]],
    checkpoint: Any,
    explainer: Any,
    options: CompareOptions,
    *,
    device: Any,
    batch_size: int,
    workers: int,
    max_pixels: int,
    progress: Progress | None = None,
    warn: Callable[[str], None] | None = None,
    failures: Sequence[dict[str, str]] = (),
) -> CompareResult:
    """Explain and score ``chosen`` images; write the report and the panels.

    Panels are written a page at a time as rows come, so a long run holds at
    most one page in memory. ``failures`` from earlier steps join the report.
    """
    names = tuple(checkpoint.class_names)
    lookup = {n: i for i, n in enumerate(names)}
    result = CompareResult(report={}, failures=list(failures))
    per_image, page = [], []
    rows = list(chosen.itertuples())
    stream = explain_paths(
        [r.path for r in rows],
        explainer,
        checkpoint.preprocess,
        device=device,
        targets=[lookup[r.label] for r in rows],
        batch_size=batch_size,
        workers=workers,
        max_pixels=max_pixels,
    )
    for done, (row, item) in enumerate(zip(rows, stream, strict=True), start=1):
        if progress:
            progress("compare", done, len(rows))
        if isinstance(item, LoadFailure):
            result.failures.append({"image_id": row.image_id, "error": item.error})
            continue
        try:
            mask, scores, notes = score_image(
                item.heatmap, Path(row.annotation), item.image.radiograph.size, options
            )
        except AnnotationError as exc:
            result.failures.append({"image_id": row.image_id, "error": str(exc)})
            continue
        for note in notes:
            if warn:
                warn(note)
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
        result.pictures[row.image_id] = write_pictures(
            options.output,
            row.image_id,
            item.image.radiograph.pixels,
            item.heatmap,
            mask,
            alpha=options.alpha,
            colormap=options.colormap,
        )
        if len(page) == options.rows_per_page:
            result.files.append(write_page(page, len(result.files) + 1, options))
            page = []
    if page:
        result.files.append(write_page(page, len(result.files) + 1, options))
    result.report = build_report(
        per_image, counts, options, names=names, failures=result.failures, method=explainer.method
    )
    result.files.append(write_json(options.output / "annotation_report.json", result.report))
    facts = {
        "selection": result.report["selection"],
        "IoU thresholds": options.thresholds,
        "annotations": options.annotation_mode,
        "heatmap opacity": options.alpha,
    }
    html = compare_page(
        result.report,
        pictures=result.pictures,
        footer=job_facts(checkpoint, explainer, **facts),
        colormap=options.colormap,
    )
    result.files.append(write_report(html, options.output))
    return result


def comparison_row(
    item: Any, mask: np.ndarray, entry: dict[str, Any], options: CompareOptions
) -> np.ndarray:
    """Original | Annotation outline | Heatmap | Overlay with outline, for one image."""
    gray = draw.fit_display(item.image.radiograph.pixels, PANEL_SIDE)
    small_mask = draw.fit_display(mask.astype(np.uint8), PANEL_SIDE).astype(bool)
    heat = draw.fit_display(item.heatmap, PANEL_SIDE)
    first = f"{options.thresholds[0]:g}"
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
    options: CompareOptions,
    *,
    names: tuple[str, ...],
    failures: list[dict[str, str]],
    method: str,
) -> dict[str, Any]:
    """The JSON report: per-image scores, means overall and per class, and a summary."""
    overall = mean_scores(per_image, options.thresholds)
    per_class = {
        c: {
            **mean_scores([e for e in per_image if e["class"] == c], options.thresholds),
            **counts.get(c, {}),
        }
        for c in options.classes
    }
    first = f"{options.thresholds[0]:g}"
    return {
        "num_images": len(per_image),
        "iou_threshold": options.thresholds[0],
        "mean_iou": overall["iou"][first],
        "mean_iou_by_threshold": overall["iou"],
        "mean_otsu_iou": overall["otsu_iou"],
        "hit_rate": overall["hit_rate"],
        "mean_relevance_mass": overall["relevance_mass"],
        "chance_level": overall["mask_fraction"],
        "per_class": per_class,
        "selection": "every annotated image"
        if options.per_class is None
        else f"true positives, up to {options.per_class} per class",
        "method": method,
        "class_names": list(names),
        "per_image": per_image,
        "errors": failures,
        "summary": summary_sentence(overall, first),
    }


def summary_sentence(overall: dict[str, Any], threshold: str) -> str:
    """One sentence stating the scores against their chance level."""
    if not overall["num_images"]:
        return "No image could be scored."

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0%}"

    def num(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    chance = overall["mask_fraction"]
    return (
        f"Over {overall['num_images']} images, mean IoU at {threshold} is "
        f"{num(overall['iou'][threshold])} (Otsu {num(overall['otsu_iou'])}); the heatmap peak "
        f"fell inside the tumour in {pct(overall['hit_rate'])} of images and "
        f"{pct(overall['relevance_mass'])} of the heatmap mass lay inside it, against a chance "
        f"level of {pct(chance)} (the mean tumour area fraction)."
    )
