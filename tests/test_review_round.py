"""Bugs found by a review of issues 20, 23 and 24, each pinned by a test.

Run through the real command line where a user met the bug, with the helpers of
``tests/test_hostile_inputs.py``: the exit code, one ``error:`` line naming the
file and the problem, no traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_hostile_inputs import assert_clean, invoke, one_error

TRAIN_TINY = ("--arch", "test_efficientnet", "--image-size", "32", "--epochs", "1",
              "--batch-size", "4")  # fmt: skip


@pytest.mark.parametrize("command", ["inspect", "convert"])
def test_inspect_and_convert_name_a_fifo_checkpoint_as_a_fifo(tmp_path: Path, command: str) -> None:
    """A FIFO has size 0: it was called 'empty', which sends the user looking for a
    truncated download instead of at the pipe."""
    pipe = tmp_path / "pipe.pt"
    os.mkfifo(pipe)
    extra = ("-o", tmp_path / "out.pt") if command == "convert" else ()
    result = invoke(command, pipe, *extra)
    assert_clean(result, 2)
    one_error(result, "pipe.pt", "named pipe (FIFO)")
    assert not (tmp_path / "out.pt").exists()


def test_convert_refuses_a_safetensors_output(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """A native checkpoint is a torch file: one named ``.safetensors`` was written,
    then every command read it as safetensors and called it corrupt."""
    target = tmp_path / "best.safetensors"
    result = invoke("convert", tiny_checkpoint, "-o", target)
    assert_clean(result, 2)
    one_error(result, "best.safetensors", ".pt")
    assert not target.exists()


def test_train_refuses_a_safetensors_output_before_training(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    """Training ran to the end, then failed reading its own checkpoint back."""
    target = tmp_path / "best.safetensors"
    result = invoke("train", "--data", tiny_dataset, "-o", target, *TRAIN_TINY)
    assert_clean(result, 2)
    one_error(result, "best.safetensors", ".pt")
    assert "epoch" not in result.stdout  # refused before any training
    assert not target.exists()


@pytest.mark.parametrize("command", ["convert", "train"])
def test_checkpoint_output_over_a_fifo_is_refused(
    tmp_path: Path, tiny_checkpoint: Path, tiny_dataset: Path, command: str
) -> None:
    """The atomic rename replaced the user's named pipe by a regular file."""
    pipe = tmp_path / "pipe.pt"
    os.mkfifo(pipe)
    if command == "convert":
        result = invoke("convert", tiny_checkpoint, "-o", pipe)
    else:
        result = invoke("train", "--data", tiny_dataset, "-o", pipe, *TRAIN_TINY)
    assert_clean(result, 2)
    one_error(result, "pipe.pt", "named pipe (FIFO)")
    assert pipe.is_fifo()


def test_convert_output_under_a_file_says_the_file_is_in_the_way(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    """``-o model.pt/copy.pt`` said only 'File exists'."""
    blocker = tmp_path / "model.pt"
    blocker.write_bytes(b"x")
    result = invoke("convert", tiny_checkpoint, "-o", blocker / "copy.pt")
    assert_clean(result, 2)
    one_error(result, "model.pt", "is a file, not an output folder")


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--std", "nan", ("--std", "finite")),
        ("--mean", "inf,0,0", ("--mean", "finite")),
        ("--std", "0,1,1", ("--std", "positive")),
    ],
)
def test_non_finite_or_zero_normalisation_is_a_usage_error_on_its_flag(
    tmp_path: Path, tiny_checkpoint: Path, flag: str, value: str, words: tuple[str, ...]
) -> None:
    """``--std nan`` was taken: every image then 'failed' with a non-finite model
    output, blaming the images; ``--std 0`` blamed the checkpoint file."""
    from tests.conftest import write_gray_png

    image = write_gray_png(tmp_path / "a.png")
    out = tmp_path / "out"
    result = invoke("infer", image, "--checkpoint", tiny_checkpoint, flag, value, "-o", out)
    assert_clean(result, 2)
    line = one_error(result, *words)
    assert str(tiny_checkpoint) not in line
    assert not out.exists()


def test_foreign_non_finite_mean_is_refused_naming_the_checkpoint(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    """A training script's ``hyper_parameters`` with a NaN mean loaded, and every
    image then failed with a non-finite model output."""
    import torch

    from assurexray.core.errors import CheckpointError
    from assurexray.models.checkpoint import load_checkpoint

    raw = torch.load(tiny_checkpoint, weights_only=True)
    hyper = {"arch": raw["arch"], "num_classes": 3, "mean": [float("nan")] * 3}
    path = tmp_path / "nan_mean.ckpt"
    torch.save({"state_dict": raw["state_dict"], "hyper_parameters": hyper}, path)
    with pytest.raises(CheckpointError, match=r"nan_mean\.ckpt.*finite"):
        load_checkpoint(path)


def test_unknown_method_is_not_blamed_on_the_recorded_target_layer(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    """The checkpoint records its layer, so an unknown --method read as
    '<file>: recorded target_layer 'bn2': unknown heatmap method'."""
    from tests.conftest import write_gray_png

    image = write_gray_png(tmp_path / "a.png")
    result = invoke("infer", image, "--checkpoint", tiny_checkpoint, "--method", "nope",
                    "-o", tmp_path / "out")  # fmt: skip
    assert_clean(result, 2)
    line = one_error(result, "unknown heatmap method 'nope'")
    assert "target_layer" not in line and str(tiny_checkpoint) not in line


def test_unknown_target_class_creates_no_output_folder(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    from tests.conftest import write_gray_png

    image = write_gray_png(tmp_path / "a.png")
    out = tmp_path / "out"
    result = invoke("infer", image, "--checkpoint", tiny_checkpoint, "--target-class", "Foo",
                    "-o", out)  # fmt: skip
    assert_clean(result, 2)
    one_error(result, "unknown class 'Foo'")
    assert not out.exists()


def test_file_sha256_lives_in_core_files_and_agrees_with_hashlib(tmp_path: Path) -> None:
    """Documented in core.files (docs/architecture.md) but defined in models.checkpoint."""
    import hashlib

    from assurexray.core.files import file_sha256

    data = os.urandom(3 << 20)  # several chunks
    (tmp_path / "blob").write_bytes(data)
    assert file_sha256(tmp_path / "blob") == hashlib.sha256(data).hexdigest()


def test_truncated_checkpoint_error_ends_at_a_sentence(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    """torch's long miniz message was cut mid-sentence: '... your checkpoint file is)'."""
    from assurexray.core.text import first_line

    long = "zip archive: failed finding central directory. This is an internal error. " * 4
    assert first_line(RuntimeError(long)) == long[: long.rfind(". ", 0, 200) + 1]
    data = tiny_checkpoint.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    result = invoke("inspect", tmp_path / "cut.pt")
    assert_clean(result, 2)
    line = one_error(result, "cut.pt", "corrupt or not a PyTorch checkpoint")
    assert line.endswith(".)"), line
