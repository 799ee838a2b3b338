"""Checkpoints: the round trip, foreign layouts, and files the loader must refuse."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest
import torch

from assurexray.core.errors import CheckpointError
from assurexray.imaging.preprocess import PreprocessConfig
from assurexray.models.checkpoint import load_checkpoint, save_checkpoint
from assurexray.models.model import build_model

ARCH = "test_efficientnet"
NAMES = ("Normal", "Benign", "Malignant")


def _logits(model: torch.nn.Module, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    batch = torch.randn(2, 3, 64, 64, generator=generator)
    with torch.inference_mode():
        return model.eval()(batch)


def test_round_trip_gives_identical_logits(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = build_model(ARCH, num_classes=3)
    pre = PreprocessConfig(image_size=64, clahe=True)
    path = save_checkpoint(
        tmp_path / "c.pt",
        model,
        arch=ARCH,
        class_names=NAMES,
        preprocess=pre,
        train_metrics={"macro_f1": 0.5},
    )
    loaded = load_checkpoint(path)
    assert loaded.class_names == NAMES and loaded.preprocess == pre
    assert loaded.target_layer == "bn2" and loaded.train_metrics == {"macro_f1": 0.5}
    assert torch.equal(_logits(model), _logits(loaded.model))
    raw = torch.load(path, weights_only=True)
    assert raw["format_version"] == 2 and raw["num_classes"] == 3 and raw["created"]


@pytest.mark.parametrize("wrapper", [None, "model_state_dict", "model", "state_dict"])
def test_bare_and_wrapped_state_dicts_load_with_a_warning(
    tmp_path: Path, wrapper: str | None
) -> None:
    model = build_model(ARCH, num_classes=3)
    state = model.state_dict()
    payload = state if wrapper is None else {wrapper: state, "epoch": 3}
    torch.save(payload, tmp_path / "bare.pt")
    with pytest.warns(UserWarning) as caught:
        loaded = load_checkpoint(tmp_path / "bare.pt", arch=ARCH, class_names=NAMES)
    messages = " | ".join(str(w.message) for w in caught)
    for assumed in ("names no architecture", "names no classes", "preprocessing assumed"):
        assert assumed in messages
    assert loaded.arch == ARCH
    assert torch.equal(_logits(model), _logits(loaded.model))


def test_dataparallel_prefix_is_stripped(tmp_path: Path) -> None:
    model = build_model(ARCH, num_classes=3)
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, tmp_path / "dp.pt")
    with pytest.warns(UserWarning):
        loaded = load_checkpoint(tmp_path / "dp.pt", arch=ARCH, class_names=NAMES)
    assert torch.equal(_logits(model), _logits(loaded.model))


def test_missing_empty_and_folder(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nope.pt: checkpoint file not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.pt: checkpoint file is empty"):
        load_checkpoint(tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path)


def test_broken_and_looping_links_are_named(tmp_path: Path) -> None:
    (tmp_path / "dangling.pt").symlink_to(tmp_path / "gone.pt")
    with pytest.raises(CheckpointError, match=r"dangling.pt: checkpoint file is a broken symbolic"):
        load_checkpoint(tmp_path / "dangling.pt")
    (tmp_path / "a.pt").symlink_to(tmp_path / "b.pt")
    (tmp_path / "b.pt").symlink_to(tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match=r"a.pt: .*symbolic link \(Too many levels"):
        load_checkpoint(tmp_path / "a.pt")


def test_corrupt_and_foreign_files(tmp_path: Path, tiny_checkpoint: Path) -> None:
    (tmp_path / "text.pt").write_text("hello, not a checkpoint")
    with pytest.raises(CheckpointError, match="text.pt: .*not a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "text.pt")
    data = tiny_checkpoint.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt: corrupt"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="holds a list, expected a dict"):
        load_checkpoint(tmp_path / "list.pt")
    torch.save({"epoch": 3, "name": "x"}, tmp_path / "nostate.pt")
    with pytest.raises(CheckpointError, match="no state dict of tensors"):
        load_checkpoint(tmp_path / "nostate.pt")


class _Payload:
    """Unpickling this would run ``os.system``; the loader must refuse it."""

    def __reduce__(self):  # noqa: D105
        import os

        return (os.system, ("echo pwned",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol 5:UserWarning")
def test_pickle_with_arbitrary_object_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(
        {"state_dict": {}, "evil": _Payload()}, buffer, pickle_protocol=pickle.HIGHEST_PROTOCOL
    )
    (tmp_path / "evil.pt").write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError, match="evil.pt: refused to load"):
        load_checkpoint(tmp_path / "evil.pt")


def test_architecture_and_class_count_mismatch_name_the_keys(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    raw = torch.load(tiny_checkpoint, weights_only=True)
    raw["arch"] = "resnet18"
    torch.save(raw, tmp_path / "wrongarch.pt")
    with pytest.raises(
        CheckpointError, match=r"weights do not fit resnet18 \(from arch\): .*missing keys"
    ):
        load_checkpoint(tmp_path / "wrongarch.pt")
    raw = torch.load(tiny_checkpoint, weights_only=True)
    raw["class_names"] = ["a", "b"]
    raw["num_classes"] = 2
    torch.save(raw, tmp_path / "twoclass.pt")
    with pytest.raises(CheckpointError, match=r"classifier.weight \(3, 256\) vs \(2, 256\)"):
        load_checkpoint(tmp_path / "twoclass.pt")
