"""Checkpoints written by other training code load safely and predict as trained.

Each layout of issue 24 is re-made here in ``tmp_path`` with a tiny timm model:
a real ``timm.utils.CheckpointSaver`` file, a script storing NumPy scalars, a
Lightning-style file (written without Lightning), and a BTXRD-style trainer
that wraps timm as ``self.model`` and resized with OpenCV's linear filter.
"""

from __future__ import annotations

import argparse
import json
import pathlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import timm
import torch
from timm.utils import CheckpointSaver
from typer.testing import CliRunner

from assurexray.cli.main import app
from assurexray.core.errors import CheckpointError
from assurexray.imaging.preprocess import PreprocessConfig, compute_geometry, resize_to_network
from assurexray.models.checkpoint import load_checkpoint
from assurexray.models.load_options import LoadOptions
from assurexray.models.safe_load import read_checkpoint_file

ARCH = "test_efficientnet"
NAMES = ("Normal", "Benign", "Malignant")
runner = CliRunner()


def _model(arch: str = ARCH, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return timm.create_model(arch, pretrained=False, num_classes=3).eval()


def _logits(model: torch.nn.Module, size: int = 64) -> torch.Tensor:
    batch = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        return model.eval()(batch)


def _quiet_load(path: Path, **options: object):
    with pytest.warns(UserWarning) as caught:
        loaded = load_checkpoint(path, options=LoadOptions(**options))  # type: ignore[arg-type]
    return loaded, " | ".join(str(w.message) for w in caught)


def _timm_saver_file(folder: Path, model: torch.nn.Module, ema: bool = False) -> Path:
    """What timm's train.py writes: ``args`` (a Namespace), optimizer state, ``metric``."""
    args = argparse.Namespace(
        model=ARCH, num_classes=3, img_size=64, mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25],
        interpolation="bilinear", output=pathlib.Path(folder), lr=0.1,
    )  # fmt: skip
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(1, 3, 64, 64)).sum().backward()
    optimizer.step()
    model_ema = None
    if ema:
        model_ema = timm.utils.ModelEmaV3(model, decay=0.5)
        with torch.no_grad():
            model_ema.module.classifier.weight.mul_(-1.0)  # EMA weights that predict otherwise
    saver = CheckpointSaver(
        model, optimizer, args=args, model_ema=model_ema, checkpoint_dir=str(folder)
    )
    saver.save_checkpoint(epoch=3, metric=0.8)
    return folder / "model_best.pth.tar"


def test_timm_checkpoint_saver_file_loads_with_facts_from_args(tmp_path: Path) -> None:
    model = _model()
    path = _timm_saver_file(tmp_path, model, ema=True)
    raw = read_checkpoint_file(path)
    assert isinstance(raw["args"], argparse.Namespace)  # let through the allow-list
    loaded, notes = _quiet_load(path)
    assert torch.equal(_logits(model.eval()), _logits(loaded.model))
    assert loaded.arch == ARCH and loaded.sources["arch"] == "arch"
    pre = loaded.preprocess
    assert (pre.image_size, pre.mean, pre.interpolation) == (64, (0.5,) * 3, "linear")
    assert loaded.sources["mean"] == "args.mean" and loaded.sources["image_size"] == "args.img_size"
    assert "state_dict_ema" in notes and "resize mode letterbox" in notes
    ema, _ = _quiet_load(path, weights_key="state_dict_ema")
    assert not torch.equal(_logits(ema.model), _logits(loaded.model))


def test_numpy_scalar_metrics_load(tmp_path: Path) -> None:
    model = _model()
    torch.save(
        {"model_state_dict": model.state_dict(), "best_acc": np.float64(0.8),
         "epoch": np.int64(5), "arch": ARCH, "classes": list(NAMES)},
        tmp_path / "np.pt",
    )  # fmt: skip
    loaded, _ = _quiet_load(tmp_path / "np.pt")
    assert loaded.train_metrics == {"best_acc": 0.8, "epoch": 5}
    assert loaded.sources["class_names"] == "classes"
    assert torch.equal(_logits(model), _logits(loaded.model))


