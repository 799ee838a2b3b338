"""Training loop: class-weighted cross-entropy, augmentation, AdamW with a
cosine schedule, early stopping on validation macro-F1, best checkpoint kept.

Images are decoded (JPEGs at reduced scale, never below the network size) and
letterboxed once into a small in-memory cache (grey, network size, float16).
Each epoch augments from that cache in background threads that prepare the
next batches while the model trains, so the model does not wait for data. On
CUDA the same loop runs with mixed precision (float16 autocast and a gradient
scaler), ``channels_last`` memory layout and pinned host memory; on the CPU
it runs in float32.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from assurexray.core.callbacks import Progress, Warn, no_warn
from assurexray.core.errors import CheckpointError, DatasetError, refuse_special
from assurexray.data.datasets import SPLIT_FILE, stratified_split, write_split
from assurexray.engine.jobs import load_records
from assurexray.models.checkpoint import check_checkpoint_output, save_checkpoint
from assurexray.models.pretrained import initial_model
from assurexray.training.train_data import (
    BatchLoader,
    cache_images,
    class_coverage_warnings,
    label_indices,
)
from assurexray.training.train_options import OVERRIDES, TrainOptions
from assurexray.training.train_steps import Accelerator, class_weights, evaluate, train_epoch

__all__ = ["OVERRIDES", "EpochResult", "TrainOptions", "TrainResult", "run", "train_model"]


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
    failures: list[str] = field(default_factory=list)  # images that could not be read, left out


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def train_model(
    index: Any,
    options: TrainOptions,
    *,
    on_epoch: Callable[[EpochResult], None] | None = None,
    progress: Progress | None = None,
    warn: Warn | None = None,
    before_training: Callable[[], None] | None = None,
) -> TrainResult:
    """Train on the ``train`` split, select on ``val``, report on ``test``.

    An image that cannot be read is left out and listed in ``failures``; the
    others are trained on.

    Args:
        index: Data set index (pandas) with columns ``path``, ``label``, ``split``.
        options: Model, optimisation and output settings.
        on_epoch: Called after every epoch with what it measured.
        progress: Called as ``progress(stage, done, total)`` for image caching
            (``prepare``) and training steps (``train``).
        warn: Called with each warning about the data (one class only, a class
            missing from a split) before training starts; by default
            :func:`warnings.warn`.
        before_training: Called once every image has been read and the model
            made, before the first epoch: what it writes is not written when
            the run fails or is stopped before that.

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
    labels = {n: label_indices(f, options.class_names, n) for n, f in splits.items()}
    for message in class_coverage_warnings(labels, options.class_names):
        (warn or _warn)(message)
    if options.pretrained:
        refuse_special(Path(str(options.pretrained)), CheckpointError)
    model, fresh = initial_model(options.arch, len(options.class_names), options.pretrained)
    caches: dict[str, np.ndarray] = {}
    failures: list[str] = []
    for name, frame in splits.items():
        if frame.empty:
            continue
        caches[name], kept, unread = cache_images(
            list(frame["path"]),
            pre,
            max_pixels=options.max_pixels,
            workers=options.workers,
            progress=progress,
        )
        labels[name], failures = labels[name][kept], failures + unread
        if name in ("train", "val") and not kept:
            raise DatasetError(f"no '{name}' image could be read (first: {unread[0]})")
    if before_training is not None:
        before_training()
    accelerator = Accelerator(device)
    model.to(device)
    model.to(memory_format=accelerator.memory_format)
    loader = BatchLoader(
        caches["train"],
        labels["train"],
        pre,
        batch_size=options.batch_size,
        workers=options.workers,
        rng=rng,
        pin_memory=device.type == "cuda",
    )
    weights = class_weights(labels["train"], len(options.class_names)).to(device)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    eval_loss = nn.CrossEntropyLoss(weight=weights, reduction="mean")
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=options.lr,
        total_steps=options.epochs * max(1, len(loader)),
        pct_start=0.15,
        anneal_strategy="cos",
    )
    history: list[EpochResult] = []
    best = (-1.0, math.inf)
    best_epoch = 0
    last_rise = 0  # last epoch that raised the best macro-F1 (a lower loss alone does not count)
    result = TrainResult(options.output, 0, history, not_pretrained=fresh, failures=failures)
    try:
        for epoch in range(1, options.epochs + 1):
            started = time.perf_counter()
            train_loss = train_epoch(
                model, loader, optimizer, scheduler, loss_fn, accelerator, progress
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
    from assurexray.models.checkpoint import load_checkpoint

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
    on_start: Callable[[TrainOptions], None] | None = None,
    on_epoch: Callable[[EpochResult], None] | None = None,
    warn: Warn = no_warn,
) -> TrainResult:
    """The ``train`` job: index ``options.data`` and train.

    A data set without a split is split (stratified) and the split written to
    ``DATA/splits.csv``, but only once every image has been read and the model
    made: a run that fails before training writes nothing into the data set.
    ``on_start`` is called once the output and the data set have been checked.

    Raises:
        DatasetError: no data set, or a split without train or val images.
    """
    data = options.data
    if data is None:
        raise DatasetError("no data set to train on: give --data")
    check_checkpoint_output(options.output)  # before the work, not after the last epoch
    index = load_records(data)
    unsplit = bool(index["split"].isna().all())
    if unsplit:
        index = stratified_split(index, fractions=options.split_fractions, seed=options.seed)

    def write_new_split() -> None:
        if unsplit:
            target = (data if data.is_dir() else data.parent) / SPLIT_FILE
            write_split(index, target)
            warn(f"no split found: wrote a stratified split to {target}")

    if on_start is not None:
        on_start(options)
    return train_model(
        index,
        options,
        on_epoch=on_epoch,
        progress=progress,
        warn=warn,
        before_training=write_new_split,
    )
