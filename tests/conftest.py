"""Shared fixtures: tiny models, checkpoints and images made in tmp_path."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assurexray.core.config import CLASS_NAMES

os.environ.setdefault("OMP_NUM_THREADS", "2")

TINY_ARCH = "test_efficientnet"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of a tiny EfficientNet (same ``bn2`` head as B0) at 64 px."""
    import torch

    from assurexray.imaging.preprocess import PreprocessConfig
    from assurexray.models.checkpoint import save_checkpoint
    from assurexray.models.model import build_model

    torch.manual_seed(0)
    model = build_model(TINY_ARCH, num_classes=len(CLASS_NAMES))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(
        path,
        model,
        arch=TINY_ARCH,
        class_names=CLASS_NAMES,
        preprocess=PreprocessConfig(image_size=64),
    )
    return path


def write_gray_png(path: Path, height: int = 80, width: int = 50, seed: int = 0) -> Path:
    """Write a random 8-bit grey PNG and return its path."""
    import cv2

    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(height, width), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
    return path


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 36-image synthetic BTXRD-layout data set with a stratified split."""
    from assurexray.data.datasets import SPLIT_FILE, load_dataset, stratified_split, write_split
    from assurexray.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("data") / "synthetic"
    generate_dataset(root, num_images=36, seed=3, min_size=96, max_size=160)
    index = stratified_split(load_dataset(root), fractions=(0.5, 0.2, 0.3), seed=0)
    write_split(index, root / SPLIT_FILE)
    return root


def copy_with_victim(dataset: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of ``dataset`` in ``tmp_path`` and its first annotation file, to spoil."""
    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    return data, sorted((data / "Annotations").glob("*.json"))[0]


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads, and lose a lot on a shared machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
