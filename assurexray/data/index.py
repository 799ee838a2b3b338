"""The data set index: its columns, its validation, and the helpers that build it.

The index is a pandas DataFrame with the columns :data:`INDEX_COLUMNS`, one row
per image, plus optional extras such as ``center``:

* ``image_id`` — the image's path relative to the layout's image folder,
  without its suffix, with ``/`` separators (``IMG000001``, ``Benign/IMG000001``).
* ``path`` — absolute path of the image file (a string).
* ``label`` — one of :data:`CLASS_NAMES`.
* ``split`` — ``train``, ``val``, ``test`` or ``None`` when not assigned.
* ``annotation`` — absolute path of the LabelMe JSON, or ``None``.

``index.attrs["source"]`` names the file or folder the index came from, so
that errors can name it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from assurexray.core.config import CLASS_NAMES
from assurexray.core.errors import DatasetError, refuse_special
from assurexray.core.text import first_line
from assurexray.imaging.reading import IMAGE_EXTENSIONS

INDEX_COLUMNS = ["image_id", "path", "label", "split", "annotation"]
SPLIT_NAMES = ("train", "val", "test")
_SHOWN = 3  # how many offending entries an error message names


def validate_index(index: pd.DataFrame, class_names: Sequence[str] = CLASS_NAMES) -> None:
    """Check an index before it is used.

    Raises:
        DatasetError: If the index is empty or lacks a column, an id repeats, a
            label is not in ``class_names``, a split name is unknown, or images
            are missing on disk. The message names the first few offenders and
            their count.
    """
    where = source_of(index)
    if index.empty:
        raise DatasetError(f"{where}: the data set is empty (no images found)")
    require_columns(index, INDEX_COLUMNS, where)
    twice = duplicates(index["image_id"])
    if twice:
        raise DatasetError(f"{where}: {len(twice)} duplicate image ids ({examples(twice)})")
    bad_labels = sorted(set(index["label"].astype(str)) - set(class_names))
    if bad_labels:
        raise DatasetError(
            f"{where}: labels not in the class list {', '.join(class_names)}: "
            f"{examples(bad_labels)}"
        )
    bad_splits = sorted(set(present_splits(index)) - set(SPLIT_NAMES))
    if bad_splits:
        raise DatasetError(
            f"{where}: unknown split names {examples(bad_splits)} (use {', '.join(SPLIT_NAMES)})"
        )
    missing = [p for p in index["path"] if not Path(p).is_file()]
    if missing:
        raise DatasetError(
            f"{where}: {len(missing)} images listed but missing on disk ({examples(missing)})"
        )


def make_index(
    *,
    ids: list[str],
    paths: Sequence[Path],
    labels: list[str],
    annotations: list[Path | None],
    source: Path,
    splits: list[str | None] | None = None,
    extras: dict[str, list[Any]] | None = None,
) -> pd.DataFrame:
    """Build an index frame; ``split`` and ``annotation`` keep ``None`` (object dtype)."""
    count = len(ids)
    columns = {
        "image_id": pd.Series(ids, dtype=object),
        "path": pd.Series([str(Path(p).absolute()) for p in paths], dtype=object),
        "label": pd.Series(labels, dtype=object),
        "split": pd.Series(splits if splits is not None else [None] * count, dtype=object),
        "annotation": pd.Series(
            [None if a is None else str(a.absolute()) for a in annotations], dtype=object
        ),
    }
    for name, values in (extras or {}).items():
        columns[name] = pd.Series(values, dtype=object)
    index = pd.DataFrame(columns)
    index.attrs["source"] = str(source)
    return index


def read_table(path: Path, nrows: int | None = None) -> pd.DataFrame:
    """Read a CSV or Excel table with stripped, lower-case column names."""
    refuse_special(path, DatasetError)
    if not path.is_file():
        raise DatasetError(f"{path}: table not found")
    readers: dict[str, Callable[..., Any]] = {  # pandas readers, overloaded return types
        ".xlsx": pd.read_excel,
        ".xls": pd.read_excel,
        ".csv": partial(pd.read_csv, encoding="utf-8-sig"),
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise DatasetError(f"{path}: unsupported table type '{path.suffix}' (use .xlsx or .csv)")
    try:
        table = reader(path, nrows=nrows)
    except Exception as exc:  # pandas and its engines (openpyxl, xlrd) raise many kinds
        reason = first_line(exc)
        raise DatasetError(f"{path}: cannot read table ({reason})") from exc
    table.columns = [str(c).strip().lower() for c in table.columns]
    return table


def require_columns(table: pd.DataFrame, columns: Iterable[str], where: Any) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DatasetError(
            f"{where}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        )


def clean_name(value: Any, where: Path, row: int) -> str:
    """An image name from a table cell, or an error for a blank cell."""
    if pd.isna(value) or not str(value).strip():
        raise DatasetError(f"{where}: row {row + 2} has no image_id")
    return str(value).strip().replace("\\", "/")


def strip_suffix(name: str) -> str:
    """Drop an image suffix (``.jpeg``, ``.png``, ...) from a name; keep other dots."""
    suffix = PurePosixPath(name).suffix
    return name[: -len(suffix)] if suffix.lower() in IMAGE_EXTENSIONS else name


def canonical_label(value: Any) -> str:
    """A class name in its canonical case; other names unchanged (for validation)."""
    text = "" if pd.isna(value) else str(value).strip()
    rank = class_rank(text)
    return CLASS_NAMES[rank] if rank < len(CLASS_NAMES) else text


def class_rank(name: str) -> int:
    """Position of a folder name in :data:`CLASS_NAMES` (any case), else ``len``."""
    lowered = [c.lower() for c in CLASS_NAMES]
    return lowered.index(name.lower()) if name.lower() in lowered else len(CLASS_NAMES)


def clean_split(value: Any) -> str | None:
    return None if pd.isna(value) or not str(value).strip() else str(value).strip().lower()


def duplicates(values: Iterable[Any]) -> list[Any]:
    """Values that occur more than once, in order of first appearance."""
    return [value for value, count in Counter(values).items() if count > 1]


def present_splits(index: pd.DataFrame) -> list[str]:
    """Split names present, in train/val/test order, then others alphabetically."""
    names = set(index["split"].dropna().astype(str))
    return [s for s in SPLIT_NAMES if s in names] + sorted(names - set(SPLIT_NAMES))


def source_of(index: pd.DataFrame) -> str:
    return str(index.attrs.get("source", "data set index"))


def examples(items: Sequence[Any]) -> str:
    """The first few items, and how many more."""
    shown = ", ".join(str(i) for i in items[:_SHOWN])
    return shown + (f", and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def center_key(value: Any) -> Any:
    """A centre as written (``1.0`` becomes ``1``; blank becomes ``None``)."""
    if pd.isna(value):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value.item() if isinstance(value, np.generic) else value
