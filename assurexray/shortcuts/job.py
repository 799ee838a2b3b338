"""The ``shortcuts`` job: does the model read the film's markers or the hospital?

One pass per image through the model (prediction, heatmap of the predicted class, pooled
features; the next batch's pass, and this batch's re-predictions, run in background threads
while this one is analysed; a CNN's BatchNorms folded into its convolutions and its weights
in ``channels_last`` meanwhile, :mod:`.model_speed`),
then per image: artefacts (detected, or the user's LabelMe outlines), attention
on them, off the anatomy and on the border against a permutation null, and the
counterfactual (artefacts inpainted, and a control inpainting of the same shapes
elsewhere) re-predicted in batches. Then strategies (SpRAy), subgroups and the site probe,
flags and a plain verdict. Files: see :mod:`assurexray.shortcuts.report`.

Library use::

    from assurexray.engine.model_opening import ModelOptions, open_model
    from assurexray.shortcuts.job import ShortcutsOptions, run

    model = open_model(ModelOptions(checkpoint=Path("best.pt")), "cpu")
    result = run(model, ShortcutsOptions(output=Path("out"), data=Path("data/BTXRD")))
    print(result.report["flags"], result.report["verdict"])
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from assurexray.core.callbacks import Progress, Warn, no_progress, no_warn
from assurexray.core.errors import AssureXrayError
from assurexray.core.files import check_output_folder
from assurexray.engine.model_opening import OpenedModel
from assurexray.engine.prefetch import prefetch
from assurexray.engine.streaming import DISPLAY_SIDE, ExplainedImage, LoadFailure, explain_batches
from assurexray.reporting.html_report import PICTURE_SIDE, Pictures, write_pictures
from assurexray.reporting.render import display_size
from assurexray.shortcuts.image_analysis import ImageFindings, analyse_image
from assurexray.shortcuts.inputs import shortcut_records
from assurexray.shortcuts.model_pass import BatchTap, ModelTap, predict_arrays
from assurexray.shortcuts.model_speed import SPEED_NOTE, faster_passes
from assurexray.shortcuts.options import ShortcutsOptions
from assurexray.shortcuts.result import ShortcutsResult

__all__ = ["ShortcutsOptions", "ShortcutsResult", "analyse_shortcuts", "run"]


def run(
    model: OpenedModel,
    options: ShortcutsOptions,
    *,
    progress: Progress = no_progress,
    warn: Warn = no_warn,
) -> ShortcutsResult:
    """Analyse the images for shortcuts and write the report, CSV and pictures.

    Raises:
        DatasetError: no data set or image folder, or classes the checkpoint lacks.
        OutputError: the output folder cannot be written.
    """
    from assurexray.shortcuts.report import build_report, write_outputs, write_page

    started = time.perf_counter()
    check_output_folder(options.output)
    records = shortcut_records(model, options, warn)
    names = model.class_names
    model.checkpoint.model.eval()
    rows: list[dict[str, Any]] = []
    findings: list[ImageFindings] = []
    features: list[np.ndarray] = []
    failures: list[dict[str, str]] = []
    pictures: dict[str, Pictures] = {}
    interrupted = False
    paths = records["path"].tolist()
    by_path = {
        str(Path(p)): {str(k): v for k, v in r.items()}
        for p, r in zip(paths, records.to_dict("records"), strict=True)
    }
    done = 0
    tap = ModelTap(model)
    lock = threading.Lock()  # the model: the next batch's pass, or this batch's re-predictions

    def with_tap(batch: list[ExplainedImage | LoadFailure]) -> tuple[list[Any], BatchTap]:
        explained = [e for e in batch if isinstance(e, ExplainedImage)]
        return batch, tap.take(len(explained), [e.target for e in explained])

    # This batch's re-predictions run in a worker while the next batch is analysed.
    Pending = tuple[Future[None], list[tuple[ImageFindings, ExplainedImage]], list[np.ndarray], int]
    pending: deque[Pending]
    pending = deque()

    def repredict(batch_findings: list[tuple[ImageFindings, ExplainedImage]]) -> None:
        with lock:
            _counterfactuals(batch_findings, model, options, tap)

    def settle(keep: int) -> None:
        """Collect re-predicted batches, oldest first, until ``keep`` remain under way."""
        while len(pending) > keep:
            future, batch_findings, batch_features, upto = pending[0]
            future.result()
            made = [_row(by_path[str(i.image.path)], f, i, names) for f, i in batch_findings]
            pending.popleft()  # then the three lists grow together
            rows.extend(made)
            findings.extend(found for found, _ in batch_findings)
            features.extend(batch_features)
            for found, _ in batch_findings:
                found.variants.clear()
            progress("shortcuts", upto, len(paths))

    pool = ThreadPoolExecutor(1, thread_name_prefix="assurexray-repredict")
    with faster_passes(model) as model_pass, tap, pool as worker:
        stream = explain_batches(
            paths, model.explainer, model.preprocess, options.stream, display_side=DISPLAY_SIDE
        )
        try:
            for batch, tapped in prefetch(stream, lock, with_tap):
                batch_findings: list[tuple[ImageFindings, ExplainedImage]] = []
                batch_features: list[np.ndarray] = []
                j = -1
                for item in batch:
                    done += 1
                    if isinstance(item, LoadFailure):
                        failures.append({"image": str(item.path), "error": item.error})
                        continue
                    j += 1
                    record = by_path[str(item.image.path)]
                    heat = item.network_heatmap
                    if tapped.raw_maps is not None:
                        heat = tapped.raw_maps[j]
                    try:
                        found = analyse_image(
                            done - 1, item.image.radiograph.data, item.image.radiograph.size,
                            heat, item.image.geometry, record.get("annotation"),
                            model.preprocess, options,
                        )  # fmt: skip
                    except (AssureXrayError, ValueError, cv2.error) as exc:
                        failures.append({"image": str(item.image.path), "error": str(exc)})
                        continue
                    found.path = item.image.path
                    if tap.cells is not None:
                        found.cells_px = item.image.geometry.network_size / max(tap.cells)
                    batch_findings.append((found, item))
                    key = str(record.get("image_id") or item.image.path)
                    gray = item.image.radiograph.pixels  # the heatmap at the picture's size
                    shown = display_size(gray.shape[:2], PICTURE_SIDE)
                    pictures[key] = write_pictures(
                        options.output, key, gray, item.heatmap_at(shown)
                    )
                    if tapped.pooled is not None:
                        batch_features.append(tapped.pooled[j])
                future = worker.submit(repredict, batch_findings)
                pending.append((future, batch_findings, batch_features, done))
                settle(keep=1)
            settle(keep=0)
        except KeyboardInterrupt:
            interrupted = True
            while pending:  # the re-predictions under way end in a second or so: keep them
                try:
                    settle(keep=0)
                except KeyboardInterrupt:
                    continue
            warn(f"interrupted: {len(rows)} of {len(paths)} images analysed; no flags set")
    image_pass = time.perf_counter() - started
    table = pd.DataFrame(rows)
    feats = np.stack(features) if features and len(features) == len(rows) else None
    report = build_report(table, findings, feats, model, options, tap, failures, interrupted, warn)
    report["timings"]["image_pass"] = image_pass
    report["model_pass"] = model_pass | {"note": SPEED_NOTE}
    result = ShortcutsResult(report, table, findings, failures, [], interrupted, options.output)
    result.files = write_outputs(result, model, options)
    result.files.append(write_page(result, model, options, pictures))
    return result


def _counterfactuals(
    batch: list[tuple[ImageFindings, ExplainedImage]],
    model: OpenedModel,
    options: ShortcutsOptions,
    tap: ModelTap,
) -> None:
    """Re-predict every variant of the batch in one go; fill each image's fields."""
    tensors, where = [], []
    for n, (found, item) in enumerate(batch):
        for name, tensor in found.variants.items():
            if name == "baseline" and np.array_equal(tensor, item.image.tensor):
                continue  # the stream's own input: its prediction is already known
            tensors.append(tensor)
            where.append((n, name))
    probs = predict_arrays(model, tensors, options.stream, tap)
    got: dict[tuple[int, str], np.ndarray] = dict(zip(where, probs, strict=True))
    for n, (found, item) in enumerate(batch):
        if "removed" not in found.variants:
            continue
        t = item.target
        base = got.get((n, "baseline"), item.probabilities)
        found.p_baseline = float(base[t])
        removed = got[(n, "removed")]
        found.p_removed, found.pred_removed = float(removed[t]), int(removed.argmax())
        if (n, "control") in got:
            control = got[(n, "control")]
            found.p_control, found.pred_control = float(control[t]), int(control.argmax())
        found.baseline_predicted = int(base.argmax())


