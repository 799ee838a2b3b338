"""The audit's checks on a subset of images: sanity, faithfulness and stability.

The subset's maps were kept while scoring; here they are compared with the
maps of a randomised model (:mod:`assurexray.evaluation.sanity`), scored by ROAD
(:mod:`assurexray.evaluation.faithfulness`) and compared with the maps of slightly
perturbed images and of adversarial ones (:mod:`assurexray.evaluation.stability`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from assurexray.audit.summary import Scores
from assurexray.core.callbacks import Progress
from assurexray.engine.streaming import batched
from assurexray.evaluation.baselines import BASELINES, baseline_maps, network_gray
from assurexray.evaluation.faithfulness import road_scores
from assurexray.evaluation.sanity import randomisation_test
from assurexray.evaluation.stability import adversarial_ssim, stability_ssim
from assurexray.explain.cam_engine import CandidateMaps

if TYPE_CHECKING:
    from assurexray.audit.options import AuditOptions


@dataclass
class AuditImage:
    """An image kept for the checks and the figure."""

    image_id: str
    label: str
    tensor: np.ndarray
    target: int
    mask: np.ndarray | None = None
    gray: np.ndarray | None = None
    geometry: Any = None
    maps: dict[str, np.ndarray] = field(default_factory=dict)


def all_maps(
    engine: CandidateMaps, batch: torch.Tensor, targets: Sequence[int], config: Any, seed: int
) -> dict[str, np.ndarray]:
    """Every candidate's and every baseline's maps of a batch."""
    maps, _ = engine(batch, targets)
    gray = network_gray(batch, config.mean, config.std)
    for name in BASELINES:
        maps[name] = baseline_maps(name, gray, seed)
    return maps


def run_checks(
    model: torch.nn.Module,
    engine: CandidateMaps,
    images: list[AuditImage],
    scores: list[Scores],
    options: AuditOptions,
    config: Any,
    device: torch.device,
    progress: Progress,
) -> int:
    """Sanity, faithfulness, stability and adversarial stability of every candidate on
    ``images``, added to ``scores``.

    Returns:
        How many (image, perturbation) pairs the stability check left out
        because the perturbation changed the predicted class.
    """
    if not images:  # nothing to check (no image scored, or --check-images 0)
        return 0
    batch_size = options.choice.stream.batch_size
    batches = [
        (
            torch.from_numpy(np.stack([i.tensor for i in part])).to(device),
            [i.target for i in part],
            part,
        )
        for part in batched(images, batch_size)
    ]
    original = {s.name: np.stack([i.maps[s.name] for i in images]) for s in scores}

    def maps_of(randomised: torch.nn.Module, x: torch.Tensor, targets: Sequence[int]):
        return all_maps(
            CandidateMaps(randomised, engine.candidates), x, targets, config, options.seed
        )

    left_out = 0
    progress("sanity", 0, 1)
    sanity = randomisation_test(
        model,
        maps_of,
        [(x, t) for x, t, _ in batches],
        original,
        depth=options.sanity_depth,
        threshold=options.sanity_threshold,
        seed=options.seed,
    )
    for entry in scores:
        entry.sanity = sanity[entry.name].to_dict()
    progress("sanity", 1, 1)
    for number, (x, targets, part) in enumerate(batches):
        with torch.no_grad():
            predicted = [int(p) for p in model(x).argmax(dim=1)]
        road = road_scores(
            model,
            x,
            {s.name: np.stack([i.maps[s.name] for i in part]) for s in scores},
            targets,
            percentiles=options.road_percentiles,
            seed=options.seed,
        )
        for entry in scores:
            entry.faithfulness += list(road[entry.name])
        progress("faithfulness", number + 1, len(batches))
        candidate_maps = {
            s.name: np.stack([i.maps[s.name] for i in part]) for s in scores if not s.is_baseline
        }
        stable, dropped = stability_ssim(
            partial(engine, targets=targets),
            x,
            candidate_maps,
            predicted,
            mean=config.mean,
            std=config.std,
            seed=options.seed,
        )
        for entry in scores:
            entry.stability += stable.get(entry.name, [])
        left_out += dropped
        progress("stability", number + 1, len(batches))
        _adversarial(model, engine, x, targets, candidate_maps, predicted, scores, options, config)
        progress("adversarial", number + 1, len(batches))
    return left_out


def _adversarial(
    model: torch.nn.Module,
    engine: CandidateMaps,
    x: torch.Tensor,
    targets: Sequence[int],
    candidate_maps: dict[str, np.ndarray],
    predicted: Sequence[int],
    scores: list[Scores],
    options: AuditOptions,
    config: Any,
) -> None:
    """The adversarial stability of every candidate on one batch, added to ``scores``."""
    if not options.adversarial_attacks:
        return
    stable, flipped = adversarial_ssim(
        partial(engine, targets=targets),
        model,
        x,
        candidate_maps,
        predicted,
        mean=config.mean,
        std=config.std,
        epsilon=options.adversarial_epsilon,
        attacks=options.adversarial_attacks,
        steps=options.adversarial_steps,
        step_size=options.adversarial_step_size,
    )
    for entry in scores:
        if entry.name in stable:  # the baselines ignore the model: not attacked
            entry.adversarial += stable[entry.name]
            entry.adversarial_flips += flipped
