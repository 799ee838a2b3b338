"""Splitting a data set index: stratified train/val/test, split CSVs, one split.

Split CSVs have the columns ``image_id,split,label`` (``label`` optional when
read); see :mod:`assurexray.data.index` for the index itself.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assurexray.core.errors import DatasetError
from assurexray.core.files import write_csv
from assurexray.data.index import (
    SPLIT_NAMES,
    canonical_label,
    center_key,
    clean_name,
    clean_split,
    duplicates,
    examples,
    present_splits,
    read_table,
    require_columns,
    source_of,
    strip_suffix,
)

SPLIT_FILE = "splits.csv"


def stratified_split(
    index: pd.DataFrame,
    *,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    holdout_center: Any = None,
) -> pd.DataFrame:
    """Assign ``train``/``val``/``test`` at random, class by class.

    Each class is shuffled on its own (with a generator seeded by ``seed`` and
    the class name) after sorting by id, so the result does not depend on row
    order or on the other classes, and never follows id order. Counts per class
    follow ``fractions`` (largest remainder); a class with at least as many
    images as non-zero fractions gets at least one image in each such split.

    Args:
        index: The index (not modified).
        fractions: Train, val and test fractions (normalised to sum 1).
        seed: Non-negative integer seed.
        holdout_center: If given, every image of this ``center`` goes to
            ``test`` and the others are split into train and val by the ratio
            of the first two fractions.

    Returns:
        A copy of ``index`` with the ``split`` column filled.

    Raises:
        DatasetError: If the index is empty, the fractions or seed are invalid,
            or the held-out centre is absent or would leave nothing to train on.
    """
    if index.empty:
        raise DatasetError(f"{source_of(index)}: cannot split an empty data set")
    share = _check_fractions(fractions)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DatasetError(f"split seed must be a non-negative integer, got {seed!r}")
    result = index.copy()
    result["split"] = pd.Series(None, index=result.index, dtype=object)
    pool = result
    if holdout_center is not None:
        held = _held_out(result, holdout_center)
        result.loc[held, "split"] = "test"
        pool = result[~held]
        share = _check_fractions((share[0], share[1], 0.0))
    for label, rows in pool.groupby("label", sort=True):
        rng = np.random.default_rng([int(seed), zlib.crc32(str(label).encode())])
        order = rng.permutation(rows.sort_values("image_id").index.to_numpy())
        bounds = np.cumsum(_allocate(len(order), share))[:-1]
        for name, part in zip(SPLIT_NAMES, np.split(order, bounds), strict=True):
            result.loc[part, "split"] = name
    return result


def write_split(index: pd.DataFrame, path: str | Path) -> Path:
    """Write ``image_id,split,label`` for every image, atomically.

    Raises:
        DatasetError: If an image has no split.
    """
    require_columns(index, ("image_id", "split", "label"), source_of(index))
    unassigned = index.loc[index["split"].isna(), "image_id"].tolist()
    if unassigned:
        raise DatasetError(
            f"{path}: {len(unassigned)} images have no split ({examples(unassigned)}); "
            "assign splits first"
        )
    return write_csv(path, index[["image_id", "split", "label"]])


def select_split(index: pd.DataFrame, split: str) -> pd.DataFrame:
    """Return the rows of one split, renumbered from 0.

    Raises:
        DatasetError: If no row has that split: an unknown name (the message
            lists the splits present) or an empty split.
    """
    present = present_splits(index)
    if split not in present:
        if not present:
            problem = "the data set has no split assigned (make one with 'assurexray split')"
        elif split in SPLIT_NAMES:
            problem = f"split '{split}' is empty (the data set has: {', '.join(present)})"
        else:
            problem = f"unknown split '{split}' (the data set has: {', '.join(present)})"
        raise DatasetError(f"{source_of(index)}: {problem}")
    return index[index["split"] == split].reset_index(drop=True)


def apply_split_file(index: pd.DataFrame, split_path: Path) -> pd.DataFrame:
    """Fill ``split`` from a split CSV; every listed id must exist, labels must agree."""
    table = read_table(split_path)
    require_columns(table, ("image_id", "split"), split_path)
    ids = [strip_suffix(clean_name(v, split_path, row)) for row, v in enumerate(table["image_id"])]
    twice = duplicates(ids)
    if twice:
        raise DatasetError(f"{split_path}: {len(twice)} duplicate image ids ({examples(twice)})")
    unknown = sorted(set(ids) - set(index["image_id"]))
    if unknown:
        raise DatasetError(
            f"{split_path}: {len(unknown)} image ids not in the data set at {source_of(index)} "
            f"({examples(unknown)})"
        )
    if "label" in table:
        given = dict(zip(ids, (canonical_label(v) for v in table["label"]), strict=True))
        known = dict(zip(index["image_id"], index["label"], strict=True))
        wrong = [i for i in ids if given[i] != known[i]]
        if wrong:
            first = wrong[0]
            raise DatasetError(
                f"{split_path}: {len(wrong)} labels disagree with the data set, e.g. {first} is "
                f"'{given[first]}' here but '{known[first]}' in {source_of(index)}"
            )
    splits = dict(zip(ids, (clean_split(v) for v in table["split"]), strict=True))
    unknown_splits = sorted({s for s in splits.values() if s is not None} - set(SPLIT_NAMES))
    if unknown_splits:
        raise DatasetError(
            f"{split_path}: unknown split names {examples(unknown_splits)} "
            f"(use {', '.join(SPLIT_NAMES)})"
        )
    result = index.copy()
    result["split"] = pd.Series(
        [splits.get(i) for i in result["image_id"]], index=result.index, dtype=object
    )
    return result


def _held_out(index: pd.DataFrame, center: Any) -> pd.Series:
    """Rows of ``center`` (compared as text), checked to be neither none nor all."""
    if "center" not in index:
        raise DatasetError(
            f"{source_of(index)}: cannot hold out center {center}: "
            "the data set has no 'center' column"
        )
    keys = index["center"].map(lambda v: str(center_key(v)))
    held = keys == str(center_key(center))
    if not held.any():
        present = sorted(set(keys) - {"None"})
        raise DatasetError(
            f"{source_of(index)}: center {center} not in the data set "
            f"(centers: {', '.join(present)})"
        )
    if held.all():
        raise DatasetError(
            f"{source_of(index)}: holding out center {center} leaves no images to train on"
        )
    return held


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    share = np.asarray(fractions, dtype=float)
    if share.shape != (3,) or not np.isfinite(share).all() or (share < 0).any() or share.sum() <= 0:
        raise DatasetError(
            f"split fractions must be 3 non-negative numbers (train, val, test), got {fractions}"
        )
    return share / share.sum()


def _allocate(count: int, share: np.ndarray) -> np.ndarray:
    """Split ``count`` items by ``share`` (largest remainder).

    Every split with a positive share gets at least one item when there are enough.
    """
    raw = count * share
    counts = np.floor(raw).astype(int)
    counts[np.argsort(counts - raw, kind="stable")[: count - counts.sum()]] += 1
    used = share > 0
    if count >= used.sum():
        for empty in np.flatnonzero(used & (counts == 0)):
            counts[np.argmax(counts)] -= 1
            counts[empty] = 1
    return counts
