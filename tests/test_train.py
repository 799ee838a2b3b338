from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from assurexray.cli.main import app
from assurexray.data.datasets import load_dataset
from assurexray.imaging.preprocess import PreprocessConfig
from assurexray.models.checkpoint import load_checkpoint
from assurexray.models.model import build_model
from assurexray.models.pretrained import initial_model, load_pretrained_backbone
from assurexray.training.train import TrainOptions, train_model
from assurexray.training.train_data import BatchLoader, augment
from assurexray.training.train_steps import class_weights

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

    monkeypatch.setattr("assurexray.training.train.evaluate", scripted)
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
    assert "training test_efficientnet at 64px" in result.output


def test_train_command_bad_data_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "no such data set (pass --data" in result.output
    assert "Traceback" not in result.output and "training " not in result.output


def test_train_command_bad_output_fails_before_announcing_training(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    result = runner.invoke(app, ["train", "--data", str(tiny_dataset), "--output", str(tmp_path)])
    assert result.exit_code == 2 and str(tmp_path) in result.output
    assert "training " not in result.output and len(result.output.strip().splitlines()) == 1


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


def test_batch_loader_epochs_do_not_depend_on_the_number_of_workers() -> None:
    rng = np.random.default_rng(1)
    cache = rng.random((11, 16, 16)).astype(np.float16)
    labels = np.arange(11) % 3
    config = PreprocessConfig(image_size=16)

    def epochs(workers: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        loader = BatchLoader(
            cache, labels, config, batch_size=4, workers=workers, rng=np.random.default_rng(7)
        )
        assert len(loader) == 3  # 4 + 4 + 3; a last batch of one image would be dropped
        return [batch for _ in range(2) for batch in loader]

    one, three = epochs(1), epochs(3)
    assert [len(t) for _, t in one] == [4, 4, 3] * 2
    for (images_a, targets_a), (images_b, targets_b) in zip(one, three, strict=True):
        assert images_a.shape[1:] == (3, 16, 16)
        assert torch.equal(images_a, images_b) and torch.equal(targets_a, targets_b)
    assert not torch.equal(one[0][0], one[3][0])  # a new order and new augmentations
    seen = torch.cat([t for _, t in one[:3]]).sort().values
    assert torch.equal(seen, torch.from_numpy(np.sort(labels)))  # every image once per epoch


# --- Pretrained weights, offline ---------------------------------------------------------------


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty, offline Hugging Face cache in tmp_path (nothing can be downloaded)."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads both variables when it is imported: set its copies too.
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def _imagenet_like_weights(seed: int = 3) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return build_model("test_efficientnet", num_classes=1000).state_dict()


def _put_in_hub_cache(cache: Path, repo: str, weights: dict[str, torch.Tensor]) -> None:
    """Lay out ``weights`` as huggingface_hub caches a download of ``repo``."""
    from safetensors.torch import save_file

    commit = "0" * 40
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in weights.items()}, snapshot / "model.safetensors")


@pytest.mark.parametrize("spec", ["imagenet", "r160_in1k"])
def test_pretrained_imagenet_comes_from_timm_and_the_hub_cache(hub_cache: Path, spec: str) -> None:
    weights = _imagenet_like_weights()
    _put_in_hub_cache(hub_cache, "timm/test_efficientnet.r160_in1k", weights)
    options = TrainOptions(output=hub_cache / "x.pt", pretrained=spec, **TINY)
    model, fresh = initial_model(options.arch, len(options.class_names), options.pretrained)
    assert torch.equal(model.conv_stem.weight, weights["conv_stem.weight"])
    assert torch.equal(model.bn2.running_mean, weights["bn2.running_mean"])
    assert model.classifier.out_features == 3 and fresh == ["classifier.bias", "classifier.weight"]
    assert model.gradcam_target_layer_name == "bn2"


def test_pretrained_missing_from_the_cache_is_one_line(hub_cache: Path) -> None:
    from assurexray.core.errors import CheckpointError

    options = TrainOptions(output=hub_cache / "x.pt", pretrained="imagenet", **TINY)
    with pytest.raises(CheckpointError) as info:
        initial_model(options.arch, len(options.class_names), options.pretrained)
    message = str(info.value)
    assert "\n" not in message and str(hub_cache) in message
    assert "test_efficientnet" in message and "--pretrained PATH" in message


def test_pretrained_unknown_tag_lists_the_known_ones(hub_cache: Path) -> None:
    from assurexray.core.errors import ConfigError

    options = TrainOptions(output=hub_cache / "x.pt", pretrained="in22k_nope", **TINY)
    with pytest.raises(ConfigError, match="'in22k_nope' is not a timm tag .* known: r160_in1k"):
        initial_model(options.arch, len(options.class_names), options.pretrained)


def test_pretrained_safetensors_file_is_read_by_timm(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    weights = _imagenet_like_weights(seed=4)
    save_file(weights, tmp_path / "weights.safetensors")
    file = tmp_path / "weights.safetensors"
    options = TrainOptions(output=tmp_path / "x.pt", pretrained=file, **TINY)
    model, fresh = initial_model(options.arch, len(options.class_names), options.pretrained)
    assert torch.equal(model.conv_stem.weight, weights["conv_stem.weight"])
    assert fresh == ["classifier.bias", "classifier.weight"]


def test_train_command_without_cached_weights_fails_before_any_work(
    tmp_path: Path, tiny_dataset: Path, hub_cache: Path
) -> None:
    out = tmp_path / "ckpt.pt"
    args = ["train", "--data", str(tiny_dataset), "--arch", "test_efficientnet"]
    result = runner.invoke(app, [*args, "--pretrained", "imagenet", "--output", str(out)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "could not be fetched" in result.output and not out.exists()
