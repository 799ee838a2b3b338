"""The ``gallery`` job: predictions and metrics over a split, then a grid of
true positives, false positives and false negatives per class with heatmaps.

Two streaming passes: the first predicts every image (memory does not grow
with the split), the second explains only the selected examples. :func:`run`
with :class:`GalleryOptions` is the job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from assurexray.core.callbacks import Progress, Warn, no_progress, no_warn
from assurexray.core.errors import DatasetError
from assurexray.core.files import check_output_folder, write_csv, write_json, write_png
from assurexray.core.naming import distinct_slugs
from assurexray.data.selection import CATEGORIES, select_examples
from assurexray.engine.jobs import Overrides, StreamOptions, load_records
from assurexray.engine.model_opening import OpenedModel, check_classes
from assurexray.engine.streaming import ExplainedImage, LoadFailure, explain_paths, predict_records
from assurexray.evaluation.metrics import classification_metrics
from assurexray.reporting import render as draw
from assurexray.reporting.html_report import Pictures, job_facts, write_pictures, write_report
from assurexray.reporting.page_parts import PageContext
from assurexray.reporting.report_pages import gallery_page

if TYPE_CHECKING:
    from assurexray.core.config import Settings

OVERRIDES = "data split k output fn_true_class batch_size device"
CELL = (360, 360)  # (height, width) of one gallery cell, caption included
_ROW_TITLES = {
    "TP": "True positives\ntrue {c}, predicted {c}",
    "FP": "False positives\npredicted {c}, true other",
    "FN": "False negatives\ntrue {c}, predicted other",
    "FN_true": "False negatives\nheatmap of {c}",
}


@dataclass(frozen=True)
class GalleryOptions:
    """Which split the ``gallery`` job runs on and what it draws."""

    data: Path
    output: Path = Path("results/gradcam")
    split: str = "test"
    k: int = 3
    fn_true_class: bool = False
    alpha: float = 0.4
    colormap: str = "jet"
    stream: StreamOptions = field(default_factory=StreamOptions)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> GalleryOptions:
        """Options from the config, changed by ``overrides`` (one left at None keeps it).

        Overrides: ``data``, ``split``, ``k``, ``output``, ``fn_true_class``,
        ``batch_size``, ``device``.
        """
        given = Overrides(cls, overrides, OVERRIDES)
        return cls(
            data=Path(given.pick("data", settings.data)),
            output=Path(given.pick("output", settings.gallery.output)),
            split=given.pick("split", settings.gallery.split),
            k=given.pick("k", settings.gallery.k),
            fn_true_class=bool(given.get("fn_true_class")),
            alpha=settings.explain.alpha,
            colormap=settings.explain.colormap,
            stream=StreamOptions.from_settings(
                settings, section="gallery", **given.only("batch_size", "device")
            ),
        )


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
    radiograph = item.image.radiograph  # a reduced copy; size is the file's
    gray = draw.fit_display(radiograph.data, CELL[1], frame=radiograph.size)
    heat = item.heatmap_at(gray.shape[:2])
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


def run(
    model: OpenedModel,
    options: GalleryOptions,
    *,
    progress: Progress = no_progress,
    warn: Warn = no_warn,
) -> GalleryResult:
    """The ``gallery`` job: predict a split, write predictions/metrics, one gallery per class.

    Raises:
        DatasetError: no data set, an unknown split, or labels the checkpoint lacks.
    """
    from assurexray.data.datasets import select_split

    if options.split == "all":
        raise DatasetError(
            "--split all: 'all' is not a gallery split; give train, val or test "
            f"(run 'assurexray split --data {options.data}' if the data set has none)"
        )
    records = select_split(load_records(options.data), options.split)
    check_classes(model, records)
    names = model.class_names
    output = check_output_folder(options.output)  # before the work, not after it
    predictions, failures = predict_records(records, model, options.stream, progress=progress)
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
    chosen = select_examples(predictions, names, options.k)
    cells = _explain_selected(chosen, model, options, progress, result.pictures)
    for name, file_stem in zip(names, distinct_slugs(names), strict=True):
        figure = render_class_gallery(
            name,
            chosen[name],
            cells[name],
            options.k,
            show_fn_true=options.fn_true_class,
            colormap=options.colormap,
        )
        result.files[f"gallery_{name}"] = write_png(output / f"gallery_{file_stem}.png", figure)
    facts = {"examples per category": options.k, "heatmap opacity": options.alpha}
    context = PageContext(result.pictures, job_facts(model, **facts), options.colormap)
    page = gallery_page(predictions, result.metrics, context, [f.error for f in failures])
    result.files["report"] = write_report(page, output)
    return result


def _explain_selected(
    chosen: dict[str, dict[str, pd.DataFrame]],
    model: OpenedModel,
    options: GalleryOptions,
    progress: Progress,
    pictures: dict[str, Pictures],
) -> dict[str, dict[tuple[str, str], np.ndarray]]:
    """Explain each selected image once per needed class and draw its cell.

    Also writes each image's report.html pictures (heatmap of the predicted
    class) into ``pictures``, by image id.
    """
    names = model.class_names
    show_fn_true = options.fn_true_class
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
        model.explainer,
        model.preprocess,
        options.stream,
        targets=[cls for _, cls in jobs],
        display_side=CELL[1],
    )
    for done, (job, item) in enumerate(zip(jobs, stream_items, strict=True), start=1):
        if isinstance(item, ExplainedImage) and item.target == item.predicted:
            image_id = wanted[job][0][2]["image_id"]
            gray = item.image.radiograph.pixels
            pictures[image_id] = write_pictures(
                options.output,
                image_id,
                gray,
                item.heatmap_at(gray.shape[:2]),
                alpha=options.alpha,
                colormap=options.colormap,
            )
        for name, category, row in wanted[job]:
            if isinstance(item, LoadFailure):
                cells[name][(category, row["image_id"])] = draw.text_cell(
                    f"cannot read\n{row['image_id']}", CELL, grey=True
                )
            else:
                cells[name][(category, row["image_id"])] = _cell(
                    item, row, names, options.alpha, options.colormap
                )
        progress("explain", done, len(jobs))
    return cells