def _row(
    record: dict[str, Any], found: ImageFindings, item: ExplainedImage, names: tuple[str, ...]
) -> dict[str, Any]:
    """One line of ``shortcuts.csv``."""
    label = record.get("label")
    predicted = names[item.predicted]
    regions = found.regions

    def name(index: int | None) -> str | None:
        return None if index is None else names[index]

    row: dict[str, Any] = {
        "image_id": record.get("image_id"),
        "path": str(found.path),
        "label": label,
        "predicted": predicted,
        "explained": names[item.target],
        "p_explained": float(item.probabilities[item.target]),
        "correct": None if label is None else label == predicted,
        "artefacts": len(found.artefacts),
        "kinds": " ".join(a.kind for a in found.artefacts),
        "artefact_source": found.source,
        "mass_artefacts": regions["artefacts"].mass,
        "area_artefacts": regions["artefacts"].area,
        "peak_on_artefact": regions["artefacts"].peak_inside,
        "p_value": found.p_value,
        "mass_off_anatomy": regions["off_anatomy"].mass,
        "area_off_anatomy": regions["off_anatomy"].area,
        "mass_border": regions["border"].mass,
        "area_border": regions["border"].area,
        "mass_artefacts_or_border": regions["artefacts_or_border"].mass,
        "p_baseline": found.p_baseline,
        "p_removed": found.p_removed,
        "p_control": found.p_control,
        "predicted_baseline": name(found.baseline_predicted),
        "predicted_removed": name(found.pred_removed),
        "predicted_control": name(found.pred_control),
    }
    for column in ("center", "site", "angle", "gender", "age"):
        if column in record:
            row[column] = record[column]
    return row


analyse_shortcuts = run
"""The job as a library function: ``assurexray.analyse_shortcuts(model, options)``."""