def test_lightning_style_file_strips_the_prefix_and_names_extra_keys(tmp_path: Path) -> None:
    model = _model()
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    state["criterion.weight"] = torch.tensor([1.0, 2.0, 3.0])
    torch.save(
        {"state_dict": state, "pytorch-lightning_version": "2.2.0", "epoch": 3,
         "global_step": 120, "hyper_parameters": {"backbone": ARCH, "num_classes": 3, "lr": 1e-3},
         "optimizer_states": [{"state": {}, "param_groups": []}], "lr_schedulers": []},
        tmp_path / "last.ckpt",
    )  # fmt: skip
    loaded, notes = _quiet_load(tmp_path / "last.ckpt")
    assert torch.equal(_logits(model), _logits(loaded.model))
    assert loaded.sources["arch"] == "hyper_parameters.backbone"
    assert "prefix 'model.' removed" in loaded.sources["weights"]
    assert loaded.extra_keys == ("criterion.weight",) and "criterion.weight" in notes


class _Trainer(torch.nn.Module):
    """A BTXRD-style training module: timm inside as ``self.model``."""

    def __init__(self, backbone: str) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.model = timm.create_model(backbone, pretrained=False, num_classes=3)

    def settle(self) -> _Trainer:
        """Set the batch-norm statistics and a larger classifier, as training would:
        a fresh model's probabilities are all about 1/3 whatever the input."""
        for module in self.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.momentum = None  # a plain average over the batches below
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            self.train()
            for _ in range(3):
                self(torch.randn(8, 3, SIZE, SIZE, generator=generator))
            self.model.classifier.weight.normal_(0.0, 0.5, generator=generator)
        return self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


MEAN, STD, SIZE = [0.45, 0.45, 0.45], [0.22, 0.22, 0.22], 96


def _btxrd_file(path: Path, trainer: _Trainer) -> Path:
    optimizer = torch.optim.AdamW(trainer.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    torch.save(
        {"model_state_dict": trainer.state_dict(), "optimizer_state_dict": optimizer.state_dict(),
         "scheduler_state_dict": scheduler.state_dict(), "epoch": 7,
         "best_val_f1": np.float64(0.7),
         "config": {"model": {"backbone": "efficientnet_b0"}, "data": {"image_size": SIZE}},
         "normalization": {"mean": MEAN, "std": STD}, "class_names": list(NAMES)},
        path,
    )  # fmt: skip
    return path


def _original_pipeline(trainer: _Trainer, image_path: Path) -> np.ndarray:
    """The trainer's own inference: cv2 RGB read, linear resize (squash), normalise."""
    rgb = cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB)
    resized = cv2.resize(rgb, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR) / 255.0
    tensor = torch.from_numpy(((resized - MEAN) / STD).transpose(2, 0, 1)).float()[None]
    with torch.inference_mode():
        return torch.softmax(trainer.eval()(tensor), dim=1)[0].numpy()


