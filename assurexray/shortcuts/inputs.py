"""The images the shortcut analysis reads: a data set split (labels, metadata) or a folder."""

from __future__ import annotations

import pandas as pd

from assurexray.core.callbacks import Warn, no_warn
from assurexray.core.errors import DatasetError
from assurexray.engine.jobs import load_records
from assurexray.engine.model_opening import OpenedModel, check_classes
from assurexray.localisation.annotated_images import attach_annotations
from assurexray.shortcuts.options import ShortcutsOptions


def shortcut_records(
    model: OpenedModel, options: ShortcutsOptions, warn: Warn = no_warn
) -> pd.DataFrame:
    """``image_id``, ``path``, ``label`` (None under ``--images``), ``annotation`` and the
    data set's metadata columns (``center``, ``site``, ``angle``, ``gender``, ``age``).

    Raises:
        DatasetError: no such folder or data set, no image, or classes the model lacks.
    """
    from assurexray.data.datasets import select_split
    from assurexray.imaging.reading import is_image_file

    if options.images is not None:
        if not options.images.is_dir():
            raise DatasetError(f"{options.images}: image folder not found")
        paths = sorted(p for p in options.images.iterdir() if p.is_file() and is_image_file(p))
        records = pd.DataFrame(
            {
                "image_id": [p.stem for p in paths],
                "path": [str(p) for p in paths],
                "label": pd.Series([None] * len(paths), dtype=object),
                "annotation": pd.Series([None] * len(paths), dtype=object),
            }
        )
    else:
        if options.data is None:
            raise DatasetError("no images: give a data set (--data) or a folder (--images)")
        index = load_records(options.data)
        check_classes(model, index)
        no_split = index["split"].isna().all()
        if options.split != "all" and no_split:
            warn("the data set has no split: analysing every image, training images included")
        records = (
            index if options.split == "all" or no_split else select_split(index, options.split)
        )
    if options.annotations is not None:
        found = attach_annotations(records, options.annotations)
        lookup = dict(zip(found["path"], found["annotation"], strict=True))
        found_files = pd.Series([lookup.get(p) for p in records["path"]], dtype=object)
        records = records.reset_index(drop=True).assign(annotation=found_files)
    if records.empty:
        where = options.images or f"the {options.split} split of {options.data}"
        raise DatasetError(f"{where}: no image to analyse")
    return records.reset_index(drop=True)


__all__ = ["shortcut_records"]
