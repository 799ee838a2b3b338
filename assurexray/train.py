"""Training loop: class-weighted cross-entropy, augmentation, AdamW with a
cosine schedule, early stopping on validation macro-F1, best checkpoint kept.

Images are decoded and letterboxed once into a small in-memory cache (grey,
network size, float16); each epoch augments from that cache, so epochs cost
only the network's time.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import torch
from torch import nn

from assurexray.config import CLASS_NAMES
from assurexray.errors import CheckpointError, DatasetError
from assurexray.imaging import DEFAULT_MAX_PIXELS, read_image
from assurexray.jobs import Progress, Warn, load_records, no_warn, pick
from assurexray.metrics import classification_metrics
from assurexray.model import build_model, save_checkpoint
from assurexray.preprocess import PreprocessConfig, normalise, to_network_gray
from assurexray.report import check_output_file

if TYPE_CHECKING:
    from assurexray.config import Settings


@dataclass(frozen=True)
class TrainOptions:
    """Everything a training run needs; ``data`` and ``split_fractions`` are for :func:`run`."""

    output: Path
    class_names: tuple[str, ...] = CLASS_NAMES
    arch: str = "efficientnet_b0"
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    epochs: int = 30
    batch_size: int = 32
    lr: float = 0.002
    weight_decay: float = 1e-4
    patience: int = 10
    seed: int = 0
    device: str = "cpu"
    workers: int = 2
    pretrained: Path | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    data: Path | None = None
    split_fractions: tuple[float, ...] = (0.7, 0.15, 0.15)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        data: Path | None = None,
        output: Path | None = None,
        arch: str | None = None,
        image_size: int | None = None,
        resize_mode: str | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        pretrained: Path | None = None,
        device: str | None = None,
    ) -> TrainOptions:
        """Options from the config; arguments left at None keep its values."""
        from assurexray.model import resolve_device

        return cls(
            output=Path(pick(output, settings.train.output)),
            class_names=tuple(settings.class_names),
            arch=pick(arch, settings.model.arch),
            preprocess=PreprocessConfig(
                image_size=pick(image_size, settings.model.image_size),
                resize_mode=pick(resize_mode, settings.model.resize_mode),
                clahe=settings.model.clahe,
            ),
            epochs=pick(epochs, settings.train.epochs),
            batch_size=pick(batch_size, settings.train.batch_size),
            lr=pick(lr, settings.train.lr),
            weight_decay=settings.train.weight_decay,
            patience=settings.train.patience,
            seed=settings.seed,
            device=str(resolve_device(pick(device, settings.device))),
            workers=settings.train.workers,
            pretrained=pretrained,
            max_pixels=settings.max_pixels,
            data=Path(pick(data, settings.data)),
            split_fractions=tuple(settings.train.split_fractions),
        )


@dataclass(frozen=True)
class EpochResult:
    """What one epoch measured."""

    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    val_macro_f1: float
    seconds: float
    improved: bool


@dataclass
class TrainResult:
    """The outcome of :func:`train_model`."""

    checkpoint: Path
    best_epoch: int
    history: list[EpochResult]
    test_metrics: dict[str, Any] | None = None
    interrupted: bool = False
    stopped_early: bool = False
    not_pretrained: list[str] = field(default_factory=list)  # keys --pretrained did not fill


def load_pretrained_backbone(model: nn.Module, path: Path) -> list[str]:
    """Load user-supplied weights, skipping the classifier where shapes differ.

    Accepts the same files as :func:`assurexray.model.load_checkpoint` (a
    checkpoint, a bare or wrapped state dict, ``module.`` prefixes).

    Returns:
        Names of the model's keys that kept their fresh initialisation.
    """
    from assurexray.model import _read_checkpoint_file, _split_payload

    _, state = _split_payload(path, _read_checkpoint_file(path))
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise CheckpointError(f"{path}: no weight in the file fits {type(model).__name__}")
    model.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))


def _small_classifier_init(model: nn.Module) -> None:
    """Start the final linear layer near zero.

    timm's EfficientNet initialises it with a range of 1/sqrt(num_classes),
    which for three classes gives initial logits above ten and a diverging
    first epoch when training from scratch.
    """
    classifier = model.get_classifier() if hasattr(model, "get_classifier") else None
    if isinstance(classifier, nn.Linear):
        nn.init.normal_(classifier.weight, std=0.01)
        nn.init.zeros_(classifier.bias)


def cache_images(
    paths: Sequence[str | Path],
    config: PreprocessConfig,
    *,
    max_pixels: int,
    workers: int = 2,
    progress: Progress | None = None,
) -> np.ndarray:
    """Decode and letterbox every image once: an ``N×S×S`` float16 array."""

    def prepare(path: str | Path) -> np.ndarray:
        square, _ = to_network_gray(read_image(path, max_pixels=max_pixels).pixels, config)
        return square.astype(np.float16)

    cache = np.empty((len(paths), config.image_size, config.image_size), dtype=np.float16)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for i, square in enumerate(pool.map(prepare, paths)):
            cache[i] = square
            if progress:
                progress("prepare", i + 1, len(paths))
    return cache


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


def _to_batch(squares: Sequence[np.ndarray], config: PreprocessConfig) -> torch.Tensor:
    return torch.from_numpy(np.stack([normalise(s.astype(np.float32), config) for s in squares]))


def class_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights, ``N / (C · count)``; absent classes get weight 0."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (num_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def evaluate(
    model: nn.Module,
    cache: np.ndarray,
    labels: np.ndarray,
    config: PreprocessConfig,
    class_names: Sequence[str],
    *,
    batch_size: int,
    device: torch.device,
    loss_fn: nn.Module | None = None,
) -> dict[str, Any]:
    """Classification metrics (and mean loss) of ``model`` on cached images."""
    model.eval()
    probabilities, losses = [], []
    with torch.inference_mode():
        for start in range(0, len(cache), batch_size):
            batch = _to_batch(cache[start : start + batch_size], config).to(device)
            logits = model(batch)
            if loss_fn is not None:
                target = torch.from_numpy(labels[start : start + batch_size].copy()).to(device)
                losses.append(loss_fn(logits, target).item() * len(batch))
            probabilities.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    probs = np.concatenate(probabilities)
    result = classification_metrics(labels, probs.argmax(1), probs, list(class_names))
    result["loss"] = float(sum(losses) / len(cache)) if losses else float("nan")
    return result


def _label_indices(frame: Any, class_names: Sequence[str], split: str) -> np.ndarray:
    lookup = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(frame["label"]) - set(lookup))
    if unknown:
        raise DatasetError(f"{split} split has labels outside {list(class_names)}: {unknown}")
    return frame["label"].map(lookup).to_numpy(dtype=np.int64)


def class_coverage_warnings(
    labels: dict[str, np.ndarray], class_names: Sequence[str]
) -> list[str]:
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


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def train_model(
    index: Any,
    options: TrainOptions,
    *,
    on_epoch: Callable[[EpochResult], None] | None = None,
    progress: Progress | None = None,
    warn: Warn | None = None,
) -> TrainResult:
    """Train on the ``train`` split, select on ``val``, report on ``test``.

    Args:
        index: Data set index (pandas) with columns ``path``, ``label``, ``split``.
        options: Model, optimisation and output settings.
        on_epoch: Called after every epoch with what it measured.
        progress: Called as ``progress(stage, done, total)`` for image caching
            (``prepare``) and training steps (``train``).
        warn: Called with each warning about the data (one class only, a class
            missing from a split) before training starts; by default
            :func:`warnings.warn`.

    Returns:
        Where the best checkpoint is and the history. Ctrl-C stops training
        and returns with ``interrupted=True``; the best checkpoint so far stays.
    """
    splits = {name: index[index["split"] == name] for name in ("train", "val", "test")}
    for name in ("train", "val"):
        if splits[name].empty:
            raise DatasetError(f"the data set has no '{name}' images: make a split first")
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    device = torch.device(options.device)
    pre = options.preprocess
    labels = {n: _label_indices(f, options.class_names, n) for n, f in splits.items()}
    for message in class_coverage_warnings(labels, options.class_names):
        (warn or _warn)(message)
    caches = {
        n: cache_images(
            list(f["path"]),
            pre,
            max_pixels=options.max_pixels,
            workers=options.workers,
            progress=progress,
        )
        for n, f in splits.items()
        if not f.empty
    }
    model = build_model(options.arch, num_classes=len(options.class_names))
    _small_classifier_init(model)
    fresh = load_pretrained_backbone(model, options.pretrained) if options.pretrained else []
    model.to(device)
    weights = class_weights(labels["train"], len(options.class_names)).to(device)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    eval_loss = nn.CrossEntropyLoss(weight=weights, reduction="mean")
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )
    steps_per_epoch = math.ceil(len(caches["train"]) / options.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=options.lr,
        total_steps=options.epochs * steps_per_epoch,
        pct_start=0.15,
        anneal_strategy="cos",
    )
    history: list[EpochResult] = []
    best = (-1.0, math.inf)
    best_epoch = 0
    last_rise = 0  # last epoch that raised the best macro-F1 (a lower loss alone does not count)
    result = TrainResult(
        checkpoint=options.output, best_epoch=0, history=history, not_pretrained=fresh
    )
    try:
        for epoch in range(1, options.epochs + 1):
            started = time.perf_counter()
            train_loss = _train_epoch(
                model,
                caches["train"],
                labels["train"],
                options,
                rng,
                optimizer,
                scheduler,
                loss_fn,
                device,
                progress,
            )
            val = evaluate(
                model,
                caches["val"],
                labels["val"],
                pre,
                options.class_names,
                batch_size=options.batch_size,
                device=device,
                loss_fn=eval_loss,
            )
            score = (val["macro_f1"], val["loss"])
            rose = score[0] > best[0] + 1e-9
            improved = rose or (abs(score[0] - best[0]) <= 1e-9 and score[1] < best[1])
            last_rise = epoch if rose else last_rise
            entry = EpochResult(
                epoch,
                train_loss,
                val["loss"],
                val["accuracy"],
                val["macro_f1"],
                time.perf_counter() - started,
                improved,
            )
            history.append(entry)
            if improved:
                best, best_epoch = score, epoch
                _save(model, options, history, best_epoch)
            if on_epoch:
                on_epoch(entry)
            if epoch - last_rise >= options.patience:  # macro-F1 has reached a plateau
                result.stopped_early = True
                break
    except KeyboardInterrupt:
        result.interrupted = True
    result.best_epoch = best_epoch
    if best_epoch and not result.interrupted and "test" in caches:
        result.test_metrics = _test_best(
            options, caches["test"], labels["test"], device, history, best_epoch
        )
    return result


def _train_epoch(
    model, cache, labels, options, rng, optimizer, scheduler, loss_fn, device, progress
) -> float:
    """One pass over the training cache in a random order; returns the mean loss."""
    model.train()
    order = rng.permutation(len(cache))
    total, seen = 0.0, 0
    steps = math.ceil(len(order) / options.batch_size)
    for step in range(steps):
        chosen = order[step * options.batch_size : (step + 1) * options.batch_size]
        if len(chosen) < 2:  # BatchNorm cannot train on a single image
            continue
        batch = _to_batch(
            [augment(cache[i].astype(np.float32), rng) for i in chosen], options.preprocess
        )
        target = torch.from_numpy(labels[chosen]).to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(batch.to(device)), target)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=2.0)
        optimizer.step()
        scheduler.step()
        total += loss.item() * len(chosen)
        seen += len(chosen)
        if progress:
            progress("train", step + 1, steps)
    return total / max(seen, 1)


def _history_dicts(history: list[EpochResult]) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in vars(e).items()} for e in history]


def _save(
    model, options: TrainOptions, history, best_epoch: int, extra: dict | None = None
) -> None:
    best = history[best_epoch - 1]
    metrics = {
        "epoch": best_epoch,
        "val_accuracy": best.val_accuracy,
        "val_macro_f1": best.val_macro_f1,
        "val_loss": best.val_loss,
        "history": _history_dicts(history),
        **(extra or {}),
    }
    save_checkpoint(
        options.output,
        model,
        arch=options.arch,
        class_names=options.class_names,
        preprocess=options.preprocess,
        train_metrics=metrics,
    )


def _test_best(options, cache, labels, device, history, best_epoch) -> dict[str, Any]:
    """Evaluate the best checkpoint on the test split and record it in the file."""
    from assurexray.model import load_checkpoint

    best = load_checkpoint(options.output, device=device)
    metrics = evaluate(
        best.model,
        cache,
        labels,
        options.preprocess,
        options.class_names,
        batch_size=options.batch_size,
        device=device,
    )
    _save(
        best.model,
        options,
        history,
        best_epoch,
        {"test_accuracy": metrics["accuracy"], "test_macro_f1": metrics["macro_f1"]},
    )
    return metrics


def run(
    options: TrainOptions,
    *,
    progress: Progress | None = None,
    on_epoch: Callable[[EpochResult], None] | None = None,
    warn: Warn = no_warn,
) -> TrainResult:
    """The ``train`` job: index ``options.data`` (writing a split if it has none) and train.

    Raises:
        DatasetError: no data set, or a split without train or val images.
    """
    if options.data is None:
        raise DatasetError("no data set to train on: give --data")
    check_output_file(options.output)  # before the work, not after the last epoch
    index = load_records(
        options.data,
        create_split=True,
        fractions=options.split_fractions,
        seed=options.seed,
        warn=warn,
    )
    return train_model(index, options, on_epoch=on_epoch, progress=progress, warn=warn)
