"""Writing a synthetic data set to disk in the BTXRD layout: images, LabelMe
files, ``dataset.xlsx`` and the manifest, which is written last."""

from __future__ import annotations

import inspect
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from assurexray.core.callbacks import Progress
from assurexray.core.config import CLASS_NAMES
from assurexray.core.errors import DatasetError, special_kind
from assurexray.core.files import write_json, write_with
from assurexray.data.synthetic.phantom import render_case
from assurexray.data.synthetic.plan import (
    CENTER_LOOK,
    LOWER_LIMB,
    SITES,
    SUBTYPES,
    PhantomCase,
    plan_dataset,
)

# Version 3: hard cases (subtle lesions, look-alikes), centres independent of the class.
# Version 4: fewer hard cases, and none beyond recognition (subtle lesions at least 0.25
# conspicuity, look-alikes with 55-75 % of the other class's style).
GENERATOR_VERSION = 4
MANIFEST_NAME = "synthetic.json"
METADATA_NAME = "dataset.xlsx"
# The arguments of generate_dataset that identify a data set, in _settings's order.
_SETTING_NAMES = ("num_images", "seed", "min_size", "max_size", "class_fractions")


@dataclass(frozen=True)
class SyntheticSummary:
    """What :func:`generate_dataset` wrote."""

    root: Path
    seed: int
    num_images: int
    counts: dict[str, int]
    metadata: Path
    manifest: Path


def generate_dataset(
    root: str | Path,
    *,
    num_images: int = 300,
    seed: int = 0,
    min_size: int = 256,
    max_size: int = 512,
    class_fractions: Sequence[float] = (0.4, 0.3, 0.3),
    progress: Progress | None = None,
) -> SyntheticSummary:
    """Write a synthetic data set in the BTXRD layout.

    Args:
        root: Target folder: new, empty, or a previous synthetic data set (which
            is replaced, including a stale ``splits.csv``).
        num_images: Number of images.
        seed: Seed; the same settings and seed give byte-identical images and
            annotation files.
        min_size: Smallest image side in pixels.
        max_size: Largest image side in pixels.
        class_fractions: Fractions of Normal, Benign and Malignant images.
        progress: Called as ``progress("generate", done, total)`` after each image.

    Returns:
        A summary with the image counts per class.

    Raises:
        ConfigError: If an option is out of range.
        DatasetError: If ``root`` is a file or a non-empty folder that is not a
            synthetic data set.
    """
    cases = plan_dataset(
        num_images=num_images,
        seed=seed,
        min_size=min_size,
        max_size=max_size,
        class_fractions=class_fractions,
    )
    root = Path(root)
    _prepare_root(root)
    for done, case in enumerate(cases, start=1):
        phantom = render_case(case)
        _write_image(root / "images" / case.file_name, phantom.image, case)
        if phantom.polygon is not None:
            write_json(
                root / "Annotations" / f"{case.image_id}.json", _labelme(case, phantom.polygon)
            )
        if progress is not None:
            progress("generate", done, len(cases))
    metadata = root / METADATA_NAME
    table = _metadata_table(cases)
    write_with(metadata, lambda tmp: table.to_excel(tmp, index=False, engine="openpyxl"))
    counts = {name: sum(case.label == name for case in cases) for name in CLASS_NAMES}
    settings = _settings(num_images, seed, min_size, max_size, class_fractions)
    manifest = write_json(
        root / MANIFEST_NAME, {**settings, "counts": counts, "hard_cases": _hard_cases(cases)}
    )
    return SyntheticSummary(root, seed, num_images, counts, metadata, manifest)


def dataset_matches(root: str | Path, **settings: Any) -> bool:
    """Tell whether ``root`` holds a complete data set made with these settings.

    The manifest is written last, so an interrupted generation never matches.
    A manifest from another generator version does not match either.

    Args:
        root: The data set folder.
        **settings: The keyword arguments given to :func:`generate_dataset`
            (``num_images``, ``seed``, ...); those left out mean its defaults.

    Raises:
        TypeError: A keyword that :func:`generate_dataset` does not take.
    """
    call = inspect.signature(generate_dataset).bind(root, **settings)
    call.apply_defaults()
    wanted = _settings(*(call.arguments[name] for name in _SETTING_NAMES))
    root = Path(root)
    if special_kind(root / MANIFEST_NAME) is not None:
        return False  # never open a FIFO: the data set is made afresh
    try:
        manifest = json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict):
        return False
    if any(manifest.get(key) != value for key, value in wanted.items()):
        return False
    images = root / "images"
    count = sum(1 for p in images.iterdir() if p.is_file()) if images.is_dir() else 0
    return count == wanted["num_images"] and (root / METADATA_NAME).is_file()


