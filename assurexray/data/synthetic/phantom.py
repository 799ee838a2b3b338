"""Rendering one phantom: anatomy, lesion, then the acquisition noise.

Each image is drawn in three independent random streams: anatomy, lesion and
noise. The lesion is drawn only inside its polygon (the one saved in the
LabelMe file) and everything after it is pixel-wise, so an image rendered with
``draw_lesion=False`` differs from the real one only inside that polygon.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from assurexray.data.synthetic import lesions
from assurexray.data.synthetic.anatomy import draw_anatomy, sample_bone
from assurexray.data.synthetic.plan import CENTER_LOOK, PhantomCase


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


def render_case(case: PhantomCase, *, draw_lesion: bool = True) -> Phantom:
    """Draw one image of ``case``.

    Args:
        case: The plan of the image (from :func:`~assurexray.data.synthetic.plan.plan_dataset`).
        draw_lesion: ``False`` draws the same image without its lesion (the
            polygon is still returned), to check that the polygon covers it.

    Returns:
        The image, the lesion polygon and the lesion mask.
    """
    anatomy_rng, lesion_rng, noise_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(case.seed).spawn(3)
    )
    bone = sample_bone(anatomy_rng, case)
    image = draw_anatomy(anatomy_rng, bone, case)
    polygon = mask = None
    if case.label != "Normal":
        polygon = lesions.lesion_polygon(lesion_rng, bone, case)
        mask = lesions.polygon_mask(polygon, image.shape)
        if draw_lesion:
            lesions.draw_lesion(lesion_rng, image, bone, polygon, case)
    return Phantom(add_noise(noise_rng, image, case.center), polygon, mask)


def add_noise(rng: np.random.Generator, image: np.ndarray, center: int) -> np.ndarray:
    """Add signal-dependent, slightly correlated noise and the centre's gamma.

    Every step is pixel-wise given a noise field drawn independently of the
    image, so the lesion stays inside its polygon.
    """
    _, sigma, gamma = CENTER_LOOK[center]
    noise: np.ndarray = cv2.GaussianBlur(
        rng.standard_normal(image.shape, dtype=np.float32), (0, 0), 0.7
    )
    noise *= sigma * rng.uniform(0.8, 1.2) * 2.5  # the blur lowers the spread to about 0.4
    noisy = np.clip(image + noise * np.sqrt(image + 0.05), 0, 1)
    return (noisy ** (gamma * rng.uniform(0.95, 1.05))).astype(np.float32)
