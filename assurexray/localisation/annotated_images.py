"""Choosing the annotated images that ``compare`` and ``audit`` score.

Candidates come from a bare image folder (labels unknown) or a data set split;
annotations are attached by file stem; unless every image is wanted, only the
true positives of each tumour class are kept, stratified.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from assurexray.annotations.labelme import find_annotation
from assurexray.core.callbacks import Progress, Warn, no_progress, no_warn
from assurexray.core.errors import CheckpointError, DatasetError
from assurexray.data.selection import stratified_choice
from assurexray.engine.jobs import load_records
from assurexray.engine.model_opening import OpenedModel, check_classes
from assurexray.engine.streaming import LoadFailure, predict_records

if TYPE_CHECKING:
    from assurexray.localisation.image_choice import ImageChoice


def choose_annotated(
    model: OpenedModel,
    choice: ImageChoice,
    progress: Progress = no_progress,
    warn: Warn = no_warn,
) -> tuple[pd.DataFrame, dict[str, dict[str, int]], list[dict[str, str]]]:
    """The annotated images to score (true positives unless every image is wanted).

    Returns:
        The chosen records, the per-class counts (available and used), and the
        images that could not be read while predicting.

    Raises:
        CheckpointError: the checkpoint has none of the tumour classes scored.
        DatasetError: no candidate image, no annotation, or labels the checkpoint lacks.
    """
    if not set(choice.classes) & set(model.class_names):
        raise CheckpointError(
            f"{model.path}: the checkpoint's classes ({', '.join(model.class_names)}) include "
            f"none of the tumour classes scored against the outlines "
            f"({', '.join(choice.classes)})"
        )
    records = candidate_records(choice, warn)
    if records["label"].notna().any():
        check_classes(model, records)
    annotated = attach_annotations(records, choice.annotations)
    if annotated.empty:
        if choice.images is not None and choice.annotations is None:
            raise DatasetError("--images needs --annotations (the folder of LabelMe files)")
        raise DatasetError(f"no image has an annotation in {choice.annotations or 'the data set'}")
    predictions: pd.DataFrame | None = None
    unreadable: list[LoadFailure] = []
    if choice.per_class is not None or annotated["label"].isna().any():
        predictions, unreadable = predict_records(
            annotated, model, choice.stream, progress=progress
        )
    chosen, counts = choose_images(annotated, predictions, choice)
    failures = [{"image_id": f.path.stem, "error": f.error} for f in unreadable]
    return chosen, counts, failures


def candidate_records(choice: ImageChoice, warn: Warn = no_warn) -> pd.DataFrame:
    """The candidate images: a bare folder (labels unknown) or a data set split."""
    from assurexray.data.datasets import select_split
    from assurexray.imaging.reading import is_image_file

    if choice.images is not None:
        if not choice.images.is_dir():
            raise DatasetError(f"{choice.images}: image folder not found")
        paths = sorted(p for p in choice.images.iterdir() if p.is_file() and is_image_file(p))
        return pd.DataFrame(
            {
                "image_id": [p.stem for p in paths],
                "path": [str(p) for p in paths],
                "label": [None] * len(paths),
                "annotation": [None] * len(paths),
            }
        )
    if choice.data is None:
        raise DatasetError("no images to compare: give a data set (--data) or --images")
    index = load_records(choice.data)
    no_split = index["split"].isna().all()
    if choice.split != "all" and no_split:
        warn("the data set has no split: scoring every image, training images included")
    if choice.split == "all" or no_split:
        return index
    return select_split(index, choice.split)


def attach_annotations(records: pd.DataFrame, annotation_dir: Path | None) -> pd.DataFrame:
    """Fill the ``annotation`` column from ``annotation_dir`` (matched by image stem)."""
    frame = records.copy()
    if annotation_dir is not None:
        if not annotation_dir.is_dir():
            raise DatasetError(f"{annotation_dir}: annotation folder not found")
        found = [find_annotation(annotation_dir, Path(p).stem) for p in frame["path"]]
        frame["annotation"] = pd.Series(found, index=frame.index, dtype=object)
    return frame[frame["annotation"].notna()].reset_index(drop=True)


def choose_images(
    annotated: pd.DataFrame, predictions: pd.DataFrame | None, choice: ImageChoice
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
        if choice.per_class is not None:
            frame = frame[frame["label"] == frame["predicted_label"]]
    frame = frame[frame["label"].isin(choice.classes)]
    return stratified_choice(frame, "label", choice.per_class, seed=choice.seed)
