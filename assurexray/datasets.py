"""One index of records (image, label, split, annotation) from any supported layout.

The index is a pandas DataFrame with the columns :data:`INDEX_COLUMNS`, one row
per image, plus optional extras such as ``center``:

* ``image_id`` — the image's path relative to the layout's image folder,
  without its suffix, with ``/`` separators. In the BTXRD layout that is the
  file name stem (``IMG000001`` for ``images/IMG000001.jpeg``; the
  ``image_id`` column of ``dataset.xlsx``, ``IMG000001.jpeg``, maps to it); in
  the class-per-folder layout it keeps the class folder (``Benign/IMG000001``)
  so equal file names in two folders stay distinct. Split CSVs may write ids
  with or without the image suffix.
* ``path`` — absolute path of the image file (a string).
* ``label`` — one of :data:`CLASS_NAMES`.
* ``split`` — ``train``, ``val``, ``test`` or ``None`` when not assigned.
* ``annotation`` — absolute path of the LabelMe JSON, or ``None``.

Supported layouts:

* BTXRD: ``images/``, ``Annotations/`` (LabelMe, tumour images only) and
  ``dataset.xlsx`` or ``dataset.csv`` (``image_id``, ``benign``,
  ``malignant``, optionally ``center``, ``tumor``, ...). The label is
  Malignant if ``malignant``, else Benign if ``benign``, else Normal.
* Class per folder: ``root/<Class>/*.png|jpg|...`` (class names in any case;
  a LabelMe JSON beside an image is its annotation).
* A split CSV ``image_id,split,label`` with the images under a folder.

Loading never checks the files; :func:`validate_index` does (and
:func:`load_dataset` calls it).
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from assurexray.config import CLASS_NAMES
from assurexray.errors import DatasetError
from assurexray.imaging import IMAGE_EXTENSIONS
from assurexray.report import write_csv

INDEX_COLUMNS = ["image_id", "path", "label", "split", "annotation"]
SPLIT_NAMES = ("train", "val", "test")
SPLIT_FILE = "splits.csv"
METADATA_NAMES = ("dataset.xlsx", "dataset.csv")
_ANNOTATION_DIRS = ("Annotations", "annotations")
_SHOWN = 3  # how many offending entries an error message names


def load_btxrd(root: str | Path, *, metadata: str | Path | None = None) -> pd.DataFrame:
    """Index a folder in the BTXRD layout.

    Args:
        root: Folder with ``images/`` and (optionally) ``Annotations/``.
        metadata: The metadata table (``.xlsx`` or ``.csv``); by default
            ``root/dataset.xlsx`` or ``root/dataset.csv``.

    Returns:
        The index in metadata row order, with a ``center`` column when the
        table has one. An ``image_id`` whose suffix differs from the file on
        disk (``.jpeg`` vs ``.jpg``) is matched by its stem.

    Raises:
        DatasetError: If ``images/`` or the table is missing, unreadable, or
            lacks a column.
    """
    root = _existing_dir(root)
    images = root / "images"
    if not images.is_dir():
        raise DatasetError(
            f"{root}: no images/ folder (BTXRD layout: images/, Annotations/, dataset.xlsx)"
        )
    table_path = Path(metadata) if metadata is not None else _find_metadata(root)
    table = _read_table(table_path)
    _require_columns(table, ("image_id", "benign", "malignant"), table_path)
    names = [_clean_name(value, table_path, row) for row, value in enumerate(table["image_id"])]
    malignant = _flags(table, "malignant", table_path)
    benign = _flags(table, "benign", table_path)
    labels = np.select([malignant, benign], ["Malignant", "Benign"], "Normal")
    lookup = _ImageLookup(images)
    paths = [lookup.find(name) for name in names]
    annotation_dirs = [root / name for name in _ANNOTATION_DIRS]
    extras = {"center": table["center"].map(_center_key).to_list()} if "center" in table else {}
    return _make_index(
        ids=[_strip_suffix(name) for name in names],
        paths=paths,
        labels=labels.tolist(),
        annotations=[_find_annotation(path, annotation_dirs) for path in paths],
        source=table_path,
        extras=extras,
    )


def load_class_folders(root: str | Path) -> pd.DataFrame:
    """Index ``root/<Class>/`` folders of images (searched recursively).

    Folder names are matched to :data:`CLASS_NAMES` case-insensitively; other
    names are kept as labels, so :func:`validate_index` reports them.

    Raises:
        DatasetError: If ``root`` is not a folder or has no sub-folders.
    """
    root = _existing_dir(root)
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if not folders:
        raise DatasetError(f"{root}: no class folders (expected {', '.join(CLASS_NAMES)})")
    folders.sort(key=lambda p: (_class_rank(p.name), p.name))
    paths = [p for folder in folders for p in sorted(folder.rglob("*")) if _is_image(p)]
    return _make_index(
        ids=[_image_id(p, root) for p in paths],
        paths=paths,
        labels=[_canonical_label(p.relative_to(root).parts[0]) for p in paths],
        annotations=[_find_annotation(p, []) for p in paths],
        source=root,
    )


def load_split_csv(csv_path: str | Path, images_root: str | Path) -> pd.DataFrame:
    """Index the images listed in a split CSV (``image_id,split,label``).

    Each id is looked up under ``images_root`` (recursively) as a relative
    path without suffix, with suffix, or else as a unique file name stem, so a
    BTXRD id ``IMG000001`` is found in ``images_root/images/``. Annotations
    are looked up in ``Annotations/`` folders and beside the images.

    Raises:
        DatasetError: If the CSV is unreadable or lacks a column.
    """
    csv_path = Path(csv_path)
    images_root = _existing_dir(images_root)
    table = _read_table(csv_path)
    _require_columns(table, ("image_id", "split", "label"), csv_path)
    names = [_clean_name(value, csv_path, row) for row, value in enumerate(table["image_id"])]
    lookup = _ImageLookup(images_root)
    paths = [lookup.find(name) for name in names]
    annotation_dirs = [
        d / name for d in (images_root, images_root.parent) for name in _ANNOTATION_DIRS
    ]
    return _make_index(
        ids=[_strip_suffix(name) for name in names],
        paths=paths,
        labels=[_canonical_label(value) for value in table["label"]],
        annotations=[_find_annotation(path, annotation_dirs) for path in paths],
        source=csv_path,
        splits=[_clean_split(value) for value in table["split"]],
    )


def load_dataset(root_or_csv: str | Path, *, split_file: str | Path | None = None) -> pd.DataFrame:
    """Index a data set in any supported layout, apply a split and validate it.

    Args:
        root_or_csv: A BTXRD folder, a class-per-folder folder, a BTXRD metadata
            table (``dataset.xlsx``/``.csv``), or a split CSV. A split CSV
            beside a BTXRD or class-per-folder layout splits that layout.
        split_file: A split CSV to apply; by default ``root/splits.csv`` when it
            exists. Images it does not list keep the split ``None``.

    Returns:
        The validated index.

    Raises:
        DatasetError: If the layout is not recognised, the split does not fit,
            or :func:`validate_index` fails.
    """
    path = Path(root_or_csv)
    if path.is_file():
        index, split_path = _load_file(path), None
    elif path.is_dir():
        index = _layout_loader(path)(path)
        split_path = path / SPLIT_FILE if (path / SPLIT_FILE).is_file() else None
    else:
        raise DatasetError(f"{path}: no such file or folder")
    if split_file is not None:
        split_path = Path(split_file)
    if split_path is not None:
        index = _apply_split(index, split_path)
    validate_index(index)
    return index


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
        raise DatasetError(f"{_source(index)}: cannot split an empty data set")
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
    _require_columns(index, ("image_id", "split", "label"), _source(index))
    unassigned = index.loc[index["split"].isna(), "image_id"].tolist()
    if unassigned:
        raise DatasetError(
            f"{path}: {len(unassigned)} images have no split ({_examples(unassigned)}); "
            "assign splits first"
        )
    return write_csv(path, index[["image_id", "split", "label"]])


def select_split(index: pd.DataFrame, split: str) -> pd.DataFrame:
    """Return the rows of one split, renumbered from 0.

    Raises:
        DatasetError: If no row has that split: an unknown name (the message
            lists the splits present) or an empty split.
    """
    present = _present_splits(index)
    if split not in present:
        if not present:
            problem = "the data set has no split assigned"
        elif split in SPLIT_NAMES:
            problem = f"split '{split}' is empty (the data set has: {', '.join(present)})"
        else:
            problem = f"unknown split '{split}' (the data set has: {', '.join(present)})"
        raise DatasetError(f"{_source(index)}: {problem}")
    return index[index["split"] == split].reset_index(drop=True)


def validate_index(index: pd.DataFrame, class_names: Sequence[str] = CLASS_NAMES) -> None:
    """Check an index before it is used.

    Raises:
        DatasetError: If the index is empty or lacks a column, an id repeats, a
            label is not in ``class_names``, a split name is unknown, or images
            are missing on disk. The message names the first few offenders and
            their count.
    """
    where = _source(index)
    if index.empty:
        raise DatasetError(f"{where}: the data set is empty (no images found)")
    _require_columns(index, INDEX_COLUMNS, where)
    repeated = _repeated(index["image_id"])
    if repeated:
        raise DatasetError(f"{where}: {len(repeated)} duplicate image ids ({_examples(repeated)})")
    bad_labels = sorted(set(index["label"].astype(str)) - set(class_names))
    if bad_labels:
        raise DatasetError(
            f"{where}: labels not in the class list {', '.join(class_names)}: "
            f"{_examples(bad_labels)}"
        )
    bad_splits = sorted(set(_present_splits(index)) - set(SPLIT_NAMES))
    if bad_splits:
        raise DatasetError(
            f"{where}: unknown split names {_examples(bad_splits)} (use {', '.join(SPLIT_NAMES)})"
        )
    missing = [p for p in index["path"] if not Path(p).is_file()]
    if missing:
        raise DatasetError(
            f"{where}: {len(missing)} images listed but missing on disk ({_examples(missing)})"
        )


# --- index building -----------------------------------------------------------


def _make_index(
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


def _load_file(path: Path) -> pd.DataFrame:
    """Index from a table file: BTXRD metadata or a split CSV."""
    if path.suffix.lower() in (".xlsx", ".xls"):
        return load_btxrd(path.parent, metadata=path)
    columns = set(_read_table(path, nrows=0).columns)
    if "split" in columns:
        try:
            loader = _layout_loader(path.parent)
        except DatasetError:
            return load_split_csv(path, path.parent)
        return _apply_split(loader(path.parent), path)
    if {"benign", "malignant"} <= columns:
        return load_btxrd(path.parent, metadata=path)
    raise DatasetError(
        f"{path}: neither a split CSV (image_id, split, label) "
        "nor BTXRD metadata (image_id, benign, malignant)"
    )


def _layout_loader(root: Path) -> Callable[[Path], pd.DataFrame]:
    """The loader of the folder's layout: BTXRD (``images/``) or class per folder."""
    if (root / "images").is_dir():
        return load_btxrd
    if any(p.is_dir() and _class_rank(p.name) < len(CLASS_NAMES) for p in root.iterdir()):
        return load_class_folders
    raise DatasetError(
        f"{root}: not a BTXRD folder (images/ and dataset.xlsx) "
        f"nor a class-per-folder layout ({'/, '.join(CLASS_NAMES)}/)"
    )


