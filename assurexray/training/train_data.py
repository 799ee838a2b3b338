"""Training data: labels as class indices, the image cache, augmentation, and the batch loader.

Images are decoded once (JPEGs at reduced scale, never below the network
size) and letterboxed into an ``N×S×S`` float16 cache. Each epoch draws
shuffled batches of ``(index, seed)`` keys in the training thread, and
:class:`BatchLoader`'s threads augment them a few batches ahead of the model;
the seeds make an epoch the same whatever the number of workers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from assurexray.core.callbacks import Progress
from assurexray.core.errors import DatasetError, ImageReadError
from assurexray.imaging.preprocess import PreprocessConfig, decode_floor, normalise, to_network_gray
from assurexray.imaging.reading import read_image


def cache_images(
    paths: Sequence[str | Path],
    config: PreprocessConfig,
    *,
    max_pixels: int,
    workers: int = 2,
    progress: Progress | None = None,
) -> tuple[np.ndarray, list[int], list[str]]:
    """Decode and letterbox every image once.

    Returns:
        An ``N×S×S`` float16 array of the images that could be read, their
        positions in ``paths``, and one line per image that could not (the
        file and the problem).
    """

    floor = decode_floor(config)

    def prepare(path: str | Path) -> np.ndarray | str:
        try:
            radiograph = read_image(path, max_pixels=max_pixels, reduce_to=floor)
        except ImageReadError as exc:
            return str(exc)
        square, _ = to_network_gray(radiograph.data, config, size=radiograph.size)
        return square.astype(np.float16)

    cache = np.empty((len(paths), config.image_size, config.image_size), dtype=np.float16)
    kept: list[int] = []
    failures: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for i, square in enumerate(pool.map(prepare, paths)):
            if isinstance(square, str):
                failures.append(square)
            else:
                cache[len(kept)] = square
                kept.append(i)
            if progress:
                progress("prepare", i + 1, len(paths))
    return cache[: len(kept)], kept, failures


def augment(square: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random flips, a small affine warp, and brightness/contrast jitter."""
    if rng.random() < 0.5:
        square = square[:, ::-1]
    if rng.random() < 0.5:
        square = square[::-1, :]
    size = square.shape[0]
    matrix = cv2.getRotationMatrix2D(
        (size / 2, size / 2), rng.uniform(-10, 10), rng.uniform(0.9, 1.1)
    )
    matrix[:, 2] += rng.uniform(-0.05, 0.05, size=2) * size
    warped = cv2.warpAffine(np.ascontiguousarray(square, dtype=np.float32), matrix, (size, size))
    contrast, brightness = rng.uniform(0.8, 1.2), rng.uniform(-0.08, 0.08)
    return np.clip((warped - 0.5) * contrast + 0.5 + brightness, 0.0, 1.0)


def to_batch(squares: Sequence[np.ndarray], config: PreprocessConfig) -> torch.Tensor:
    return torch.from_numpy(np.stack([normalise(s.astype(np.float32), config) for s in squares]))


class BatchLoader:
    """Shuffled, augmented training batches, made by background threads a few ahead.

    Each epoch draws the order and one seed per image from ``rng`` here, in
    the training thread, so an epoch is the same whatever the number of
    workers. OpenCV and NumPy release the GIL while they work, so threads
    prepare the next batches while the model trains on this one; with
    ``workers=0`` batches are made in the training thread, between steps. (Worker
    processes were tried: a forked process that inherits OpenCV's thread pool
    can hang, and spawning one costs seconds per worker.) On CUDA the batches
    are put in pinned memory, so the copy to the GPU overlaps the compute.

    A last batch of a single image is dropped (BatchNorm cannot train on it).
    """

    def __init__(
        self,
        cache: np.ndarray,
        labels: np.ndarray,
        config: PreprocessConfig,
        *,
        batch_size: int,
        workers: int,
        rng: np.random.Generator,
        pin_memory: bool = False,
        prefetch: int = 4,
    ) -> None:
        self.cache, self.labels, self.config = cache, labels, config
        self.batch_size, self.workers, self.rng = batch_size, max(0, workers), rng
        self.pin_memory, self.prefetch = pin_memory, max(1, prefetch)

    def __len__(self) -> int:
        full, rest = divmod(len(self.cache), self.batch_size)
        return full + (rest >= 2)

    def epoch_keys(self) -> list[list[tuple[int, int]]]:
        """This epoch's batches of ``(index, seed)`` keys (advances ``rng``)."""
        order = self.rng.permutation(len(self.cache))
        seeds = self.rng.integers(0, 2**63 - 1, size=len(self.cache))
        batches = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        return [[(int(i), int(seeds[i])) for i in b] for b in batches if len(b) >= 2]

    def make_batch(self, keys: Sequence[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment and normalise the images of one batch: ``(B×C×S×S, B)`` tensors."""
        squares = [
            augment(self.cache[index].astype(np.float32), np.random.default_rng(seed))
            for index, seed in keys
        ]
        images = to_batch(squares, self.config)
        targets = torch.from_numpy(self.labels[[index for index, _ in keys]].copy())
        if self.pin_memory:
            images, targets = images.pin_memory(), targets.pin_memory()
        return images, targets

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.workers == 0:  # in the training thread, between steps
            yield from map(self.make_batch, self.epoch_keys())
            return
        keys = iter(self.epoch_keys())
        pending: deque[Future[tuple[torch.Tensor, torch.Tensor]]] = deque()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            pending.extend(pool.submit(self.make_batch, k) for k in islice(keys, self.prefetch))
            while pending:
                batch = pending.popleft().result()
                pending.extend(pool.submit(self.make_batch, k) for k in islice(keys, 1))
                yield batch


def label_indices(frame: Any, class_names: Sequence[str], split: str) -> np.ndarray:
    """Class index of each row's label; a label outside ``class_names`` is an error."""
    lookup = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(frame["label"]) - set(lookup))
    if unknown:
        raise DatasetError(f"{split} split has labels outside {list(class_names)}: {unknown}")
    return frame["label"].map(lookup).to_numpy(dtype=np.int64)


def class_coverage_warnings(labels: dict[str, np.ndarray], class_names: Sequence[str]) -> list[str]:
    """Warnings for classes that training or validation cannot see.

    Args:
        labels: Class indices per split name (``train``, ``val``, ...).
        class_names: All class names, in index order.
    """
    present = {split: set(np.unique(found).tolist()) for split, found in labels.items()}
    messages = []
    if len(present["train"]) < 2:
        only = ", ".join(class_names[i] for i in sorted(present["train"])) or "none"
        messages.append(
            f"the train split holds a single class ({only}): the model cannot learn to tell "
            "classes apart"
        )
    for split in ("train", "val"):
        missing = [n for i, n in enumerate(class_names) if i not in present.get(split, set())]
        if missing and not (split == "train" and len(present["train"]) < 2):
            effect = (
                "the model never sees them"
                if split == "train"
                else "the best epoch is chosen without them"
            )
            messages.append(
                f"class{'es' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"{'have' if len(missing) > 1 else 'has'} no {split} images: {effect}"
            )
    return messages
