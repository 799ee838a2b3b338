"""A synthetic bone-radiograph data set in the exact BTXRD layout.

So that a user with no data and no internet can run the whole chain, this
module draws radiograph-like images of long bones and writes them as BTXRD
does::

    root/images/IMG000001.jpeg ...     (mostly .jpeg, some .jpg, ~10 % 16-bit .png)
    root/Annotations/IMG000001.json    (LabelMe; tumour images only)
    root/dataset.xlsx                  (image_id, center, age, gender, site flags,
                                        tumor, benign, malignant, subtype flags)
    root/synthetic.json                (manifest: generator version and settings)

As in BTXRD, the tumour images get the low ids and the normal images the high
ids, so ids are not a safe split order.

Each image is drawn in three independent random streams: anatomy, lesion and
noise. The lesion is drawn only inside its polygon (the one saved in the
LabelMe file) and everything after it is pixel-wise, so an image rendered with
``draw_lesion=False`` differs from the real one only inside that polygon.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from assurexray.config import CLASS_NAMES
from assurexray.errors import ConfigError, DatasetError
from assurexray.jobs import Progress
from assurexray.report import write_json, write_with

GENERATOR_VERSION = 2
MANIFEST_NAME = "synthetic.json"
METADATA_NAME = "dataset.xlsx"

SUBTYPES: dict[str, tuple[str, ...]] = {
    "Benign": ("osteochondroma", "giant cell tumor", "simple bone cyst", "osteofibroma"),
    "Malignant": ("osteosarcoma", "ewing sarcoma", "chondrosarcoma"),
}
# Main bone -> the thinner bone beside it in the same view (or None).
_SITES: dict[str, str | None] = {
    "femur": None,
    "tibia": "fibula",
    "humerus": None,
    "radius": "ulna",
}
_LOWER_LIMB = ("femur", "tibia", "fibula")
# Per centre: JPEG quality, noise level, display gamma (a mild "scanner" signature).
_CENTER_LOOK = {1: (95, 0.025, 1.0), 2: (90, 0.035, 0.85), 3: (85, 0.02, 1.15)}
# Chance of each centre for each class, so centres differ a little, as in real data.
_CENTER_ODDS = {
    "Normal": (0.5, 0.3, 0.2),
    "Benign": (0.35, 0.35, 0.3),
    "Malignant": (0.3, 0.3, 0.4),
}



@dataclass(frozen=True)
class SyntheticSummary:
    """What :func:`generate_dataset` wrote."""

    root: Path
    seed: int
    num_images: int
    counts: dict[str, int]
    metadata: Path
    manifest: Path


@dataclass(frozen=True)
class PhantomCase:
    """Everything chosen at random for one image before any pixel is drawn.

    ``subtype`` is the annotation label (``None`` for a normal image), ``rgb``
    saves a JPEG as three equal channels, and ``seed`` seeds the drawing.
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


@dataclass(frozen=True)
class Phantom:
    """A rendered image and its lesion.

    Attributes:
        image: float32 array ``(height, width)`` in [0, 1].
        polygon: The lesion outline as ``(K, 2)`` pixel ``x, y`` points, exactly
            as saved in the LabelMe file, or ``None`` for a normal image.
        lesion_mask: Boolean ``(height, width)`` mask of the pixels the lesion
            may change (inside the polygon), or ``None`` for a normal image.
    """

    image: np.ndarray
    polygon: np.ndarray | None
    lesion_mask: np.ndarray | None