def _settings(
    num_images: int, seed: int, min_size: int, max_size: int, fractions: Sequence[float]
) -> dict[str, Any]:
    """The manifest entries that identify a data set."""
    return {
        "generator": "assurexray.data.synthetic",
        "version": GENERATOR_VERSION,
        "num_images": num_images,
        "seed": seed,
        "min_size": min_size,
        "max_size": max_size,
        "class_fractions": [float(f) for f in fractions],
    }


def _hard_cases(cases: Sequence[PhantomCase]) -> list[dict[str, Any]]:
    """The tumour images drawn subtle or as look-alikes, for reading a model's errors."""
    return [
        {
            "image_id": case.image_id,
            "label": case.label,
            "conspicuity": round(case.conspicuity, 3),
            "look_alike": case.look_alike,
        }
        for case in cases
        if case.label != "Normal" and (case.conspicuity < 1 or case.look_alike)
    ]


def _write_image(path: Path, image: np.ndarray, case: PhantomCase) -> None:
    """Encode as 16-bit PNG or 8-bit JPEG (grey or 3-channel grey)."""
    if path.suffix == ".png":
        ok, data = cv2.imencode(".png", np.round(image * 65535).astype(np.uint16))
    else:
        pixels: np.ndarray = np.round(image * 255).astype(np.uint8)
        if case.rgb:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
        quality = CENTER_LOOK[case.center][0]
        ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise DatasetError(f"{path}: could not encode the image")
    path.write_bytes(data.tobytes())


def _labelme(case: PhantomCase, polygon: np.ndarray) -> dict[str, Any]:
    """A LabelMe document with the lesion polygon and its bounding rectangle, as in BTXRD."""
    corners = [polygon.min(axis=0).tolist(), polygon.max(axis=0).tolist()]

    def shape(points: list[list[float]], kind: str) -> dict[str, Any]:
        return {
            "label": case.subtype,
            "points": points,
            "group_id": None,
            "description": "",
            "shape_type": kind,
            "flags": {},
            "mask": None,
        }

    return {
        "version": "5.2.1",
        "flags": {},
        "shapes": [shape(polygon.tolist(), "polygon"), shape(corners, "rectangle")],
        "imagePath": case.file_name,
        "imageData": None,
        "imageHeight": case.height,
        "imageWidth": case.width,
    }


def _metadata_table(cases: Sequence[PhantomCase]) -> pd.DataFrame:
    """The ``dataset.xlsx`` table: one row per image, BTXRD column names."""
    sites = sorted({*SITES, *(p for p in SITES.values() if p)})
    subtypes = [name for names in SUBTYPES.values() for name in names]
    rows = []
    for case in cases:
        visible = {case.site, SITES[case.site]}
        subtype = (case.subtype or "").lower()
        rows.append(
            {
                "image_id": case.file_name,
                "center": case.center,
                "age": case.age,
                "gender": case.gender,
                **{site: int(site in visible) for site in sites},
                "upper limb": int(case.site not in LOWER_LIMB),
                "lower limb": int(case.site in LOWER_LIMB),
                "tumor": int(case.label != "Normal"),
                "benign": int(case.label == "Benign"),
                "malignant": int(case.label == "Malignant"),
                **{name: int(subtype == name) for name in subtypes},
            }
        )
    return pd.DataFrame(rows)


def _prepare_root(root: Path) -> None:
    """Create ``root`` or clear a previous synthetic data set in it."""
    if root.exists() and not root.is_dir():
        raise DatasetError(f"{root}: exists and is not a folder")
    if root.is_dir() and any(root.iterdir()):
        manifest = root / MANIFEST_NAME
        if not manifest.is_file():
            raise DatasetError(
                f"{root}: folder is not empty and is not a synthetic data set "
                f"(no {MANIFEST_NAME}); choose a new or empty folder"
            )
        manifest.unlink()  # first, so an interrupted rewrite never looks complete
        for folder in ("images", "Annotations"):
            shutil.rmtree(root / folder, ignore_errors=True)
        for name in (METADATA_NAME, "splits.csv"):
            (root / name).unlink(missing_ok=True)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "Annotations").mkdir(exist_ok=True)