def _apply_split(index: pd.DataFrame, split_path: Path) -> pd.DataFrame:
    """Fill ``split`` from a split CSV; every listed id must exist, labels must agree."""
    table = _read_table(split_path)
    _require_columns(table, ("image_id", "split"), split_path)
    ids = [
        _strip_suffix(_clean_name(v, split_path, row)) for row, v in enumerate(table["image_id"])
    ]
    repeated = _repeated(ids)
    if repeated:
        raise DatasetError(
            f"{split_path}: {len(repeated)} duplicate image ids ({_examples(repeated)})"
        )
    unknown = sorted(set(ids) - set(index["image_id"]))
    if unknown:
        raise DatasetError(
            f"{split_path}: {len(unknown)} image ids not in the data set at {_source(index)} "
            f"({_examples(unknown)})"
        )
    if "label" in table:
        given = dict(zip(ids, (_canonical_label(v) for v in table["label"]), strict=True))
        known = dict(zip(index["image_id"], index["label"], strict=True))
        wrong = [i for i in ids if given[i] != known[i]]
        if wrong:
            first = wrong[0]
            raise DatasetError(
                f"{split_path}: {len(wrong)} labels disagree with the data set, e.g. {first} is "
                f"'{given[first]}' here but '{known[first]}' in {_source(index)}"
            )
    splits = dict(zip(ids, (_clean_split(v) for v in table["split"]), strict=True))
    result = index.copy()
    result["split"] = pd.Series(
        [splits.get(i) for i in result["image_id"]], index=result.index, dtype=object
    )
    return result