@dataclass(frozen=True)
class _Bone:
    """Geometry of the long bone: a curved axis, a shaft and an optional joint.

    The bone frame has ``u`` along the axis and ``v`` across it, in pixels.
    """

    cx: float
    cy: float
    sin: float
    cos: float
    bend: float
    radius: float
    cortex: float
    tissue: float
    flare: float
    joint: float | None
    gap: float
    partner: float | None
    long_side: int

    def frame(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Image ``x, y`` -> bone ``u, v``."""
        dx, dy = x - self.cx, y - self.cy
        u = dx * self.sin + dy * self.cos
        return u, dx * self.cos - dy * self.sin - self.bend * u * u

    def to_image(self, u: Any, v: Any) -> tuple[Any, Any]:
        """Bone ``u, v`` -> image ``x, y`` (the inverse of :meth:`frame`)."""
        straight = v + self.bend * u * u
        return (
            self.cx + u * self.sin + straight * self.cos,
            self.cy + u * self.cos - straight * self.sin,
        )

    def joint_distance(self, u: Any) -> Any:
        """Distance along the axis from the joint space (negative inside it)."""
        if self.joint is None:
            return np.full_like(u, 1e6)
        return np.abs(u - self.joint) - self.gap / 2

    def outer_radius(self, u: Any) -> Any:
        """Outer radius of the bone at ``u``: flared and rounded near the joint."""
        d = self.joint_distance(u)
        flare = 1 + self.flare * np.exp(-((np.maximum(d, 0) / (2.5 * self.radius)) ** 2))
        cap = 0.8 * self.radius * (1 + self.flare)
        end = np.sqrt(1 - (1 - np.clip(d / cap, 0, 1)) ** 2)
        return self.radius * flare * end

    def cortex_thickness(self, u: Any) -> Any:
        """Cortical thickness at ``u``: thin at the bone ends."""
        d = self.joint_distance(u)
        return self.cortex * (1 - 0.7 * np.exp(-((d / (2 * self.radius)) ** 2)))


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
    manifest = write_json(root / MANIFEST_NAME, {**settings, "counts": counts})
    return SyntheticSummary(root, seed, num_images, counts, metadata, manifest)


def dataset_matches(
    root: str | Path,
    *,
    num_images: int = 300,
    seed: int = 0,
    min_size: int = 256,
    max_size: int = 512,
    class_fractions: Sequence[float] = (0.4, 0.3, 0.3),
) -> bool:
    """Tell whether ``root`` holds a complete data set made with these settings.

    The manifest is written last, so an interrupted generation never matches.
    A manifest from another generator version does not match either.
    """
    root = Path(root)
    try:
        manifest = json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict):
        return False
    wanted = _settings(num_images, seed, min_size, max_size, class_fractions)
    if any(manifest.get(key) != value for key, value in wanted.items()):
        return False
    images = root / "images"
    count = sum(1 for p in images.iterdir() if p.is_file()) if images.is_dir() else 0
    return count == num_images and (root / METADATA_NAME).is_file()


def plan_dataset(
    *,
    num_images: int = 300,
    seed: int = 0,
    min_size: int = 256,
    max_size: int = 512,
    class_fractions: Sequence[float] = (0.4, 0.3, 0.3),
) -> list[PhantomCase]:
    """Choose every image's label, size, format and metadata (no pixels yet).

    Tumour images come first (low ids), normal images last, as in BTXRD.

    Raises:
        ConfigError: If an option is out of range.
    """
    counts = _class_counts(num_images, class_fractions)
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


def render_case(case: PhantomCase, *, draw_lesion: bool = True) -> Phantom:
    """Draw one image of ``case``.

    Args:
        case: The plan of the image (from :func:`plan_dataset`).
        draw_lesion: ``False`` draws the same image without its lesion (the
            polygon is still returned), to check that the polygon covers it.

    Returns:
        The image, the lesion polygon and the lesion mask.
    """
    anatomy_rng, lesion_rng, noise_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(case.seed).spawn(3)
    )
    bone = _sample_bone(anatomy_rng, case)
    image = _draw_anatomy(anatomy_rng, bone, case)
    polygon = mask = None
    if case.label != "Normal":
        polygon = _lesion_polygon(lesion_rng, bone, case)
        mask = _polygon_mask(polygon, image.shape)
        if draw_lesion:
            _draw_lesion(lesion_rng, image, bone, polygon, case.label)
    return Phantom(_add_noise(noise_rng, image, case.center), polygon, mask)


# --- planning -----------------------------------------------------------------


def _class_counts(num_images: int, fractions: Sequence[float]) -> dict[str, int]:
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
    return PhantomCase(
        image_id=image_id,
        file_name=image_id + suffix,
        label=label,
        subtype=subtype,
        center=int(rng.choice([1, 2, 3], p=_CENTER_ODDS[label])),
        height=height,
        width=width,
        site=str(rng.choice(list(_SITES))),
        age=int(rng.integers(6, 80)),
        gender=str(rng.choice(["M", "F"])),
        rgb=bool(rng.random() < 0.3),
        seed=int(rng.integers(2**63 - 1)),
    )


def _vary_case(rng: np.random.Generator, name: str) -> str:
    """Write a subtype name in one of the cases annotators use."""
    return [name, name.title(), name.capitalize(), name.upper()][int(rng.integers(4))]


def _settings(
    num_images: int, seed: int, min_size: int, max_size: int, fractions: Sequence[float]
) -> dict[str, Any]:
    """The manifest entries that identify a data set."""
    return {
        "generator": "assurexray.synthetic",
        "version": GENERATOR_VERSION,
        "num_images": num_images,
        "seed": seed,
        "min_size": min_size,
        "max_size": max_size,
        "class_fractions": [float(f) for f in fractions],
    }


# --- anatomy ------------------------------------------------------------------


def _sample_bone(rng: np.random.Generator, case: PhantomCase) -> _Bone:
    """Place a long bone along the long side of the image."""
    h, w = case.height, case.width
    short, long_side = min(h, w), max(h, w)
    angle = rng.uniform(-0.22, 0.22) + (0.0 if h >= w else math.pi / 2)
    radius = rng.uniform(0.10, 0.15) * short
    joint = None
    if rng.random() < 0.6:
        joint = float(rng.choice([-1, 1]) * rng.uniform(0.3, 0.45) * long_side)
    partner = None
    if _SITES[case.site] is not None:
        partner = float(rng.choice([-1, 1]) * radius * rng.uniform(2.0, 2.6))
    return _Bone(
        cx=w / 2 + rng.uniform(-0.08, 0.08) * w,
        cy=h / 2 + rng.uniform(-0.08, 0.08) * h,
        sin=math.sin(angle),
        cos=math.cos(angle),
        bend=rng.uniform(-0.25, 0.25) / long_side,
        radius=radius,
        cortex=radius * rng.uniform(0.15, 0.25),
        tissue=radius * rng.uniform(2.6, 3.6),
        flare=rng.uniform(0.3, 0.7),
        joint=joint,
        gap=radius * rng.uniform(0.25, 0.45),
        partner=partner,
        long_side=long_side,
    )


def _chord(v: np.ndarray, radius: Any) -> np.ndarray:
    """Length of the X-ray path through a cylinder of ``radius`` at offset ``v``."""
    return 2 * np.sqrt(np.maximum(radius * radius - v * v, 0))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """A smooth random field with unit spread and features about ``cell`` pixels wide."""
    h, w = shape
    coarse = rng.standard_normal((int(h / cell) + 2, int(w / cell) + 2), dtype=np.float32)
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return (field - field.mean()) / (field.std() + 1e-6)


def _draw_anatomy(rng: np.random.Generator, bone: _Bone, case: PhantomCase) -> np.ndarray:
    """Project soft tissue and bone into a float32 image in [0, 1]."""
    h, w = case.height, case.width
    y, x = np.indices((h, w), dtype=np.float32)
    u, v = bone.frame(x, y)
    r0 = bone.radius
    # Attenuation along each ray: background (with a heel-effect gradient),
    # soft tissue and muscle, then cortex and trabecular bone.
    heel = 1 + 0.25 * rng.uniform(-1, 1) * (y / h - 0.5)
    tissue = bone.tissue * (1 + 0.06 * np.sin(u / (3 * r0) + rng.uniform(0, 2 * math.pi)))
    atten = 0.04 * heel + 0.16 * _chord(v, tissue) / bone.tissue
    atten += 0.07 * _chord(v - rng.uniform(-0.3, 0.3) * r0, 0.7 * tissue) / bone.tissue
    atten += _bone_attenuation(rng, bone, u, v, (h, w))
    if bone.partner is not None:
        partner = 0.45 * r0
        shell = _chord(v - bone.partner, partner) - _chord(v - bone.partner, 0.7 * partner)
        atten += (1.0 * shell + 0.3 * _chord(v - bone.partner, 0.7 * partner)) / r0
    image = 1 - np.exp(-atten * heel)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.6, 1.2))
    _add_collimation(rng, image)
    _add_marker(rng, image)
    return image


def _bone_attenuation(
    rng: np.random.Generator, bone: _Bone, u: np.ndarray, v: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Cortex (bright where the ray runs along it) and a textured medulla."""
    outer = bone.outer_radius(u)
    inner = np.maximum(outer - bone.cortex_thickness(u), 0)
    near_joint = np.exp(-((bone.joint_distance(u) / (2 * bone.radius)) ** 2))
    trabeculae = 1 + 0.3 * _smooth_noise(rng, shape, 3.0) + 0.15 * _smooth_noise(rng, shape, 9.0)
    medulla = 0.15 * (1 + 1.2 * near_joint) * trabeculae * _chord(v, inner)
    return (1.3 * (_chord(v, outer) - _chord(v, inner)) + medulla) / bone.radius


def _add_collimation(rng: np.random.Generator, image: np.ndarray) -> None:
    """Sometimes brighten a border left unexposed by the collimator."""
    if rng.random() >= 0.3:
        return
    h, w = image.shape
    top, bottom = (rng.uniform(0, 0.06, 2) * h).astype(int)
    left, right = (rng.uniform(0, 0.06, 2) * w).astype(int)
    inside = np.zeros_like(image, dtype=bool)
    inside[top : h - bottom, left : w - right] = True
    image[~inside] = 0.3 * image[~inside] + rng.uniform(0.5, 0.7)


def _add_marker(rng: np.random.Generator, image: np.ndarray) -> None:
    """Sometimes burn a side marker ("L"/"R") into a corner, as on real films."""
    if rng.random() >= 0.5:
        return
    h, w = image.shape
    scale = min(h, w) / 250
    x = int(0.05 * w) if rng.random() < 0.5 else int(0.85 * w)
    y = int(0.1 * h) if rng.random() < 0.5 else int(0.95 * h)
    text = "L" if rng.random() < 0.5 else "R"
    ink = np.zeros(image.shape, np.uint8)  # OpenCV draws text on 8-bit images only
    cv2.putText(ink, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, max(1, round(2 * scale)))
    np.maximum(image, ink * np.float32(0.95 / 255), out=image)


# --- lesions ------------------------------------------------------------------


def _lesion_polygon(rng: np.random.Generator, bone: _Bone, case: PhantomCase) -> np.ndarray:
    """Outline a lesion on the shaft, in image pixels rounded to 0.01.

    Benign: an ellipse-like outline inside the bone. Malignant: an irregular
    outline centred near one cortex that reaches into the soft tissue, where
    the periosteal reaction is drawn.
    """
    malignant = case.label == "Malignant"
    margin = 3
    for _ in range(100):
        u0 = rng.uniform(-0.32, 0.32) * bone.long_side
        if bone.joint_distance(u0) < 1.5 * bone.radius:
            continue
        radius = float(bone.outer_radius(np.float64(u0)))
        if malignant:
            across = radius * rng.uniform(0.9, 1.25)
            along = across * rng.uniform(1.5, 2.6)
            v0 = rng.choice([-1, 1]) * radius * rng.uniform(0.6, 0.95)
            wobble, count = 0.22, 48
        else:
            across = radius * rng.uniform(0.65, 0.88)
            along = across * rng.uniform(1.4, 2.4)
            v0 = rng.uniform(-1, 1) * max(0.0, 0.9 * radius - across)
            wobble, count = 0.05, 36
        angles = np.linspace(0, 2 * math.pi, count, endpoint=False)
        shape = 1 + sum(
            wobble
            / math.sqrt(k)
            * rng.uniform(0.3, 1)
            * np.cos(k * angles + rng.uniform(0, 2 * math.pi))
            for k in range(2, 7)
        )
        if malignant:
            shape = shape + rng.normal(0, 0.04, count)
        turn = rng.uniform(-0.2, 0.2)
        du, dv = along * shape * np.cos(angles), across * shape * np.sin(angles)
        x, y = bone.to_image(
            u0 + du * math.cos(turn) - dv * math.sin(turn),
            v0 + du * math.sin(turn) + dv * math.cos(turn),
        )
        inside_x = (x.min() >= margin) and (x.max() <= case.width - 1 - margin)
        if inside_x and y.min() >= margin and y.max() <= case.height - 1 - margin:
            return np.round(np.stack([x, y], axis=1), 2)
    raise RuntimeError(f"{case.image_id}: could not place a lesion inside the image")


def _polygon_mask(polygon: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Pixels the lesion may change: the rasterised polygon shrunk by one pixel.

    The polygon is rasterised like :mod:`assurexray.annotations` does
    (``floor(x + 0.5)``); the one-pixel erosion keeps the drawing inside the
    polygon for any other reasonable rasteriser too.
    """
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.floor(polygon + 0.5).astype(np.int32)], 1)
    return cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)


def _draw_lesion(
    rng: np.random.Generator, image: np.ndarray, bone: _Bone, polygon: np.ndarray, label: str
) -> None:
    """Draw a lesion into ``image`` in place, changing only pixels inside the polygon."""
    h, w = image.shape
    x0, y0 = np.maximum(np.floor(polygon.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(polygon.max(axis=0)).astype(int) + 3, (w, h))
    mask = _polygon_mask(polygon - (x0, y0), (y1 - y0, x1 - x0))
    depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    crop = image[y0:y1, x0:x1]
    if label == "Benign":
        lesion = _benign(rng, crop, depth)
    else:
        y, x = np.indices(crop.shape, dtype=np.float32)
        u, v = bone.frame(x + x0, y + y0)
        lesion = _malignant(rng, crop, depth, np.abs(v) - bone.outer_radius(u), u)
    crop[mask] = lesion[mask]


def _benign(rng: np.random.Generator, crop: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """A well-circumscribed lucent area with a thin sclerotic rim (and sometimes septa)."""
    alpha = np.clip(depth / 1.5, 0, 1)
    lucent = crop * (1 - alpha * rng.uniform(0.35, 0.55))
    if rng.random() < 0.5:  # "soap bubble" septa: thin bright curves inside
        field = _smooth_noise(rng, crop.shape, max(4.0, depth.max() / 2))
        lucent += 0.12 * np.exp(-((field / 0.12) ** 2)) * alpha * (1 - lucent)
    rim_width = rng.uniform(1.5, 3.0)
    rim = np.exp(-(((depth - rim_width) / (0.7 * rim_width)) ** 2))
    sclerotic = crop + rng.uniform(0.4, 0.7) * (1 - crop)
    return lucent * (1 - rim) + sclerotic * rim


def _malignant(
    rng: np.random.Generator,
    crop: np.ndarray,
    depth: np.ndarray,
    outside: np.ndarray,
    u: np.ndarray,
) -> np.ndarray:
    """An ill-defined mixed lytic/sclerotic area and a periosteal reaction.

    Args:
        rng: Lesion random stream.
        crop: Image patch around the lesion.
        depth: Distance in pixels from the polygon's edge (0 outside).
        outside: Distance of each pixel outside the bone's outer surface
            (negative inside the bone).
        u: Position of each pixel along the bone axis.
    """
    size = max(float(depth.max()), 2.0)
    alpha = np.clip(depth / (size * rng.uniform(0.2, 0.35)), 0, 1)
    alpha *= np.clip(0.85 + 0.25 * _smooth_noise(rng, crop.shape, size / 3), 0, 1)
    texture = _smooth_noise(rng, crop.shape, max(3.0, size / 3))
    lytic = 1 / (1 + np.exp(-(-texture - 0.2) / 0.3))
    sclerotic = 1 / (1 + np.exp(-(texture - 0.5) / 0.3))
    in_bone = crop * (1 - 0.55 * lytic) + 0.6 * sclerotic * (1 - crop)
    # Periosteal reaction beyond the cortex: spicules across the axis
    # ("sunburst") or layers along it ("onion skin"), fading outwards.
    spacing = rng.uniform(4.0, 7.0)
    if rng.random() < 0.5:
        phase = u / spacing + 0.3 * _smooth_noise(rng, crop.shape, 6.0)
    else:
        phase = outside / spacing
    streaks = np.clip(np.cos(2 * math.pi * phase), 0, 1) ** 2
    fade = np.exp(-np.maximum(outside, 0) / size)
    soft = crop + 0.08
    beyond = soft + rng.uniform(0.5, 0.8) * streaks * fade * (1 - soft)
    lesion = np.where(outside < 0, in_bone, beyond)
    return crop * (1 - alpha) + lesion * alpha


# --- acquisition and files --------------------------------------------------------


def _add_noise(rng: np.random.Generator, image: np.ndarray, center: int) -> np.ndarray:
    """Add signal-dependent, slightly correlated noise and the centre's gamma.

    Every step is pixel-wise given a noise field drawn independently of the
    image, so the lesion stays inside its polygon.
    """
    _, sigma, gamma = _CENTER_LOOK[center]
    noise = cv2.GaussianBlur(rng.standard_normal(image.shape, dtype=np.float32), (0, 0), 0.7)
    noise *= sigma * rng.uniform(0.8, 1.2) * 2.5  # the blur lowers the spread to about 0.4
    noisy = np.clip(image + noise * np.sqrt(image + 0.05), 0, 1)
    return (noisy ** (gamma * rng.uniform(0.95, 1.05))).astype(np.float32)


def _write_image(path: Path, image: np.ndarray, case: PhantomCase) -> None:
    """Encode as 16-bit PNG or 8-bit JPEG (grey or 3-channel grey)."""
    if path.suffix == ".png":
        ok, data = cv2.imencode(".png", np.round(image * 65535).astype(np.uint16))
    else:
        pixels = np.round(image * 255).astype(np.uint8)
        if case.rgb:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
        quality = _CENTER_LOOK[case.center][0]
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
    sites = sorted({*_SITES, *(p for p in _SITES.values() if p)})
    subtypes = [name for names in SUBTYPES.values() for name in names]
    rows = []
    for case in cases:
        visible = {case.site, _SITES[case.site]}
        subtype = (case.subtype or "").lower()
        rows.append(
            {
                "image_id": case.file_name,
                "center": case.center,
                "age": case.age,
                "gender": case.gender,
                **{site: int(site in visible) for site in sites},
                "upper limb": int(case.site not in _LOWER_LIMB),
                "lower limb": int(case.site in _LOWER_LIMB),
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
