"""Anatomy of a phantom: a long bone in soft tissue, projected like an X-ray,
with the film's collimation border and side marker."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from assurexray.data.synthetic.plan import SITES, PhantomCase


@dataclass(frozen=True)
class Bone:
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


def sample_bone(rng: np.random.Generator, case: PhantomCase) -> Bone:
    """Place a long bone along the long side of the image."""
    h, w = case.height, case.width
    short, long_side = min(h, w), max(h, w)
    angle = rng.uniform(-0.22, 0.22) + (0.0 if h >= w else math.pi / 2)
    radius = rng.uniform(0.10, 0.15) * short
    joint = None
    if rng.random() < 0.6:
        joint = float(rng.choice([-1, 1]) * rng.uniform(0.3, 0.45) * long_side)
    partner = None
    if SITES[case.site] is not None:
        partner = float(rng.choice([-1, 1]) * radius * rng.uniform(2.0, 2.6))
    return Bone(
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


def chord(v: np.ndarray, radius: Any) -> np.ndarray:
    """Length of the X-ray path through a cylinder of ``radius`` at offset ``v``."""
    return 2 * np.sqrt(np.maximum(radius * radius - v * v, 0))


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """A smooth random field with unit spread and features about ``cell`` pixels wide."""
    h, w = shape
    coarse = rng.standard_normal((int(h / cell) + 2, int(w / cell) + 2), dtype=np.float32)
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return (field - field.mean()) / (field.std() + 1e-6)


def draw_anatomy(rng: np.random.Generator, bone: Bone, case: PhantomCase) -> np.ndarray:
    """Project soft tissue and bone into a float32 image in [0, 1]."""
    h, w = case.height, case.width
    y, x = np.indices((h, w), dtype=np.float32)
    u, v = bone.frame(x, y)
    r0 = bone.radius
    # Attenuation along each ray: background (with a heel-effect gradient),
    # soft tissue and muscle, then cortex and trabecular bone.
    heel = 1 + 0.25 * rng.uniform(-1, 1) * (y / h - 0.5)
    tissue = bone.tissue * (1 + 0.06 * np.sin(u / (3 * r0) + rng.uniform(0, 2 * math.pi)))
    atten = 0.04 * heel + 0.16 * chord(v, tissue) / bone.tissue
    atten += 0.07 * chord(v - rng.uniform(-0.3, 0.3) * r0, 0.7 * tissue) / bone.tissue
    atten += _bone_attenuation(rng, bone, u, v, (h, w))
    if bone.partner is not None:
        partner = 0.45 * r0
        shell = chord(v - bone.partner, partner) - chord(v - bone.partner, 0.7 * partner)
        atten += (1.0 * shell + 0.3 * chord(v - bone.partner, 0.7 * partner)) / r0
    image = 1 - np.exp(-atten * heel)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.6, 1.2))
    _add_collimation(rng, image)
    _add_marker(rng, image)
    return image


def _bone_attenuation(
    rng: np.random.Generator, bone: Bone, u: np.ndarray, v: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Cortex (bright where the ray runs along it) and a textured medulla."""
    outer = bone.outer_radius(u)
    inner = np.maximum(outer - bone.cortex_thickness(u), 0)
    near_joint = np.exp(-((bone.joint_distance(u) / (2 * bone.radius)) ** 2))
    trabeculae = 1 + 0.3 * smooth_noise(rng, shape, 3.0) + 0.15 * smooth_noise(rng, shape, 9.0)
    medulla = 0.15 * (1 + 1.2 * near_joint) * trabeculae * chord(v, inner)
    return (1.3 * (chord(v, outer) - chord(v, inner)) + medulla) / bone.radius


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
