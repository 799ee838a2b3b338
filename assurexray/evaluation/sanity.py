"""Model-parameter randomisation test (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

On a copy of the model, re-initialise the head, then cascade down through the
last blocks, and recompute every heatmap at each step. A heatmap that stays
similar (mean Spearman rank correlation with the original at or above the
threshold) both when the head is random and when the last block is random too
does not depend on what the model learnt: it shows the image, not the model,
and fails. The steps after the decision step are reported, not judged.

The cascade is read from the model's structure
(:func:`assurexray.explain.candidates.network_units`): the *head* is the classifier
and every module after the last block.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from assurexray.explain.candidates import network_units

DEFAULT_DEPTH = 2
DEFAULT_THRESHOLD = 0.5
# maps(model, batch, targets) -> {name: N×S×S maps}
MapFunction = Callable[[nn.Module, torch.Tensor, Sequence[int]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class CascadeStep:
    """One step of the cascade: every module randomised so far."""

    label: str
    modules: tuple[str, ...]


@dataclass
class SanityResult:
    """Similarity of one candidate's maps to the originals at each cascade step."""

    steps: list[dict[str, object]] = field(default_factory=list)
    decision_step: str = ""
    threshold: float = DEFAULT_THRESHOLD
    passed: bool | None = None
    spearman: float | None = None  # the correlation that decided

    def to_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "spearman": self.spearman,
            "decision_step": self.decision_step,
            "threshold": self.threshold,
            "criterion": "mean Spearman rank correlation below the threshold at some step up to "
            "the decision step",
            "steps": self.steps,
        }


def cascade_steps(model: nn.Module, depth: int = DEFAULT_DEPTH) -> list[CascadeStep]:
    """The head first, then one more block per step, ``depth`` blocks at most."""
    units = [u for u in network_units(model) if any(True for _ in u[1].parameters())]
    if not units:
        return []
    block_positions = [i for i, (_, _, is_block) in enumerate(units) if is_block]
    if block_positions and block_positions[-1] < len(units) - 1:
        head_start = block_positions[-1] + 1
        below = [units[i][0] for i in reversed(block_positions)]
    else:  # no blocks after which a head follows: one module at a time
        head_start = len(units) - 1
        below = [name for name, _, _ in reversed(units[:-1])]
    randomised = tuple(name for name, _, _ in units[head_start:])
    steps = [CascadeStep("head", randomised)]
    for name in below[:depth]:
        randomised = (*randomised, name)
        steps.append(CascadeStep(name, randomised))
    return steps


def randomise(module: nn.Module, generator_seed: int) -> None:
    """Re-initialise every parameter of ``module`` in place, reproducibly.

    Layers with ``reset_parameters`` (convolutions, linear layers, norms — their
    running statistics too) use their own initialiser; other parameters are
    shuffled, which keeps their distribution but destroys what was learnt.
    """
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(generator_seed)
        for sub in module.modules():
            reset = getattr(sub, "reset_parameters", None)
            if callable(reset):
                reset()
                continue
            for parameter in sub.parameters(recurse=False):
                order = torch.randperm(parameter.numel(), device=parameter.device)
                parameter.copy_(parameter.flatten()[order].view_as(parameter))


def map_similarity(original: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """Spearman rank correlation and SSIM of two ``S×S`` maps in [0, 1].

    A constant map has no ranks to agree with: its correlation counts as 0.
    """
    from scipy.stats import spearmanr
    from skimage.metrics import structural_similarity

    a, b = np.asarray(original, np.float64), np.asarray(other, np.float64)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        rho = 0.0
    else:
        rho = float(spearmanr(a.ravel(), b.ravel()).statistic)
    ssim = float(structural_similarity(a, b, data_range=1.0))
    return rho, ssim


def randomisation_test(
    model: nn.Module,
    maps: MapFunction,
    batches: Sequence[tuple[torch.Tensor, Sequence[int]]],
    original: dict[str, np.ndarray],
    *,
    depth: int = DEFAULT_DEPTH,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
) -> dict[str, SanityResult]:
    """Run the cascade and compare every candidate's maps with ``original``.

    Args:
        model: The trained model (left untouched: a copy is randomised).
        maps: Computes ``{name: N×S×S}`` maps for a model, batch and targets.
        batches: The images checked, as (batch, targets) pairs.
        original: The trained model's maps of those images, concatenated in
            batch order, by candidate name.
        depth: Blocks randomised below the head.
        threshold: A candidate passes once the mean Spearman correlation with
            the original maps drops below this at some step up to the decision
            step (head and last block random); it fails if it stays at or above.
        seed: Seed of the re-initialisation.
    """
    steps = cascade_steps(model, depth)
    results = {name: SanityResult(threshold=threshold) for name in original}
    if not steps:
        return results
    decision = steps[min(1, len(steps) - 1)]
    reached = {s.label for s in steps[: steps.index(decision) + 1]}
    randomised_model = copy.deepcopy(model)
    done: set[str] = set()
    for number, step in enumerate(steps):
        for name in step.modules:
            if name not in done:
                randomise(randomised_model.get_submodule(name), seed + number)
                done.add(name)
        fresh = _concatenated(maps, randomised_model, batches)
        for name, result in results.items():
            pairs = [map_similarity(a, b) for a, b in zip(original[name], fresh[name], strict=True)]
            rho = float(np.mean([p[0] for p in pairs]))
            ssim = float(np.mean([p[1] for p in pairs]))
            result.steps.append(
                {
                    "randomised": step.label,
                    "modules": list(step.modules),
                    "spearman": rho,
                    "ssim": ssim,
                }
            )
            if result.passed is None and step.label in reached:
                result.decision_step = decision.label
                if rho < threshold:  # the map changed once the model lost what it learnt
                    result.passed, result.spearman = True, rho
                elif step == decision:
                    result.passed, result.spearman = False, rho
    return results


def _concatenated(
    maps: MapFunction, model: nn.Module, batches: Sequence[tuple[torch.Tensor, Sequence[int]]]
) -> dict[str, np.ndarray]:
    parts = [maps(model, x, targets) for x, targets in batches]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
