"""The ``gallery`` job: predictions and metrics over a split, then a grid of
true positives, false positives and false negatives per class with heatmaps.

Two streaming passes: the first predicts every image (memory does not grow
with the split), the second explains only the selected examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assurexray import render as draw
from assurexray.html_report import Pictures, job_facts, write_pictures, write_report
from assurexray.inference import (
    ExplainedImage,
    LoadFailure,
    Progress,
    explain_paths,
    predict_records,
)
from assurexray.metrics import classification_metrics
from assurexray.report import write_csv, write_json, write_png
from assurexray.report_pages import gallery_page
from assurexray.selection import CATEGORIES, select_examples

CELL = (360, 360)  # (height, width) of one gallery cell, caption included
_ROW_TITLES = {
    "TP": "True positives\ntrue {c}, predicted {c}",
    "FP": "False positives\npredicted {c}, true other",
    "FN": "False negatives\ntrue {c}, predicted other",
    "FN_true": "False negatives\nheatmap of {c}",
}


@dataclass
class GalleryResult:
    """What the gallery job wrote and measured."""

    predictions: pd.DataFrame
    metrics: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)
    failures: list[LoadFailure] = field(default_factory=list)
    pictures: dict[str, Pictures] = field(default_factory=dict)  # report.html's, by image id


def split_metrics(predictions: pd.DataFrame, class_names: tuple[str, ...]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1, ROC AUC and the confusion matrix."""
    lookup = {n: i for i, n in enumerate(class_names)}
    probs = predictions[[f"p_{n}" for n in class_names]].to_numpy(dtype=np.float64)
    return classification_metrics(
        predictions["true_label"].map(lookup).to_numpy(),
        predictions["predicted_label"].map(lookup).to_numpy(),
        probs,
        list(class_names),
    )


def _cell(
    item: ExplainedImage, row: pd.Series, names: tuple[str, ...], alpha: float, colormap: str
) -> np.ndarray:
    gray = draw.fit_display(item.image.radiograph.pixels, CELL[1])
    heat = draw.fit_display(item.heatmap, CELL[1])
    picture = draw.letterbox(
        draw.overlay(gray, heat, alpha=alpha, colormap=colormap), (CELL[0] - 70, CELL[1])
    )
    confidence = row[f"p_{row['predicted_label']}"]
    caption = f"{row['image_id']}\n{row['true_label']} -> {row['predicted_label']} {confidence:.0%}"
    if item.target != item.predicted:
        caption += f"\nheatmap: {names[item.target]}"
    return draw.add_caption(picture, caption)


def render_class_gallery(
    class_name: str,
    chosen: dict[str, pd.DataFrame],
    cells: dict[tuple[str, str], np.ndarray],
    k: int,
    *,
    show_fn_true: bool,
    colormap: str,
) -> np.ndarray:
    """One class's grid: a row per category, ``k`` columns, "none" where missing."""
    row_keys = [*CATEGORIES, *(["FN_true"] if show_fn_true else [])]
    grid_cells = []
    for key in row_keys:
        frame = chosen["FN" if key == "FN_true" else key]
        grid_cells.append(draw.text_cell(_ROW_TITLES[key].format(c=class_name), CELL))
        ids = list(frame["image_id"])
        for column in range(k):
            if column < len(ids):
                grid_cells.append(cells[(key, ids[column])])
            else:
                grid_cells.append(
                    draw.text_cell("none" if column == len(ids) else "", CELL, grey=True)
                )
    body = draw.grid(grid_cells, ncols=k + 1, cell_size=CELL)
    legend = draw.colorbar(min(body.shape[0], 600), colormap)
    figure = draw.hstack_panels([body, draw.letterbox(legend, (body.shape[0], legend.shape[1]))])
    return draw.add_caption(figure, f"{class_name}: heatmap of the predicted class (red = high)")


