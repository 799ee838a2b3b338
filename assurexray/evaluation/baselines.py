"""Trivial heatmaps that ignore the model: a heatmap must beat them to mean anything.

* ``centre``: a centred Gaussian (σ a quarter of each side), the centre bias of
  lesions that radiographers put in the middle of the film;
* ``random``: uniform noise, seeded by the image's own pixels (the same image
  always gets the same noise, so the sanity check sees it unchanged), whose
  expected hit rate and relevance mass are the tumour's area fraction;
* ``edges``: the Sobel edge magnitude of the network input (scikit-image),
  which points at bone borders and markers whatever the model has learnt.

Each is drawn at the network input size, like the candidates, so it goes
through the same mapping back to the original frame and the same scores.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import numpy as np
import torch

BASELINES = ("centre", "random", "edges")


def centre_map(size: int) -> np.ndarray:
    """``size×size`` Gaussian centred in the frame, peak 1."""
    axis = (np.arange(size, dtype=np.float64) + 0.5) / size - 0.5
    sigma = 0.25
    gauss = np.exp(-(axis**2) / (2 * sigma**2))
    return np.outer(gauss, gauss).astype(np.float32)


def random_map(gray: np.ndarray, seed: int = 0) -> np.ndarray:
    """Uniform noise in [0, 1) of the image's shape, seeded by its pixels and ``seed``."""
    key = zlib.crc32(np.ascontiguousarray(gray, dtype=np.float32).tobytes())
    return np.random.default_rng([seed, key]).random(gray.shape, dtype=np.float32)


def edge_map(gray: np.ndarray) -> np.ndarray:
    """Sobel edge magnitude of a grey image, min–max scaled to [0, 1]."""
    from skimage.filters import sobel

    edges = sobel(np.asarray(gray, dtype=np.float64))
    low, high = edges.min(), edges.max()
    scaled = (edges - low) / (high - low) if high > low else np.zeros_like(edges)
    return scaled.astype(np.float32)


def network_gray(batch: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """The first channel of a normalised batch, back in [0, 1] pixel units (``N×S×S``)."""
    first = batch[:, 0].detach().float().cpu().numpy()
    return np.clip(first * float(std[0]) + float(mean[0]), 0.0, 1.0)


def baseline_maps(name: str, gray: np.ndarray, seed: int = 0) -> np.ndarray:
    """``N×S×S`` maps of baseline ``name`` for grey network inputs ``gray`` (``N×S×S``).

    Args:
        name: One of :data:`BASELINES`.
        gray: The network inputs in pixel units (see :func:`network_gray`).
        seed: Mixed into the random baseline's per-image seed.
    """
    size = gray.shape[-1]
    makers: dict[str, Callable[[int], np.ndarray]] = {
        "centre": lambda _n: centre_map(size),
        "random": lambda n: random_map(gray[n], seed),
        "edges": lambda n: edge_map(gray[n]),
    }
    if name not in makers:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    return np.stack([makers[name](n) for n in range(len(gray))])