class _ImageLookup:
    """Find image files under a folder by relative path (with or without suffix) or stem."""

    def __init__(self, root: Path) -> None:
        self.root = root
        files = sorted(p for p in root.rglob("*") if _is_image(p))
        self.by_path = {p.relative_to(root).as_posix(): p for p in files}
        # reversed: of two files that differ only in suffix, the first in name order wins
        self.by_id = {_image_id(p, root): p for p in reversed(files)}
        stems = Counter(p.stem for p in files)
        self.by_stem = {p.stem: p for p in files if stems[p.stem] == 1}

    def find(self, name: str) -> Path:
        """The file for ``name``, or ``root/name`` (missing) when nothing matches."""
        key = _strip_suffix(name)
        found = (
            self.by_path.get(name)
            or self.by_id.get(key)
            or self.by_stem.get(PurePosixPath(key).name)
        )
        return found or self.root / name


# --- small helpers ----------------------------------------------------------------


def _existing_dir(path: str | Path) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: data set folder not found")
    return folder


def _find_metadata(root: Path) -> Path:
    for name in METADATA_NAMES:
        if (root / name).is_file():
            return root / name
    raise DatasetError(f"{root}: no {' or '.join(METADATA_NAMES)} (BTXRD metadata table)")


def _read_table(path: Path, nrows: int | None = None) -> pd.DataFrame:
    """Read a CSV or Excel table with stripped, lower-case column names."""
    if not path.is_file():
        raise DatasetError(f"{path}: table not found")
    readers = {
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
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatasetError(f"{path}: cannot read table ({reason})") from exc
    table.columns = [str(c).strip().lower() for c in table.columns]
    return table


def _require_columns(table: pd.DataFrame, columns: Iterable[str], where: Any) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DatasetError(
            f"{where}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        )


def _flags(table: pd.DataFrame, column: str, where: Path) -> np.ndarray:
    """A 0/1 column as booleans (blank counts as 0)."""
    raw = table[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = raw[values.isna() & raw.notna()]
    if not bad.empty:
        raise DatasetError(
            f"{where}: column '{column}' must hold 0/1, "
            f"got {bad.iloc[0]!r} in row {bad.index[0] + 2}"
        )
    return values.fillna(0).to_numpy() != 0


def _clean_name(value: Any, where: Path, row: int) -> str:
    """An image name from a table cell, or an error for a blank cell."""
    if pd.isna(value) or not str(value).strip():
        raise DatasetError(f"{where}: row {row + 2} has no image_id")
    return str(value).strip().replace("\\", "/")


def _strip_suffix(name: str) -> str:
    """Drop an image suffix (``.jpeg``, ``.png``, ...) from a name; keep other dots."""
    suffix = PurePosixPath(name).suffix
    return name[: -len(suffix)] if suffix.lower() in IMAGE_EXTENSIONS else name


def _image_id(path: Path, root: Path) -> str:
    return _strip_suffix(path.relative_to(root).as_posix())


def _is_image(path: Path) -> bool:
    return (
        path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()
    )


def _find_annotation(image: Path, folders: Iterable[Path]) -> Path | None:
    """``<folder>/<stem>.json`` in the first folder that has it, else a JSON beside the image."""
    for candidate in [
        *(folder / f"{image.stem}.json" for folder in folders),
        image.with_suffix(".json"),
    ]:
        if candidate.is_file():
            return candidate
    return None


def _class_rank(name: str) -> int:
    """Position of a folder name in :data:`CLASS_NAMES` (any case), else ``len``."""
    lowered = [c.lower() for c in CLASS_NAMES]
    return lowered.index(name.lower()) if name.lower() in lowered else len(CLASS_NAMES)


def _canonical_label(value: Any) -> str:
    """A class name in its canonical case; other names unchanged (for validation)."""
    text = "" if pd.isna(value) else str(value).strip()
    rank = _class_rank(text)
    return CLASS_NAMES[rank] if rank < len(CLASS_NAMES) else text


def _clean_split(value: Any) -> str | None:
    return None if pd.isna(value) or not str(value).strip() else str(value).strip().lower()


def _center_key(value: Any) -> Any:
    """A centre as written (``1.0`` becomes ``1``; blank becomes ``None``)."""
    if pd.isna(value):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value.item() if isinstance(value, np.generic) else value


def _held_out(index: pd.DataFrame, center: Any) -> pd.Series:
    """Rows of ``center`` (compared as text), checked to be neither none nor all."""
    if "center" not in index:
        raise DatasetError(
            f"{_source(index)}: cannot hold out center {center}: "
            "the data set has no 'center' column"
        )
    keys = index["center"].map(lambda v: str(_center_key(v)))
    held = keys == str(_center_key(center))
    if not held.any():
        present = sorted(set(keys) - {"None"})
        raise DatasetError(
            f"{_source(index)}: center {center} not in the data set (centers: {', '.join(present)})"
        )
    if held.all():
        raise DatasetError(
            f"{_source(index)}: holding out center {center} leaves no images to train on"
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


def _repeated(values: Iterable[Any]) -> list[Any]:
    """Values that occur more than once, in order of first appearance."""
    return [value for value, count in Counter(values).items() if count > 1]


def _present_splits(index: pd.DataFrame) -> list[str]:
    """Split names present, in train/val/test order, then others alphabetically."""
    names = set(index["split"].dropna().astype(str))
    return [s for s in SPLIT_NAMES if s in names] + sorted(names - set(SPLIT_NAMES))


def _source(index: pd.DataFrame) -> str:
    return str(index.attrs.get("source", "data set index"))


def _examples(items: Sequence[Any]) -> str:
    """The first few items, and how many more."""
    shown = ", ".join(str(i) for i in items[:_SHOWN])
    return shown + (f", and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")
