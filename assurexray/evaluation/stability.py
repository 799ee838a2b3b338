"""Stability: a heatmap should not change under perturbations that do not change the prediction.

Each image is perturbed slightly — Gaussian noise of 1 % of the grey range,
brightness ±2 %, a 2-pixel shift (the map is shifted back before comparing) —
and the map of the perturbed image is compared with the original by SSIM
(scikit-image). Perturbations that change the predicted class are left out.

:func:`adversarial_ssim` does the same for the worst perturbations within a
small L∞ budget (FGSM and PGD, :mod:`assurexray.evaluation.adversarial`), and
also counts how often they flip the prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from assurexray.evaluation.adversarial import ATTACKS, adversarial_batch

PERTURBATIONS = ("noise", "brighter", "darker", "shift")
SHIFT = 2
NOISE = 0.01
BRIGHTNESS = 0.02
# maps(batch) -> ({name: N×S×S maps}, logits)
Maps = Callable[[torch.Tensor], tuple[dict[str, np.ndarray], torch.Tensor]]


def perturb(
    batch: torch.Tensor, kind: str, mean: Sequence[float], std: Sequence[float], seed: int
) -> torch.Tensor:
    """A perturbed copy of a normalised batch (changes are made in pixel units)."""
    m = torch.as_tensor(mean, dtype=batch.dtype, device=batch.device)[None, :, None, None]
    s = torch.as_tensor(std, dtype=batch.dtype, device=batch.device)[None, :, None, None]
    pixels = batch * s + m
    if kind == "noise":
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn((len(batch), 1, *batch.shape[-2:]), generator=generator)
        pixels = pixels + NOISE * noise.to(batch.device, batch.dtype)
    elif kind in ("brighter", "darker"):
        pixels = pixels * (1 + BRIGHTNESS if kind == "brighter" else 1 - BRIGHTNESS)
    elif kind == "shift":
        pixels = torch.nn.functional.pad(pixels, (SHIFT, 0, SHIFT, 0), mode="replicate")
        pixels = pixels[..., : batch.shape[-2], : batch.shape[-1]]
    else:
        raise ValueError(f"unknown perturbation {kind!r}; known: {', '.join(PERTURBATIONS)}")
    return (pixels - m) / s


def aligned(
    original: np.ndarray, perturbed: np.ndarray, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """The parts of two maps that show the same place (a shift is undone)."""
    if kind == "shift":
        return original[:-SHIFT, :-SHIFT], perturbed[SHIFT:, SHIFT:]
    return original, perturbed


def stability_ssim(
    maps: Maps,
    batch: torch.Tensor,
    original: dict[str, np.ndarray],
    predicted: Sequence[int],
    *,
    mean: Sequence[float],
    std: Sequence[float],
    seed: int = 0,
) -> tuple[dict[str, list[float]], int]:
    """SSIM of every candidate's map under each perturbation that keeps the prediction.

    Returns:
        ``{name: [SSIM per kept (image, perturbation)]}`` and how many
        (image, perturbation) pairs were left out because the class changed.
    """
    values: dict[str, list[float]] = {name: [] for name in original}
    dropped = 0
    for number, kind in enumerate(PERTURBATIONS):
        fresh, logits = maps(perturb(batch, kind, mean, std, seed + number))
        kept = logits.argmax(dim=1).cpu().numpy() == np.asarray(predicted)
        dropped += int((~kept).sum())
        _add_ssim(values, original, fresh, kept, kind)
    return values, dropped


def adversarial_ssim(
    maps: Maps,
    model: torch.nn.Module,
    batch: torch.Tensor,
    original: dict[str, np.ndarray],
    predicted: Sequence[int],
    *,
    mean: Sequence[float],
    std: Sequence[float],
    epsilon: float,
    attacks: Sequence[str] = ATTACKS,
    **budget: Any,
) -> tuple[dict[str, list[float]], list[bool]]:
    """SSIM of every candidate's map under each adversarial attack that keeps the prediction.

    Args:
        maps: The candidates' maps of a batch.
        model: The classifier the attacks use the gradient of.
        batch: Normalised grey images.
        original: ``{name: N×S×S}`` maps of ``batch``.
        predicted: The predicted class of each image (what the attacks work against).
        mean: Normalisation mean.
        std: Normalisation standard deviation.
        epsilon: L∞ budget in grey levels.
        attacks: Which of :data:`~assurexray.evaluation.adversarial.ATTACKS` to run.
        **budget: ``steps`` and ``step_size`` (grey levels) of PGD.

    Returns:
        ``{name: [SSIM per kept (image, attack)]}`` and, per (image, attack)
        pair in attack-major order, whether the attack flipped the prediction.
    """
    values: dict[str, list[float]] = {name: [] for name in original}
    flipped: list[bool] = []
    for attack in attacks:
        perturbed, kept = adversarial_batch(
            model, batch, predicted, attack=attack, epsilon=epsilon, mean=mean, std=std, **budget
        )
        flipped += [not k for k in kept]
        if kept.any():
            fresh, _ = maps(perturbed)
            _add_ssim(values, original, fresh, kept, attack)
    return values, flipped


def _add_ssim(
    values: dict[str, list[float]],
    original: dict[str, np.ndarray],
    fresh: dict[str, np.ndarray],
    kept: np.ndarray,
    kind: str,
) -> None:
    """Append the SSIM of the original and fresh map of every kept image to ``values``."""
    from skimage.metrics import structural_similarity

    for name, series in values.items():
        for n in np.flatnonzero(kept):
            a, b = aligned(original[name][n], fresh[name][n], kind)
            series.append(float(structural_similarity(a, b, data_range=1.0)))
