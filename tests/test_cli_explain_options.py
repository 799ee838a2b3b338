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


@pytest.mark.parametrize("method", ["integrated_gradients", "smoothgrad", "occlusion"])
def test_captum_methods_through_infer(tmp_path: Path, tiny_checkpoint: Path, method: str) -> None:
    heatmap = _infer_heatmap(tmp_path, tiny_checkpoint, "--method", method)
    assert heatmap.shape == (90, 70) and 0 <= heatmap.min() and heatmap.max() <= 1
    record = json.loads(next(tmp_path.glob("out*/x.json")).read_text())
    assert record["method"] == method


def test_captum_methods_through_gallery_and_compare(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path
) -> None:
    gallery = runner.invoke(
        app,
        [
            "gallery",
            "--data",
            str(tiny_dataset),
            "--checkpoint",
            str(tiny_checkpoint),
            "--method",
            "gradient_shap",
            "-o",
            str(tmp_path / "g"),
            "--k",
            "1",
        ],
    )
    assert gallery.exit_code == 0, gallery.output
    assert list((tmp_path / "g").glob("gallery_*.png"))
    compare = runner.invoke(
        app,
        [
            "compare",
            "--data",
            str(tiny_dataset),
            "--split",
            "all",
            "--all",
            "--checkpoint",
            str(tiny_checkpoint),
            "--method",
            "guided_gradcam",
            "-o",
            str(tmp_path / "c"),
        ],
    )
    assert compare.exit_code == 0, compare.output
    report = json.loads((tmp_path / "c" / "annotation_report.json").read_text())
    assert report["method"] == "guided_gradcam" and report["num_images"] > 0


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("lime", "unknown heatmap method 'lime'"),
        ("guided_gradcam", "guided_gradcam needs a convolutional feature map"),
    ],
)
def test_unknown_or_inapplicable_methods_exit_2(
    tmp_path: Path, vit_checkpoint: Path, method: str, message: str
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
            method,
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert message in _one_error_line(result)


def _report(path: Path, sha256: str, recommended: str | None) -> Path:
    candidates = [
        {"name": "hirescam@blocks.2", "method": "hirescam", "layers": ["blocks.2"]},
        {"name": "integrated_gradients", "method": "integrated_gradients", "layers": []},
    ]
    path.write_text(
        json.dumps(
            {"checkpoint": {"sha256": sha256}, "candidates": candidates, "recommended": recommended}
        )
    )
    return path


def test_explain_from_uses_the_recommended_candidate(tmp_path: Path, tiny_checkpoint: Path) -> None:
    from assurexray.core.files import file_sha256

    sha = file_sha256(tiny_checkpoint)
    report = _report(tmp_path / "audit_report.json", sha, "hirescam@blocks.2")
    chosen = _infer_heatmap(tmp_path, tiny_checkpoint, "--explain-from", str(report))
    record = json.loads(sorted(tmp_path.glob("out*/x.json"))[-1].read_text())
    assert record["method"] == "hirescam" and record["target_layers"] == ["blocks.2"]
    config = tmp_path / "c.yaml"
    config.write_text("explain:\n  method: hirescam\n  target_layer: blocks.2\n")
    by_hand = _infer_heatmap(tmp_path, tiny_checkpoint, "--config", str(config))
    np.testing.assert_array_equal(chosen, by_hand)
    captum = _report(tmp_path / "ig.json", sha, "integrated_gradients")
    _infer_heatmap(tmp_path, tiny_checkpoint, "--explain-from", str(captum))
    record = json.loads(sorted(tmp_path.glob("out*/x.json"))[-1].read_text())
    assert record["method"] == "integrated_gradients"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("other", "the audit was made for another checkpoint"),
        ("none", "the audit recommends no heatmap"),
        ("missing", "file not found"),
        ("garbage", "not a readable JSON file"),
        ("both", "--explain-from and --method both choose the heatmap"),
    ],
)
def test_explain_from_refusals_are_one_line(
    tmp_path: Path, tiny_checkpoint: Path, case: str, message: str
) -> None:
    from assurexray.core.files import file_sha256

    sha = file_sha256(tiny_checkpoint)
    report = tmp_path / "r.json"
    if case == "other":
        _report(report, "0" * 64, "hirescam@blocks.2")
    elif case in ("none", "both"):
        _report(report, sha, None if case == "none" else "hirescam@blocks.2")
    elif case == "garbage":
        report.write_text("{not json")
    extra = ["--method", "gradcam"] if case == "both" else []
    image = write_gray_png(tmp_path / "x.png")
    for command in (["infer", str(image)], ["gallery"], ["compare"]):
        result = runner.invoke(
            app,
            [
                *command,
                "--checkpoint",
                str(tiny_checkpoint),
                "--explain-from",
                str(report),
                "-o",
                str(tmp_path / "o"),
                *extra,
            ],
        )
        assert message in _one_error_line(result), command
