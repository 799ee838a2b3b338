"""ROAD's noisy linear imputation, with its equation system built in one vectorised step.

pytorch-grad-cam's :class:`~pytorch_grad_cam.metrics.road.NoisyLinearImputer` (taken from
the ROAD authors' code) fills every removed pixel with the weighted mean of its eight
neighbours by solving one sparse linear system per image. It builds that system in a
``scipy.sparse.lil_matrix``, which costs more than solving it: on the demo's audit
(128 px, 1440 imputations) building took 72 s and solving 41 s. :class:`FastImputer`
builds the same matrix and right-hand side straight in COO form and solves it with the
same ``spsolve``, drawing the same noise in the same order, so its images equal the
library's (``tests/test_road_imputer.py`` checks the system and the filled images).
:class:`DeferredImputer` also solves many systems at once on all cores.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from pytorch_grad_cam.metrics.road import NoisyLinearImputer, neighbors_weights
from scipy.sparse import coo_matrix, csc_matrix
from scipy.sparse.linalg import spsolve


def sparse_system(mask: np.ndarray, image: np.ndarray) -> tuple[csc_matrix, np.ndarray]:
    """The system ``A x = b`` of the removed pixels (``mask == 0``) of a ``C x H x W`` image.

    Equal to ``NoisyLinearImputer.setup_sparse_system(mask, image, neighbors_weights)``:
    row ``i`` holds the weights of removed neighbours of removed pixel ``i`` and minus the
    weights of its in-frame neighbours on the diagonal; ``b`` holds minus the weighted
    values of its kept neighbours.
    """
    height, width = mask.shape
    flat = mask.reshape(-1)
    pixels = image.reshape(image.shape[0], -1)
    unknown = np.flatnonzero(flat == 0)
    count = len(unknown)
    variable = np.zeros(flat.size, dtype=np.int64)
    variable[unknown] = np.arange(count)
    row, col = unknown // width, unknown % width
    diagonal = np.ones(count)
    b = np.zeros((count, image.shape[0]))
    rows, cols, values = [np.arange(count)], [np.arange(count)], []
    for (dy, dx), weight in neighbors_weights:
        r, c = row + dy, col + dx
        inside = (r >= 0) & (c >= 0) & (r < height) & (c < width)
        diagonal[~inside] -= weight
        ids = np.flatnonzero(inside)
        coords = r[inside] * width + c[inside]
        kept = flat[coords] > 0.5
        b[ids[kept]] -= weight * pixels[:, coords[kept]].T
        removed = flat[coords] < 0.5
        rows.append(ids[removed])
        cols.append(variable[coords[removed]])
        values.append(np.full(int(removed.sum()), weight))
    values.insert(0, -diagonal)
    matrix = coo_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=(count, count),
    )
    return matrix.tocsc(), b


def _solve(img: torch.Tensor, mask: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
    """The removed pixels' indices and their noise-free values (``unknowns x C``)."""
    unknown = np.flatnonzero(mask.reshape(-1).numpy() == 0)
    if unknown.size == 0:  # nothing removed: nothing to solve
        return unknown, torch.zeros((0, img.shape[0]))
    matrix, b = sparse_system(mask.numpy(), img.numpy())
    solution = torch.tensor(spsolve(matrix, b), dtype=torch.float).reshape(len(unknown), -1)
    return unknown, solution


def _fill(img: torch.Tensor, solved: tuple[np.ndarray, torch.Tensor], noise: float) -> torch.Tensor:
    """``img`` with the solved pixels put in, plus noise drawn as the library draws it."""
    unknown, solution = solved
    filled = img.reshape(img.shape[0], -1).clone()
    filled[:, unknown] = solution.t() + noise * torch.randn_like(solution.t())
    return filled.reshape_as(img)


class FastImputer(NoisyLinearImputer):
    """pytorch-grad-cam's noisy linear imputer with :func:`sparse_system` (same images)."""

    def __call__(self, img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fill the pixels where ``mask == 0`` of the ``C x H x W`` image ``img``."""
        return _fill(img, _solve(img, mask), self.noise)


class DeferredImputer(FastImputer):
    """Collects the imputations asked of it, then does them all at once in threads.

    SuperLU releases the GIL, so the solves run in parallel; the noise is then drawn in
    the order the calls were made, so the images equal those of calling
    :class:`FastImputer` (and the library's imputer) one after another. ::

        imputer = DeferredImputer()
        placeholders = [RemoveMostRelevantFirst(p, imputer)(x, cam) for p in (20, 80)]
        images = imputer.run(workers=2)
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Record one imputation; returns ``img`` unchanged (a placeholder)."""
        self.calls.append((img, mask))
        return img

    def run(self, workers: int) -> list[torch.Tensor]:
        """The recorded imputations' images, in call order; forgets the calls."""
        calls, self.calls = self.calls, []
        with ThreadPoolExecutor(max(1, workers)) as pool:
            solved = list(pool.map(lambda call: _solve(*call), calls))
        return [_fill(img, one, self.noise) for (img, _), one in zip(calls, solved, strict=True)]
