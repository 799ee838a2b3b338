from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score, f1_score
from typer.testing import CliRunner

from assurexray.cli.main import app

runner = CliRunner()


def _gallery(data: Path, checkpoint: Path, out: Path, *extra: str) -> Any:
    """``gallery`` on ``data`` with ``checkpoint``, writing to ``out``."""
    args = ["gallery", "--data", data, "--checkpoint", checkpoint, "-o", out, *extra]
    return runner.invoke(app, [str(a) for a in args])


def test_gallery_writes_every_file(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path
) -> None:
    out = tmp_path / "gallery"
    result = _gallery(tiny_dataset, tiny_checkpoint, out, "--k", "2")
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
    from assurexray.imaging.preprocess import preprocess_image
    from assurexray.imaging.reading import read_image
    from assurexray.models.checkpoint import load_checkpoint

    out = tmp_path / "g"
    assert _gallery(tiny_dataset, tiny_checkpoint, out).exit_code == 0
    row = pd.read_csv(out / "predictions.csv").iloc[0]
    checkpoint = load_checkpoint(tiny_checkpoint)
    radiograph = read_image(row["path"])
    tensor, _ = preprocess_image(radiograph.data, checkpoint.preprocess, size=radiograph.size)
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
    from assurexray.imaging.preprocess import PreprocessConfig
    from assurexray.models.checkpoint import save_checkpoint
    from assurexray.models.model import build_model

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
    no_test = _gallery(empty / "splits.csv", tiny_checkpoint, tmp_path)
    assert no_test.exit_code == 2 and "Traceback" not in no_test.output


def test_fn_true_class_adds_a_row_of_true_class_heatmaps(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path, monkeypatch
) -> None:
    import assurexray.inference.gallery as gallery_module
    from assurexray.core.config import load_settings
    from assurexray.engine.model_opening import ModelOptions, open_model
    from assurexray.inference.gallery import CELL, GalleryOptions, run

    asked: list[tuple[str, int]] = []
    original = gallery_module.explain_paths

    def recording(paths, explainer, config, stream, *, targets=None, **kwargs):
        asked.extend(zip(map(str, paths), targets, strict=True))
        return original(paths, explainer, config, stream, targets=targets, **kwargs)

    monkeypatch.setattr(gallery_module, "explain_paths", recording)
    settings = load_settings(None)
    model = open_model(ModelOptions(tiny_checkpoint), "cpu")
    results, requests = [], []
    for flag in (False, True):
        asked.clear()
        options = GalleryOptions.from_settings(
            settings, data=tiny_dataset, k=2, output=tmp_path / str(flag), fn_true_class=flag
        )
        results.append(run(model, options))
        requests.append(set(asked))
    plain, with_fn = results
    names = list(model.class_names)
    misses = with_fn.predictions.query("true_label != predicted_label")
    assert not misses.empty  # a random tiny model misses some test images
    true_class = {
        (p, names.index(t)) for p, t in zip(misses["path"], misses["true_label"], strict=True)
    }
    assert not true_class & requests[0]  # without the flag: predicted classes only
    assert true_class & requests[1]  # with it: the true class of shown false negatives too
    assert requests[0] < requests[1]
    pd.testing.assert_frame_equal(plain.predictions, with_fn.predictions)
    for name in names:
        rows_plain = cv2.imread(str(plain.files[f"gallery_{name}"])).shape[0]
        rows_fn = cv2.imread(str(with_fn.files[f"gallery_{name}"])).shape[0]
        assert CELL[0] <= rows_fn - rows_plain < 2 * CELL[0]  # one more row of cells
