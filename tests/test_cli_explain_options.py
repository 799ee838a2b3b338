"""Heatmap options on the command line: rollout options, Captum methods, --explain-from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from assurexray.cli.main import app
from tests.conftest import write_gray_png

runner = CliRunner()


@pytest.fixture(scope="module")
def vit_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of timm's tiny test ViT (160 px, 16 px patches)."""
    import torch

    from assurexray.core.config import CLASS_NAMES
    from assurexray.imaging.preprocess import PreprocessConfig
    from assurexray.models.checkpoint import save_checkpoint
    from assurexray.models.model import build_model

    torch.manual_seed(0)
    model = build_model("test_vit", num_classes=len(CLASS_NAMES))
    path = tmp_path_factory.mktemp("vit") / "vit.pt"
    save_checkpoint(
        path,
        model,
        arch="test_vit",
        class_names=CLASS_NAMES,
        preprocess=PreprocessConfig(image_size=160),
    )
    return path


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def _infer_heatmap(tmp_path: Path, checkpoint: Path, *args: str) -> np.ndarray:
    image = write_gray_png(tmp_path / "x.png", 90, 70)
    out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
    result = runner.invoke(
        app,
        [
            "infer",
            str(image),
            "--checkpoint",
            str(checkpoint),
            "-o",
            str(out),
            "--save-raw",
            "--no-images",
            *args,
        ],
    )
    assert result.exit_code == 0, result.output
    return np.load(out / "x_heatmap.npy")


def test_rollout_options_on_the_command_line(tmp_path: Path, vit_checkpoint: Path) -> None:
    mean = _infer_heatmap(tmp_path, vit_checkpoint, "--method", "rollout")
    again = _infer_heatmap(
        tmp_path,
        vit_checkpoint,
        "--method",
        "rollout",
        "--head-fusion",
        "mean",
        "--discard-ratio",
        "0.9",
    )
    np.testing.assert_array_equal(mean, again)  # the default is mean at 0.9
    other = _infer_heatmap(
        tmp_path,
        vit_checkpoint,
        "--method",
        "rollout",
        "--head-fusion",
        "max",
        "--discard-ratio",
        "0.5",
    )
    assert mean.shape == other.shape == (90, 70) and not np.allclose(mean, other)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--head-fusion", "median"], "head fusion 'median' is not one of mean, max, min"),
        (["--discard-ratio", "1.5"], "discard_ratio must be in [0, 1), got 1.5"),
    ],
)
def test_bad_rollout_options_exit_2(
    tmp_path: Path, vit_checkpoint: Path, args: list[str], message: str
) -> None:
    image = write_gray_png(tmp_path / "x.png")
    result = runner.invoke(
        app,
        [
            "infer",
            str(image),
            "--checkpoint",
            str(vit_checkpoint),
            "--method",
            "rollout",
            "-o",
            str(tmp_path / "o"),
            *args,
        ],
    )
    assert message in _one_error_line(result)


def test_rollout_options_from_the_config(tmp_path: Path, vit_checkpoint: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "explain:\n  method: rollout\n  rollout:\n    head_fusion: max\n    discard_ratio: 0.5\n"
    )
    from_config = _infer_heatmap(tmp_path, vit_checkpoint, "--config", str(config))
    given = _infer_heatmap(
        tmp_path,
        vit_checkpoint,
        "--method",
        "rollout",
        "--head-fusion",
        "max",
        "--discard-ratio",
        "0.5",
    )
    np.testing.assert_array_equal(from_config, given)
