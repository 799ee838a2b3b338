"""Faithfulness: does the heatmap mark what the model actually uses?

ROAD (Rong et al. 2022, "A Consistent and Efficient Evaluation Strategy for
Attribution Methods") with pytorch-grad-cam's own pieces: pixels are removed
in heatmap order and filled by its noisy linear imputation, and the change in
the explained class's softmax probability is measured. Removing the least
relevant pixels first (LeRF) should barely matter; removing the most relevant
first (MoRF) should hurt. The combined score is ``(LeRF − MoRF) / 2`` averaged
over percentiles, as pytorch-grad-cam's ``ROADCombined``: higher is more
faithful, and a random map scores about zero.

``ROADCombined`` runs the unperturbed batch again for every percentile and one
map at a time; :func:`road_scores` gives the same numbers (a test checks it)
with one unperturbed pass, the perturbed images of a map in large batches, and
the imputations' equation systems built vectorised and solved on every core
(:mod:`assurexray.evaluation.road_imputer`: the same images as the library's).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

DEFAULT_PERCENTILES = (20, 40, 60, 80)


def road_scores(
    model: nn.Module,
    batch: torch.Tensor,
    maps: dict[str, np.ndarray],
    targets: Sequence[int],
    *,
    percentiles: Sequence[int] = DEFAULT_PERCENTILES,
    seed: int = 0,
    forward_batch: int = 32,
) -> dict[str, np.ndarray]:
    """ROAD combined score of each image's map, for every named set of maps.

    Args:
        model: The classifier.
        batch: ``N×C×S×S`` network input.
        maps: ``{name: N×S×S maps in [0, 1]}``.
        targets: The explained class of each image.
        percentiles: Shares of pixels removed, in percent.
        seed: Every map gets the same imputation noise, so scores of two maps
            of the same images are a paired comparison.
        forward_batch: Perturbed images per forward pass.

    Returns:
        ``{name: N scores}``.
    """
    from pytorch_grad_cam.metrics.perturbation_confidence import (
        RemoveLeastRelevantFirst,
        RemoveMostRelevantFirst,
    )

    from assurexray.evaluation.road_imputer import DeferredImputer
    from assurexray.explain.target_layers import eval_mode

    index = torch.arange(len(batch))
    wanted = torch.as_tensor(list(targets))
    imputer = DeferredImputer()
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu_batch = batch.detach().cpu()
    scores = {}
    with eval_mode(model), torch.no_grad():
        base = torch.softmax(model(batch).float(), dim=1).cpu()[index, wanted]
        for name, name_maps in maps.items():
            for order in (RemoveLeastRelevantFirst, RemoveMostRelevantFirst):
                for p in percentiles:
                    for n in range(len(batch)):
                        order(p, imputer)(cpu_batch[n], torch.from_numpy(np.asarray(name_maps[n])))
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                perturbed = imputer.run(workers or 1)
            after = _probabilities(model, perturbed, batch.device, forward_batch)
            after = after.view(2, len(percentiles), len(batch), after.shape[-1])
            drop = after[:, :, index, wanted] - base  # order × percentile × image
            lerf, morf = drop.mean(dim=1)
            scores[name] = ((lerf - morf) / 2).double().numpy()
    return scores


def _probabilities(
    model: nn.Module, images: list[torch.Tensor], device: torch.device, chunk: int
) -> torch.Tensor:
    parts = [
        torch.softmax(model(torch.stack(images[i : i + chunk]).to(device)).float(), dim=1).cpu()
        for i in range(0, len(images), chunk)
    ]
    return torch.cat(parts)