def run_gallery(
    records: pd.DataFrame,
    checkpoint: Any,
    explainer: Any,
    *,
    output: Path,
    k: int,
    device: Any,
    batch_size: int = 16,
    workers: int = 2,
    max_pixels: int,
    alpha: float = 0.4,
    colormap: str = "jet",
    show_fn_true: bool = False,
    progress: Progress | None = None,
) -> GalleryResult:
    """Predict a split, write predictions/metrics, and draw one gallery per class."""
    names = tuple(checkpoint.class_names)
    predictions, failures = predict_records(
        records,
        checkpoint,
        device=device,
        batch_size=batch_size,
        workers=workers,
        max_pixels=max_pixels,
        progress=progress,
    )
    result = GalleryResult(predictions, {}, failures=failures)
    result.files["predictions"] = write_csv(output / "predictions.csv", predictions)
    if predictions.empty:
        return result
    result.metrics = split_metrics(predictions, names)
    result.metrics["num_failed"] = len(failures)
    result.files["metrics"] = write_json(output / "metrics.json", result.metrics)
    result.files["confusion_matrix"] = write_png(
        output / "confusion_matrix.png",
        draw.confusion_matrix_image(np.array(result.metrics["confusion_matrix"]), names),
    )
    chosen = select_examples(predictions, names, k)
    cells = _explain_selected(
        chosen,
        explainer,
        checkpoint,
        names,
        device=device,
        batch_size=batch_size,
        workers=workers,
        max_pixels=max_pixels,
        alpha=alpha,
        colormap=colormap,
        show_fn_true=show_fn_true,
        progress=progress,
        pictures=(output, result.pictures),
    )
    for name in names:
        figure = render_class_gallery(
            name, chosen[name], cells[name], k, show_fn_true=show_fn_true, colormap=colormap
        )
        result.files[f"gallery_{name}"] = write_png(output / f"gallery_{name}.png", figure)
    page = gallery_page(
        predictions,
        result.metrics,
        pictures=result.pictures,
        footer=job_facts(
            checkpoint, explainer, **{"examples per category": k, "heatmap opacity": alpha}
        ),
        failures=[f.error for f in failures],
        colormap=colormap,
    )
    result.files["report"] = write_report(page, output)
    return result


def _explain_selected(
    chosen: dict[str, dict[str, pd.DataFrame]],
    explainer: Any,
    checkpoint: Any,
    names: tuple[str, ...],
    *,
    show_fn_true: bool,
    alpha: float,
    colormap: str,
    progress: Progress | None,
    pictures: tuple[Path, dict[str, Pictures]] | None = None,
    **stream: Any,
) -> dict[str, dict[tuple[str, str], np.ndarray]]:
    """Explain each selected image once per needed class and draw its cell.

    ``pictures``: (page folder, dict) to write each image's report.html pictures
    (heatmap of the predicted class) into, by image id.
    """
    lookup = {n: i for i, n in enumerate(names)}
    wanted: dict[tuple[str, int], list[tuple[str, str, pd.Series]]] = {}
    for name, groups in chosen.items():
        for category, frame in groups.items():
            for _, row in frame.iterrows():
                wanted.setdefault((row["path"], lookup[row["predicted_label"]]), []).append(
                    (name, category, row)
                )
                if category == "FN" and show_fn_true:
                    wanted.setdefault((row["path"], lookup[row["true_label"]]), []).append(
                        (name, "FN_true", row)
                    )
    jobs = list(wanted)
    cells: dict[str, dict[tuple[str, str], np.ndarray]] = {n: {} for n in names}
    stream_items = explain_paths(
        [p for p, _ in jobs],
        explainer,
        checkpoint.preprocess,
        targets=[cls for _, cls in jobs],
        **stream,
    )
    for done, (job, item) in enumerate(zip(jobs, stream_items, strict=True), start=1):
        first_row = wanted[job][0][2]
        if pictures and isinstance(item, ExplainedImage) and item.target == item.predicted:
            folder, written = pictures
            written[first_row["image_id"]] = write_pictures(
                folder,
                first_row["image_id"],
                item.image.radiograph.pixels,
                item.heatmap,
                alpha=alpha,
                colormap=colormap,
            )
        for name, category, row in wanted[job]:
            if isinstance(item, LoadFailure):
                cells[name][(category, row["image_id"])] = draw.text_cell(
                    f"cannot read\n{row['image_id']}", CELL, grey=True
                )
            else:
                cells[name][(category, row["image_id"])] = _cell(item, row, names, alpha, colormap)
        if progress:
            progress("explain", done, len(jobs))
    return cells