@pytest.fixture(scope="module")
def btxrd(tmp_path_factory: pytest.TempPathFactory) -> tuple[_Trainer, Path, Path]:
    folder = tmp_path_factory.mktemp("btxrd")
    trainer = _Trainer("efficientnet_b0").settle()
    # Smooth shapes and a fine 2-pixel texture, which area and linear filters shrink differently.
    yy, xx = np.mgrid[0:600, 0:440]
    picture = 128 + 60 * np.sin(xx / 17.0) * np.cos(yy / 23.0) + 20 * (xx > 110)
    picture += 50 * ((xx // 2 + yy // 2) % 2)
    image = folder / "scan.png"
    cv2.imwrite(str(image), np.clip(picture, 0, 255).astype(np.uint8))
    return trainer, _btxrd_file(folder / "best_model.pth", trainer), image


def _probabilities(out: Path, image: Path, checkpoint: Path, *flags: str) -> np.ndarray:
    args = ["infer", str(image), "--checkpoint", str(checkpoint), "-o", str(out), "--no-images"]
    assert runner.invoke(app, [*args, *flags]).exit_code == 0
    record = json.loads((out / f"{image.stem}.json").read_text())
    return np.array([record["probabilities"][n] for n in NAMES])


def test_btxrd_trainer_file_predicts_as_its_own_pipeline(
    tmp_path: Path, btxrd: tuple[_Trainer, Path, Path]
) -> None:
    trainer, path, image = btxrd
    flags = ["--resize-mode", "stretch", "--interpolation", "linear"]
    result = runner.invoke(
        app, ["infer", str(image), "--checkpoint", str(path), "-o", str(tmp_path), "--no-images",
              *flags],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "preprocessing assumed" not in result.stderr
    record = json.loads((tmp_path / "scan.json").read_text())
    ours = np.array([record["probabilities"][n] for n in NAMES])
    expected = _original_pipeline(trainer, image)
    assert expected.max() - expected.min() > 0.5  # the model is not indifferent to its input
    assert np.abs(ours - expected).max() < 0.01, (ours, expected)
    # The filter and the resize matter: assurexray's own defaults predict otherwise.
    squashed = _probabilities(tmp_path / "area", image, path, "--resize-mode", "stretch")
    assert np.abs(squashed - expected).max() > np.abs(ours - expected).max()
    assumed = _probabilities(tmp_path / "default", image, path)
    assert np.abs(assumed - expected).max() > 0.1
    # Without the flags, the assumed letterbox and area filter are named in one warning.
    plain = runner.invoke(
        app, ["infer", str(image), "--checkpoint", str(path), "-o", str(tmp_path / "p"),
              "--no-images"],
    )  # fmt: skip
    assumed = [line for line in plain.stderr.splitlines() if "preprocessing assumed" in line]
    assert plain.exit_code == 0 and len(assumed) == 1
    assert "resize mode letterbox" in assumed[0] and "interpolation area" in assumed[0]


def test_inspect_and_convert_round_trip(
    tmp_path: Path, btxrd: tuple[_Trainer, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from assurexray.cli import terminal

    monkeypatch.setattr(terminal.console, "width", 200)  # table cells unwrapped
    trainer, path, _ = btxrd
    shown = runner.invoke(app, ["inspect", str(path)])
    assert shown.exit_code == 0, shown.output
    for words in ("config.model.backbone", "config.data.image_size", "normalization.mean",
                  "optimizer_state_dict", "sha256", "prefix 'model.' removed",
                  f"{sum(p.numel() for p in trainer.parameters()):,} parameters"):  # fmt: skip
        assert words in shown.output, words
    native = tmp_path / "best.pt"
    done = runner.invoke(
        app, ["convert", str(path), "-o", str(native), "--resize-mode", "stretch",
              "--interpolation", "linear"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a native file needs no assumption
        loaded = load_checkpoint(native)
    assert loaded.preprocess == PreprocessConfig(
        image_size=SIZE, resize_mode="stretch", interpolation="linear",
        mean=tuple(MEAN), std=tuple(STD),
    )  # fmt: skip
    assert loaded.arch == "efficientnet_b0" and loaded.class_names == NAMES
    assert torch.equal(_logits(trainer.model), _logits(loaded.model))
    origin = torch.load(native, weights_only=True)["origin"]
    assert origin["sources"]["interpolation"] == "--interpolation"
    assert origin["sources"]["image_size"] == "config.data.image_size"


@pytest.mark.slow  # builds ~100 timm models on the meta device once (10-25 s)
def test_bare_state_dict_finds_its_architecture_or_says_none_fits(tmp_path: Path) -> None:
    model = _model()
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    loaded, notes = _quiet_load(tmp_path / "bare.pt")  # settings' efficientnet_b0 does not fit
    assert loaded.arch == ARCH and "the weights fit test_efficientnet" in notes
    assert "searched" in loaded.sources["arch"]
    assert torch.equal(_logits(model), _logits(loaded.model))
    state = model.state_dict()
    state["conv_head.weight"] = torch.zeros(7, *state["conv_head.weight"].shape[1:])
    torch.save(state, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(tmp_path / "odd.pt")
    message = str(caught.value)
    assert "\n" not in message and "odd.pt" in message
    assert "assumed efficientnet_b0 (settings model.arch) does not fit" in message
    assert "no timm architecture fits" in message and "--arch" in message


def test_safetensors_names_the_assumed_architecture(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    model = _model()
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    loaded, notes = _quiet_load(tmp_path / "w.safetensors", fallback_arch=ARCH)
    assert "assumed test_efficientnet (settings model.arch)" in notes
    assert torch.equal(_logits(model), _logits(loaded.model))
    with pytest.raises(CheckpointError, match=r"w.safetensors: .*assumed resnet18 .*--arch"):
        load_checkpoint(
            tmp_path / "w.safetensors",
            options=LoadOptions(fallback_arch="resnet18", search_arch=False),
        )


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"state_dict": {"foo.bar.weight": torch.ones(2)}, "arch": ARCH},
         "no key of the weights matches a parameter of test_efficientnet under any prefix"),
        ({"state_dict": {"a.weight": torch.ones(2)}, "model_state_dict": {"b": torch.ones(3, 3)}},
         "two candidate state dicts of different shapes"),
    ],
)  # fmt: skip
def test_hostile_layouts_fail_in_one_line(tmp_path: Path, payload: dict, words: str) -> None:
    torch.save(payload, tmp_path / "bad.pt")
    result = runner.invoke(app, ["inspect", str(tmp_path / "bad.pt")])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and words in errors[0] and "bad.pt" in errors[0], result.stderr


def test_nan_weights_and_unknown_class_beside_allowed_ones_are_refused(tmp_path: Path) -> None:
    model = _model()
    state = {f"model.{k}": v.clone() for k, v in model.state_dict().items()}
    state["model.classifier.weight"][0, 0] = float("nan")
    torch.save({"state_dict": state, "hyper_parameters": {"backbone": ARCH}}, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match="nan.pt: weights hold NaN .*classifier.weight"):
        load_checkpoint(tmp_path / "nan.pt")
    torch.save({"state_dict": model.state_dict(), "args": argparse.Namespace(model=ARCH),
                "cfg": _Trainer.__new__(_Trainer)}, tmp_path / "cls.pt")  # fmt: skip
    with pytest.raises(CheckpointError, match=r"cls.pt: refused to load.*_Trainer"):
        load_checkpoint(tmp_path / "cls.pt")


def test_bad_recorded_target_layer_names_the_file(tmp_path: Path, tiny_checkpoint: Path) -> None:
    raw = torch.load(tiny_checkpoint, weights_only=True)
    raw["target_layer"] = "blocks.99"
    torch.save(raw, tmp_path / "layer.pt")
    with pytest.raises(
        CheckpointError, match=r"layer.pt: target_layer 'blocks.99' names no module"
    ):
        load_checkpoint(tmp_path / "layer.pt")


def test_windows_paths_in_args_load_as_pure_paths(tmp_path: Path) -> None:
    model = _model()
    torch.save(
        {"state_dict": model.state_dict(), "arch": ARCH, "out": pathlib.PureWindowsPath("C:/x")},
        tmp_path / "win.pt",
    )
    assert read_checkpoint_file(tmp_path / "win.pt")["out"] == pathlib.PureWindowsPath("C:/x")


@pytest.mark.parametrize(
    ("name", "flag"), [("linear", cv2.INTER_LINEAR), ("cubic", cv2.INTER_CUBIC)]
)
def test_interpolation_is_opencvs_filter(name: str, flag: int) -> None:
    image = np.random.default_rng(0).integers(0, 256, (150, 90), dtype=np.uint8)
    config = PreprocessConfig(image_size=40, resize_mode="stretch", interpolation=name)
    ours = resize_to_network(image, compute_geometry(image.shape, config), name)
    expected = cv2.resize(image, (40, 40), interpolation=flag).astype(np.float32) / 255
    assert np.array_equal(ours, expected)
    area = resize_to_network(image, compute_geometry(image.shape, config), "area")
    assert not np.array_equal(area, expected)
