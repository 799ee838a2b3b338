"""Planning a synthetic data set: every image's label, size, format, metadata
and difficulty, chosen before any pixel is drawn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assurexray.core.config import CLASS_NAMES
from assurexray.core.errors import ConfigError

SUBTYPES: dict[str, tuple[str, ...]] = {
    "Benign": ("osteochondroma", "giant cell tumor", "simple bone cyst", "osteofibroma"),
    "Malignant": ("osteosarcoma", "ewing sarcoma", "chondrosarcoma"),
}
# Main bone -> the thinner bone beside it in the same view (or None).
SITES: dict[str, str | None] = {
    "femur": None,
    "tibia": "fibula",
    "humerus": None,
    "radius": "ulna",
}
LOWER_LIMB = ("femur", "tibia", "fibula")
# Per centre: JPEG quality, noise level, display gamma (a mild "scanner" signature).
# Every class comes from every centre with the same odds, so the lesion stays
# the only thing that tells the classes apart.
CENTER_LOOK = {1: (95, 0.025, 1.0), 2: (90, 0.035, 0.85), 3: (85, 0.02, 1.15)}
CENTER_ODDS = (0.4, 0.3, 0.3)
# Hard tumour cases: the share of tumour images whose lesion is subtle (small
# and faint), and the share that looks like the other tumour class.
SUBTLE_SHARE = 0.10
LOOK_ALIKE_SHARE = 0.06
# A subtle lesion's conspicuity (1 is a typical lesion's size and contrast).
SUBTLE_CONSPICUITY = (0.25, 0.6)


@dataclass(frozen=True)
class PhantomCase:
    """Everything chosen at random for one image before any pixel is drawn.

    ``subtype`` is the annotation label (``None`` for a normal image), ``rgb``
    saves a JPEG as three equal channels, and ``seed`` seeds the drawing.
    ``conspicuity`` scales the lesion's size and contrast (1 for a typical
    lesion, down to 0.25 for one that is hard to see; 0 for a normal
    image). ``look_alike`` draws a tumour mostly in the other tumour class's
    style: a benign lesion that looks aggressive, or a malignant one that looks
    well contained.
    """

    image_id: str
    file_name: str
    label: str
    subtype: str | None
    center: int
    height: int
    width: int
    site: str
    age: int
    gender: str
    rgb: bool
    seed: int
    conspicuity: float = 0.0
    look_alike: bool = False


def plan_dataset(
    *,
    num_images: int = 300,
    seed: int = 0,
    min_size: int = 256,
    max_size: int = 512,
    class_fractions: Sequence[float] = (0.4, 0.3, 0.3),
) -> list[PhantomCase]:
    """Choose every image's label, size, format, metadata and difficulty (no pixels yet).

    Tumour images come first (low ids), normal images last, as in BTXRD.

    Raises:
        ConfigError: If an option is out of range.
    """
    counts = class_counts(num_images, class_fractions)
    if not 32 <= min_size <= max_size:
        raise ConfigError(
            f"image sizes must satisfy 32 <= min_size <= max_size, got {min_size}, {max_size}"
        )
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    tumours = rng.permutation(["Benign"] * counts["Benign"] + ["Malignant"] * counts["Malignant"])
    labels = [*tumours.tolist(), *["Normal"] * counts["Normal"]]
    return [
        _plan_case(rng, number, label, min_size, max_size) for number, label in enumerate(labels, 1)
    ]


def class_counts(num_images: int, fractions: Sequence[float]) -> dict[str, int]:
    """Split ``num_images`` by ``fractions`` (largest remainder)."""
    if not isinstance(num_images, int) or num_images < 1:
        raise ConfigError(f"num_images must be a positive integer, got {num_images!r}")
    share = np.asarray(fractions, dtype=float)
    if share.shape != (len(CLASS_NAMES),) or (share < 0).any() or share.sum() <= 0:
        raise ConfigError(
            f"class_fractions must be {len(CLASS_NAMES)} non-negative numbers "
            f"({', '.join(CLASS_NAMES)}) with a positive sum, got {tuple(fractions)}"
        )
    raw = num_images * share / share.sum()
    counts = np.floor(raw).astype(int)
    counts[np.argsort(counts - raw, kind="stable")[: num_images - counts.sum()]] += 1
    return dict(zip(CLASS_NAMES, counts.tolist(), strict=True))


def _plan_case(
    rng: np.random.Generator, number: int, label: str, min_size: int, max_size: int
) -> PhantomCase:
    """Draw the metadata of image number ``number``."""
    long_side = int(rng.integers(min_size, max_size + 1))
    short_side = int(np.clip(round(long_side * rng.uniform(0.55, 0.9)), min_size, long_side))
    height, width = (long_side, short_side) if rng.random() < 0.85 else (short_side, long_side)
    kind = rng.random()
    suffix = ".png" if kind < 0.1 else ".jpg" if kind < 0.3 else ".jpeg"
    subtype = None
    if label in SUBTYPES:
        subtype = _vary_case(rng, str(rng.choice(SUBTYPES[label])))
    image_id = f"IMG{number:06d}"
    conspicuity, look_alike = _difficulty(rng) if label in SUBTYPES else (0.0, False)
    return PhantomCase(
        image_id=image_id,
        file_name=image_id + suffix,
        label=label,
        subtype=subtype,
        center=int(rng.choice(list(CENTER_LOOK), p=CENTER_ODDS)),
        height=height,
        width=width,
        site=str(rng.choice(list(SITES))),
        age=int(rng.integers(6, 80)),
        gender=str(rng.choice(["M", "F"])),
        rgb=bool(rng.random() < 0.3),
        seed=int(rng.integers(2**63 - 1)),
        conspicuity=conspicuity,
        look_alike=look_alike,
    )


def _difficulty(rng: np.random.Generator) -> tuple[float, bool]:
    """Conspicuity and look-alike flag of a tumour: most are typical, a few are hard."""
    subtle, look_alike = rng.random(2) < (SUBTLE_SHARE, LOOK_ALIKE_SHARE)
    conspicuity = float(rng.uniform(*SUBTLE_CONSPICUITY)) if subtle else 1.0
    return conspicuity, bool(look_alike)


def _vary_case(rng: np.random.Generator, name: str) -> str:
    """Write a subtype name in one of the cases annotators use."""
    return [name, name.title(), name.capitalize(), name.upper()][int(rng.integers(4))]
