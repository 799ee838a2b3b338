from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score, f1_score
from typer.testing import CliRunner

from assurexray.cli import app

runner = CliRunner()


def test_gallery_writes_every_file(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path
) -> None:
    out = tmp_path / "gallery"
    result = runner.invoke(
        app,
        [
            "gallery",
            "--data",
            str(tiny_dataset),
            "--checkpoint",
            str(tiny_checkpoint),
            "--output",
            str(out),
            "--k",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    predictions = pd.read_csv(out / "predictions.csv")
    test_ids = pd.read_csv(tiny_dataset / "splits.csv").query("split == 'test'")["image_id"]
    assert sorted(predictions["image_id"]) == sorted(test_ids)
    probs = predictions[["p_Normal", "p_Benign", "p_Malignant"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] == accuracy_score(
        predictions["true_label"], predictions["predicted_label"]
    )
    assert metrics["macro_f1"] == f1_score(
        predictions["true_label"],
        predictions["predicted_label"],
        average="macro",
        labels=["Normal", "Benign", "Malignant"],
        zero_division=0,
    )
    assert np.array(metrics["confusion_matrix"]).sum() == len(predictions)
    assert (out / "confusion_matrix.png").is_file()
    heights = set()
    for name in ("Normal", "Benign", "Malignant"):
        image = cv2.imread(str(out / f"gallery_{name}.png"))
        assert image is not None and image.shape[1] > 3 * 360  # a label column and 2 cells
        heights.add(image.shape[0])
    assert len(heights) == 1  # three rows each, whatever the categories hold
    assert "accuracy" in result.output


def test_gallery_predictions_match_an_independent_forward(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path
) -> None:
    from assurexray.imaging import read_image
    from assurexray.model import load_checkpoint
    from assurexray.preprocess import preprocess_image

    out = tmp_path / "g"
    assert (
        runner.invoke(
            app,
            [
                "gallery",
                "--data",
                str(tiny_dataset),
                "--checkpoint",
                str(tiny_checkpoint),
                "-o",
                str(out),
            ],
        ).exit_code
        == 0
    )
    row = pd.read_csv(out / "predictions.csv").iloc[0]
    checkpoint = load_checkpoint(tiny_checkpoint)
    tensor, _ = preprocess_image(read_image(row["path"]).pixels, checkpoint.preprocess)
    with torch.inference_mode():
        probs = torch.softmax(checkpoint.model(torch.from_numpy(tensor)[None]), 1)[0].numpy()
    np.testing.assert_allclose(
        probs, row[["p_Normal", "p_Benign", "p_Malignant"]].to_numpy(float), atol=1e-5
    )


def test_gallery_bad_inputs(tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path) -> None:
    base = [
        "gallery",
        "--data",
        str(tiny_dataset),
        "--checkpoint",
        str(tiny_checkpoint),
        "-o",
        str(tmp_path),
    ]
    unknown = runner.invoke(app, [*base, "--split", "holdout"])
    assert unknown.exit_code == 2 and "unknown split 'holdout'" in unknown.output
    from assurexray.model import build_model, save_checkpoint
    from assurexray.preprocess import PreprocessConfig

    two = tmp_path / "two.pt"
    save_checkpoint(
        two,
        build_model("test_efficientnet", 2),
        arch="test_efficientnet",
        class_names=("Healthy", "Tumour"),
        preprocess=PreprocessConfig(image_size=64),
    )
    mismatch = runner.invoke(app, [*base[:3], "--checkpoint", str(two), "-o", str(tmp_path)])
    assert mismatch.exit_code == 2 and "does not know" in mismatch.output
    split = pd.read_csv(tiny_dataset / "splits.csv")
    split.loc[split["split"] == "test", "split"] = "train"
    empty = tmp_path / "nosplit"
    empty.mkdir()
    split.to_csv(empty / "splits.csv", index=False)
    no_test = runner.invoke(
        app,
        [
            "gallery",
            "--data",
            str(empty / "splits.csv"),
            "--checkpoint",
            str(tiny_checkpoint),
            "-o",
            str(tmp_path),
        ],
    )
    assert no_test.exit_code == 2 and "Traceback" not in no_test.output
