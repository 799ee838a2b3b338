"""Lesions of a phantom: the outline saved as the annotation, and the drawing
inside it.

A benign lesion is a well-circumscribed lucent area inside the bone with a
thin sclerotic rim; a malignant one is an ill-defined mixed lytic/sclerotic
area at a cortex that reaches into the soft tissue with a periosteal reaction.
Hard cases (see :class:`~assurexray.data.synthetic.plan.PhantomCase`) are smaller
and fainter (low conspicuity) or drawn mostly in the other class's style
(look-alikes). Every drawing stays inside the outline.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from assurexray.annotations.labelme import Shape
from assurexray.annotations.shapes import draw_shapes
from assurexray.data.synthetic.anatomy import Bone, smooth_noise
from assurexray.data.synthetic.plan import PhantomCase

# A look-alike is drawn with this range of weight on the other class's style.
LOOK_ALIKE_WEIGHT = (0.55, 0.75)


def look_of(case: PhantomCase) -> str:
    """The tumour class whose style the lesion's outline follows."""
    if not case.look_alike:
        return case.label
    return "Benign" if case.label == "Malignant" else "Malignant"


def lesion_polygon(rng: np.random.Generator, bone: Bone, case: PhantomCase) -> np.ndarray:
    """Outline a lesion on the shaft, in image pixels rounded to 0.01.

    Benign style: an ellipse-like outline inside the bone. Malignant style: an
    irregular outline centred near one cortex that reaches into the soft
    tissue, where the periosteal reaction is drawn. A subtle lesion is smaller.
    """
    malignant = look_of(case) == "Malignant"
    scale = 0.45 + 0.55 * case.conspicuity
    margin = 3
    for _ in range(100):
        u0 = rng.uniform(-0.32, 0.32) * bone.long_side
        if bone.joint_distance(u0) < 1.5 * bone.radius:
            continue
        radius = float(bone.outer_radius(np.float64(u0)))
        if malignant:
            across = radius * rng.uniform(0.9, 1.25) * scale
            along = across * rng.uniform(1.5, 2.6)
            v0 = rng.choice([-1, 1]) * radius * rng.uniform(0.6, 0.95)
            wobble, count = 0.22, 48
        else:
            across = radius * rng.uniform(0.65, 0.88) * scale
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


def polygon_mask(polygon: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Pixels the lesion may change: inside the polygon for every usual rasteriser.

    The pixels labelme itself fills (the mask :mod:`assurexray.annotations.labelme`
    scores against), less a one-pixel erosion of the polygon rounded to pixel
    centres, so the drawing stays inside the outline for other rasterisers too.
    """
    rounded = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(rounded, [np.floor(polygon + 0.5).astype(np.int32)], 1)
    eroded = cv2.erode(rounded, np.ones((3, 3), np.uint8)).astype(bool)
    outline = Shape(label="lesion", shape_type="polygon", points=polygon)
    return eroded & draw_shapes([outline], (int(shape[0]), int(shape[1])))


def draw_lesion(
    rng: np.random.Generator,
    image: np.ndarray,
    bone: Bone,
    polygon: np.ndarray,
    case: PhantomCase,
) -> None:
    """Draw the lesion of ``case`` into ``image`` in place, only inside the polygon.

    Both styles are drawn; a typical lesion shows its own class's style, a
    look-alike mostly the other one. The lesion's difference from the bone
    underneath is then scaled by the case's conspicuity.
    """
    h, w = image.shape
    x0, y0 = np.maximum(np.floor(polygon.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(polygon.max(axis=0)).astype(int) + 3, (w, h))
    mask = polygon_mask(polygon - (x0, y0), (y1 - y0, x1 - x0))
    depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    crop = image[y0:y1, x0:x1]
    y, x = np.indices(crop.shape, dtype=np.float32)
    u, v = bone.frame(x + x0, y + y0)
    styles = {
        "Benign": _benign(rng, crop, depth),
        "Malignant": _malignant(rng, crop, depth, np.abs(v) - bone.outer_radius(u), u),
    }
    weight = rng.uniform(*LOOK_ALIKE_WEIGHT) if case.look_alike else 0.0
    other = "Benign" if case.label == "Malignant" else "Malignant"
    lesion = (1 - weight) * styles[case.label] + weight * styles[other]
    faded = crop + case.conspicuity * (lesion - crop)
    crop[mask] = faded[mask]


def _benign(rng: np.random.Generator, crop: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """A well-circumscribed lucent area with a thin sclerotic rim (and sometimes septa)."""
    alpha = np.clip(depth / 1.5, 0, 1)
    lucent = crop * (1 - alpha * rng.uniform(0.35, 0.55))
    if rng.random() < 0.5:  # "soap bubble" septa: thin bright curves inside
        field = smooth_noise(rng, crop.shape, max(4.0, depth.max() / 2))
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
    alpha *= np.clip(0.85 + 0.25 * smooth_noise(rng, crop.shape, size / 3), 0, 1)
    texture = smooth_noise(rng, crop.shape, max(3.0, size / 3))
    lytic = 1 / (1 + np.exp(-(-texture - 0.2) / 0.3))
    sclerotic = 1 / (1 + np.exp(-(texture - 0.5) / 0.3))
    in_bone = crop * (1 - 0.55 * lytic) + 0.6 * sclerotic * (1 - crop)
    # Periosteal reaction beyond the cortex: spicules across the axis
    # ("sunburst") or layers along it ("onion skin"), fading outwards.
    spacing = rng.uniform(4.0, 7.0)
    if rng.random() < 0.5:
        phase = u / spacing + 0.3 * smooth_noise(rng, crop.shape, 6.0)
    else:
        phase = outside / spacing
    streaks = np.clip(np.cos(2 * math.pi * phase), 0, 1) ** 2
    fade = np.exp(-np.maximum(outside, 0) / size)
    soft = crop + 0.08
    beyond = soft + rng.uniform(0.5, 0.8) * streaks * fade * (1 - soft)
    lesion = np.where(outside < 0, in_bone, beyond)
    return crop * (1 - alpha) + lesion * alpha
