"""Load a data set index from any supported layout (see :mod:`assurexray.data.index`).

In the BTXRD layout the ``image_id`` is the file name stem (``IMG000001`` for
``images/IMG000001.jpeg``; the ``image_id`` column of ``dataset.xlsx``,
``IMG000001.jpeg``, maps to it); in the class-per-folder layout it keeps the
class folder (``Benign/IMG000001``) so equal file names in two folders stay
distinct. Split CSVs may write ids with or without the image suffix.

Supported layouts:

* BTXRD: ``images/``, ``Annotations/`` (LabelMe, tumour images only) and
  ``dataset.xlsx`` or ``dataset.csv`` (``image_id``, ``benign``,
  ``malignant``, optionally ``center``, ``tumor``, ...). The label is
  Malignant if ``malignant``, else Benign if ``benign``, else Normal.
* Class per folder: ``root/<Class>/*.png|jpg|...`` (class names in any case;
  a LabelMe JSON beside an image is its annotation).
* A split CSV ``image_id,split,label`` with the images under a folder.

Loading never checks the files; :func:`validate_index` does (and
:func:`load_dataset` calls it). Splitting lives in :mod:`assurexray.data.splits`;
its public functions are re-exported here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from assurexray.annotations.labelme import annotation_files
from assurexray.core.errors import DatasetError, refuse_special, special_kind
from assurexray.data.btxrd_metadata import metadata_extras
from assurexray.data.index import (
    CLASS_NAMES,
    INDEX_COLUMNS,
    SPLIT_NAMES,
    canonical_label,
    center_key,
    class_rank,
    clean_name,
    clean_split,
    make_index,
    read_table,
    require_columns,
    strip_suffix,
    validate_index,
)
from assurexray.data.splits import (
    SPLIT_FILE,
    apply_split_file,
    select_split,
    stratified_split,
    write_split,
)
from assurexray.imaging.reading import IMAGE_EXTENSIONS

__all__ = [
    "CLASS_NAMES",
    "INDEX_COLUMNS",
    "METADATA_NAMES",
    "SPLIT_FILE",
    "SPLIT_NAMES",
    "load_btxrd",
    "load_class_folders",
    "load_dataset",
    "load_split_csv",
    "select_split",
    "stratified_split",
    "validate_index",
    "write_split",
]

METADATA_NAMES = ("dataset.xlsx", "dataset.csv")
_ANNOTATION_DIRS = ("Annotations", "annotations")


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
    table = read_table(table_path)
    require_columns(table, ("image_id", "benign", "malignant"), table_path)
    names = [clean_name(value, table_path, row) for row, value in enumerate(table["image_id"])]
    malignant = _flags(table, "malignant", table_path)
    benign = _flags(table, "benign", table_path)
    labels = np.select([malignant, benign], ["Malignant", "Benign"], "Normal")
    lookup = _ImageLookup(images)
    paths = [lookup.find(name) for name in names]
    annotation_dirs = [root / name for name in _ANNOTATION_DIRS]
    extras = {"center": table["center"].map(center_key).to_list()} if "center" in table else {}
    extras.update(metadata_extras(table))
    return make_index(
        ids=[strip_suffix(name) for name in names],
        paths=paths,
        labels=labels.tolist(),
        annotations=_annotations(paths, annotation_dirs),
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
    folders.sort(key=lambda p: (class_rank(p.name), p.name))
    paths = [p for folder in folders for p in sorted(folder.rglob("*")) if _is_image(p)]
    return make_index(
        ids=[_image_id(p, root) for p in paths],
        paths=paths,
        labels=[canonical_label(p.relative_to(root).parts[0]) for p in paths],
        annotations=_annotations(paths, []),
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
    table = read_table(csv_path)
    require_columns(table, ("image_id", "split", "label"), csv_path)
    names = [clean_name(value, csv_path, row) for row, value in enumerate(table["image_id"])]
    lookup = _ImageLookup(images_root)
    paths = [lookup.find(name) for name in names]
    annotation_dirs = [
        d / name for d in (images_root, images_root.parent) for name in _ANNOTATION_DIRS
    ]
    return make_index(
        ids=[strip_suffix(name) for name in names],
        paths=paths,
        labels=[canonical_label(value) for value in table["label"]],
        annotations=_annotations(paths, annotation_dirs),
        source=csv_path,
        splits=[clean_split(value) for value in table["split"]],
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
    refuse_special(path, DatasetError)
    if path.is_file():
        index, split_path = _load_file(path), None
    elif path.is_dir():
        index = _layout_loader(path)(path)
        split_path = path / SPLIT_FILE
        if not split_path.is_file() and special_kind(split_path) is None:
            split_path = None  # a FIFO splits.csv is refused when read, not ignored
    else:
        raise DatasetError(f"{path}: no such file or folder")
    if split_file is not None:
        split_path = Path(split_file)
    if split_path is not None:
        index = apply_split_file(index, split_path)
    validate_index(index)
    return index


def _load_file(path: Path) -> pd.DataFrame:
    """Index from a table file: BTXRD metadata or a split CSV."""
    if path.suffix.lower() in (".xlsx", ".xls"):
        return load_btxrd(path.parent, metadata=path)
    columns = set(read_table(path, nrows=0).columns)
    if "split" in columns:
        try:
            loader = _layout_loader(path.parent)
        except DatasetError:
            return load_split_csv(path, path.parent)
        return apply_split_file(loader(path.parent), path)
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
    if any(p.is_dir() and class_rank(p.name) < len(CLASS_NAMES) for p in root.iterdir()):
        return load_class_folders
    raise DatasetError(
        f"{root}: not a BTXRD folder (images/ and dataset.xlsx) "
        f"nor a class-per-folder layout ({'/, '.join(CLASS_NAMES)}/)"
    )


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
        key = strip_suffix(name)
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
    """The folder's metadata table; a FIFO or device by that name is refused, not skipped."""
    for name in METADATA_NAMES:
        refuse_special(root / name, DatasetError)
        if (root / name).is_file():
            return root / name
    raise DatasetError(f"{root}: no {' or '.join(METADATA_NAMES)} (BTXRD metadata table)")


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


def _image_id(path: Path, root: Path) -> str:
    return strip_suffix(path.relative_to(root).as_posix())


def _is_image(path: Path) -> bool:
    return (
        path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()
    )


def _annotations(images: Sequence[Path], folders: Sequence[Path]) -> list[Path | None]:
    """Each image's LabelMe file: ``<folder>/<stem>.json`` in the first of ``folders``
    that has it, else one beside the image (suffix in any case), else ``None``."""
    listed: dict[Path, dict[str, Path]] = {}

    def files(folder: Path) -> dict[str, Path]:
        if folder not in listed:
            listed[folder] = annotation_files(folder) if folder.is_dir() else {}
        return listed[folder]

    return [
        next((files(f)[p.stem] for f in [*folders, p.parent] if p.stem in files(f)), None)
        for p in images
    ]
