from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from assurexray.cli import app
from assurexray.datasets import load_dataset
from assurexray.model import build_model, load_checkpoint
from assurexray.preprocess import PreprocessConfig
from assurexray.train import (
    TrainOptions,
    augment,
    class_weights,
    load_pretrained_backbone,
    train_model,
)

runner = CliRunner()
TINY = dict(arch="test_efficientnet", preprocess=PreprocessConfig(image_size=64), batch_size=8)


def test_class_weights_are_inverse_frequency() -> None:
    weights = class_weights(np.array([0, 0, 0, 1]), 3)
    np.testing.assert_allclose(weights.numpy(), [4 / 9, 4 / 3, 0.0])


def test_augment_keeps_shape_and_range() -> None:
    rng = np.random.default_rng(0)
    square = rng.random((32, 32)).astype(np.float32)
    out = augment(square, rng)
    assert out.shape == (32, 32) and out.min() >= 0.0 and out.max() <= 1.0
    assert not np.allclose(out, square)


def test_two_epochs_give_a_loadable_checkpoint(tmp_path: Path, tiny_dataset: Path) -> None:
    seen = []
    result = train_model(
        load_dataset(tiny_dataset),
        TrainOptions(output=tmp_path / "best.pt", epochs=2, **TINY),
        on_epoch=seen.append,
    )
    assert [e.epoch for e in seen] == [1, 2] and result.best_epoch in (1, 2)
    checkpoint = load_checkpoint(result.checkpoint)
    assert checkpoint.arch == "test_efficientnet" and checkpoint.preprocess.image_size == 64
    metrics = checkpoint.train_metrics
    assert metrics["epoch"] == result.best_epoch and len(metrics["history"]) == 2
    assert 0.0 <= metrics["val_macro_f1"] <= 1.0
    assert metrics["test_accuracy"] == pytest.approx(result.test_metrics["accuracy"])


def test_interrupt_keeps_the_best_checkpoint(tmp_path: Path, tiny_dataset: Path) -> None:
    def stop_after_first(entry) -> None:
        if entry.epoch == 2:
            raise KeyboardInterrupt

    result = train_model(
        load_dataset(tiny_dataset),
        TrainOptions(output=tmp_path / "best.pt", epochs=5, **TINY),
        on_epoch=stop_after_first,
    )
    assert result.interrupted and len(result.history) == 2
    assert load_checkpoint(tmp_path / "best.pt").train_metrics["epoch"] in (1, 2)


def test_early_stopping_waits_for_a_better_macro_f1_not_a_lower_loss(
    tmp_path: Path, tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Validation macro-F1 rises in epoch 2 and then stays flat while the loss keeps falling.
    scores = iter([(0.5, 1.0), (0.6, 0.9), (0.6, 0.8), (0.6, 0.7), (0.6, 0.6), (0.6, 0.5)] * 2)

    def scripted(*args, **kwargs):
        f1, loss = next(scores)
        return {"accuracy": f1, "macro_f1": f1, "loss": loss}

    monkeypatch.setattr("assurexray.train.evaluate", scripted)
    result = train_model(
        load_dataset(tiny_dataset),
        TrainOptions(output=tmp_path / "best.pt", epochs=6, patience=2, **TINY),
    )
    assert result.stopped_early and len(result.history) == 4  # epoch 2 + patience
    assert result.best_epoch == 4  # a lower loss at the same macro-F1 still saves


def test_pretrained_backbone_skips_a_different_head(tmp_path: Path) -> None:
    source = build_model("test_efficientnet", num_classes=5)
    torch.save(source.state_dict(), tmp_path / "backbone.pt")
    target = build_model("test_efficientnet", num_classes=3)
    fresh = load_pretrained_backbone(target, tmp_path / "backbone.pt")
    assert fresh == ["classifier.bias", "classifier.weight"]
    assert torch.equal(target.conv_stem.weight, source.conv_stem.weight)


def test_train_command_writes_split_and_checkpoint(tmp_path: Path, tiny_dataset: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    (data / "splits.csv").unlink()
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(data),
            "--arch",
            "test_efficientnet",
            "--image-size",
            "64",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--output",
            str(tmp_path / "ckpt.pt"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (data / "splits.csv").is_file() and (tmp_path / "ckpt.pt").is_file()
    assert "Test split" in result.output and "epoch   1" in result.output


def test_train_command_bad_data_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "no such data set (pass --data" in result.output
    assert "Traceback" not in result.output


def test_split_command_writes_a_stratified_split(tmp_path: Path, tiny_dataset: Path) -> None:
    import pandas as pd

    target = tmp_path / "split.csv"
    result = runner.invoke(
        app, ["split", "--data", str(tiny_dataset), "--output", str(target), "--seed", "5"]
    )
    assert result.exit_code == 0, result.output
    split = pd.read_csv(target)
    assert list(split.columns) == ["image_id", "split", "label"]
    counts = split.groupby(["label", "split"]).size()
    for label in ("Normal", "Benign", "Malignant"):
        assert all(counts[(label, name)] >= 1 for name in ("train", "val", "test"))
    assert "train" in result.output
