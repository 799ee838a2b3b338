"""Adversarial perturbations for the stability check: FGSM and PGD from ``captum.robust``.

A heatmap that changes a lot under a perturbation too small to see, and too
small to change the prediction, does not explain the prediction. The
perturbation is the worst one the model's own gradient finds within an L∞
budget (Goodfellow et al. 2015, FGSM; Madry et al. 2018, PGD), not a random one.

The budget is given in grey levels of the image before normalisation (``2``
means 2/255 of the [0, 1] input range). The network input is a grey image
replicated to the network's channels and normalised per channel
(``(pixel - mean[c]) / std[c]``, :mod:`assurexray.imaging.preprocess`), so a
budget of ε in pixel units is ε / std[c] in the normalised units of channel c.
Rather than attack the normalised tensor with one scalar budget (which would
give every channel the same normalised budget, i.e. a different one in grey
levels), the attack runs on the grey image itself, through a wrapper that
replicates and normalises it for the model: the L∞ ball is then exactly ε
grey units in every channel, the image stays grey (every channel changes
alike, as a real radiograph would), and pixels stay in [0, 1].
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

ATTACKS = ("fgsm", "pgd")
GREY_LEVELS = 255.0  # the budget's unit: one 8-bit grey level of the [0, 1] range


def normalised_budget(epsilon: float, std: Sequence[float]) -> list[float]:
    """The L∞ budget of ``epsilon`` grey levels in each channel's normalised units."""
    return [epsilon / GREY_LEVELS / float(s) for s in std]


def _grey(batch: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """The grey image (``N×1×S×S``, pixel units) behind a normalised batch of replicated grey."""
    m = torch.as_tensor(mean, dtype=batch.dtype, device=batch.device)[None, :, None, None]
    s = torch.as_tensor(std, dtype=batch.dtype, device=batch.device)[None, :, None, None]
    pixels = batch * s + m
    if not torch.allclose(pixels, pixels[:, :1].expand_as(pixels), atol=1e-4):
        raise ValueError("the adversarial check needs grey images replicated to every channel")
    return pixels[:, :1].clone()


class _FromGrey(torch.nn.Module):
    """``model`` fed a grey image in pixel units: replicated to its channels and normalised."""

    def __init__(self, model: torch.nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.model = model
        self.mean: torch.Tensor = torch.as_tensor(mean, dtype=torch.float32)[None, :, None, None]
        self.std: torch.Tensor = torch.as_tensor(std, dtype=torch.float32)[None, :, None, None]

    def normalise(self, grey: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean.to(grey), self.std.to(grey)
        return (grey.expand(-1, mean.shape[1], -1, -1) - mean) / std

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalise(grey))


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image cross-entropy of logits: the attacks' loss (Captum's default, ``-log(output)``,
    expects probabilities and is undefined for negative logits)."""
    return torch.nn.functional.cross_entropy(logits, target, reduction="none")


def adversarial_batch(
    model: torch.nn.Module,
    batch: torch.Tensor,
    targets: Sequence[int],
    *,
    attack: str,
    epsilon: float,
    mean: Sequence[float],
    std: Sequence[float],
    steps: int = 5,
    step_size: float = 1.0,
) -> tuple[torch.Tensor, np.ndarray]:
    """An adversarial copy of a normalised batch and which images keep their class.

    Untargeted: the attack raises the cross-entropy of ``targets`` (give the
    predicted classes to test whether the prediction can be flipped).

    Args:
        model: The classifier, taking normalised batches; left in its mode.
        batch: ``N×C×S×S`` normalised grey images (every channel the same grey).
        targets: The class of each image that the attack works against.
        attack: ``fgsm`` (one signed-gradient step of ``epsilon``) or ``pgd``
            (``steps`` steps of ``step_size``, projected back to the budget).
        epsilon: L∞ budget in grey levels (of 255 over the [0, 1] input range).
        mean: Per-channel normalisation mean of the model's input.
        std: Per-channel normalisation standard deviation.
        steps: PGD steps.
        step_size: PGD step in grey levels.

    Returns:
        The perturbed batch, normalised like ``batch`` (each channel moved by at
        most ``epsilon / 255 / std[c]``), and a boolean array: True where the
        model's predicted class of the perturbed image is still ``targets``.

    Raises:
        ValueError: an unknown attack or a negative budget.
    """
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; known: {', '.join(ATTACKS)}")
    if epsilon < 0 or steps < 1 or step_size <= 0:
        raise ValueError("the adversarial budget and step size must be positive")
    wrapped = _FromGrey(model, mean, std)
    grey = _grey(batch.detach(), mean, std).requires_grad_(True)
    target = torch.as_tensor(list(targets), device=batch.device)
    radius = epsilon / GREY_LEVELS
    with warnings.catch_warnings():  # PGD hands Captum's FGSM detached steps: not a problem
        warnings.filterwarnings("ignore", "Input Tensor 0 did not already require gradients")
        adversarial = _attack(wrapped, grey, target, attack, radius, steps, step_size)
    with torch.no_grad():
        perturbed = wrapped.normalise(adversarial)
        kept = (model(perturbed).argmax(dim=1) == target).cpu().numpy()
    return perturbed, kept


def _attack(
    wrapped: torch.nn.Module,
    grey: torch.Tensor,
    target: torch.Tensor,
    attack: str,
    radius: float,
    steps: int,
    step_size: float,
) -> torch.Tensor:
    """Captum's FGSM or PGD on the grey image (pixel units, bounded to [0, 1])."""
    from captum.robust import FGSM, PGD

    if attack == "fgsm":
        adversarial = FGSM(wrapped, cross_entropy, lower_bound=0.0, upper_bound=1.0).perturb(
            grey, epsilon=radius, target=target
        )
    else:
        adversarial = PGD(wrapped, cross_entropy, lower_bound=0.0, upper_bound=1.0).perturb(
            grey,
            radius=radius,
            step_size=step_size / GREY_LEVELS,
            step_num=steps,
            target=target,
            norm="Linf",
        )
    return adversarial.detach()
