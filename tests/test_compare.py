from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from assurexray.cli.main import app
from assurexray.localisation.annotated_images import choose_images
from assurexray.localisation.compare_report import build_report
from assurexray.localisation.image_choice import ImageChoice
from tests.conftest import copy_with_victim

runner = CliRunner()
PER_IMAGE_KEYS = {
    "image_id",
    "class",
    "predicted_class",
    "confidence",
    "iou",
    "otsu_iou",
    "hit",
    "relevance_mass",
    "mask_fraction",
}


def _compare(*args: str | Path) -> Any:
    return runner.invoke(app, ["compare", *map(str, args)])


def _compare_all_splits(data: Path, checkpoint: Path, *args: str | Path) -> Any:
    """``compare`` on every split of ``data``, with more options ``args``."""
    return _compare("--data", data, "--split", "all", "--checkpoint", checkpoint, *args)


def test_compare_all_writes_report_and_panels(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path
) -> None:
    out = tmp_path / "cmp"
    thresholds = ("--threshold", "0.3", "--threshold", "0.5")
    result = _compare_all_splits(tiny_dataset, tiny_checkpoint, "--all", *thresholds, "-o", out)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "annotation_report.json").read_text())
    index = pd.read_excel(tiny_dataset / "dataset.xlsx")
    tumours = int(index["tumor"].sum())
    assert report["num_images"] == tumours == len(report["per_image"])
    assert report["iou_threshold"] == 0.3  # the first threshold given is the headline one
    for entry in report["per_image"]:
        assert PER_IMAGE_KEYS <= set(entry)
        assert set(entry["iou"]) == {"0.3", "0.5"}
        assert 0.0 < entry["mask_fraction"] < 1.0
        assert entry["explained_class"] == entry["class"]
    for key in ("0.3", "0.5"):
        mean = np.mean([e["iou"][key] for e in report["per_image"]])
        assert report["mean_iou_by_threshold"][key] == pytest.approx(mean)
    assert report["mean_iou"] == report["mean_iou_by_threshold"]["0.3"]
    assert report["hit_rate"] == pytest.approx(np.mean([e["hit"] for e in report["per_image"]]))
    assert set(report["per_class"]) == {"Benign", "Malignant"}
    assert all(report["per_class"][c]["num_images"] > 0 for c in ("Benign", "Malignant"))
    assert "chance level" in report["summary"]
    assert (out / "annotation_comparison.png").is_file()
    assert "Benign" in result.output and "Malignant" in result.output


def test_default_selection_is_true_positives_and_reports_counts(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path
) -> None:
    out = tmp_path / "tp"
    result = _compare_all_splits(tiny_dataset, tiny_checkpoint, "--per-class", "2", "-o", out)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "annotation_report.json").read_text())
    for entry in report["per_image"]:
        assert entry["class"] == entry["predicted_class"]
    for row in report["per_class"].values():
        assert row["num_images"] <= 2 and row.get("used", 0) == row["num_images"]


def test_bad_annotation_is_skipped_and_reported(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path
) -> None:
    data, victim = copy_with_victim(tiny_dataset, tmp_path)
    victim.write_text("{not json")
    result = _compare_all_splits(data, tiny_checkpoint, "--all", "-o", tmp_path / "out")
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "out" / "annotation_report.json").read_text())
    assert [e["image_id"] for e in report["errors"]] == [victim.stem]
    assert victim.name in result.output and "Traceback" not in result.output


def test_images_folder_with_annotation_folder(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path
) -> None:
    result = _compare(
        "--images",
        tiny_dataset / "images",
        "--annotations",
        tiny_dataset / "Annotations",
        "--checkpoint",
        tiny_checkpoint,
        "--all",
        "-o",
        tmp_path / "out",
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "annotation_report.json").read_text())
    assert report["num_images"] > 0  # class = predicted class where no label is known
    for entry in report["per_image"]:
        assert entry["class"] == entry["predicted_class"] or entry["class"] in (
            "Benign",
            "Malignant",
        )


def test_missing_annotation_folder_is_a_usage_error(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path
) -> None:
    result = _compare(
        "--data", tiny_dataset, "--annotations", tmp_path / "nope", "--checkpoint", tiny_checkpoint
    )
    assert result.exit_code == 2 and "annotation folder not found" in result.output


def test_stratified_choice_keeps_both_classes() -> None:
    annotated = pd.DataFrame(
        {
            "image_id": [f"IMG{i:03d}" for i in range(12)],
            "path": [f"/x/IMG{i:03d}.png" for i in range(12)],
            "label": ["Malignant"] * 10 + ["Benign"] * 2,
            "annotation": ["a.json"] * 12,
        }
    )
    predictions = pd.DataFrame({"path": annotated["path"], "predicted_label": annotated["label"]})
    predictions.loc[11, "predicted_label"] = "Normal"  # one benign missed: not a true positive
    chosen, counts = choose_images(annotated, predictions, ImageChoice(per_class=3))
    assert sorted(chosen["label"].value_counts().items()) == [("Benign", 1), ("Malignant", 3)]
    assert counts == {
        "Benign": {"available": 1, "used": 1},
        "Malignant": {"available": 10, "used": 3},
    }


def test_report_means_skip_undefined_iou() -> None:
    entries = [
        {
            "image_id": "a",
            "class": "Benign",
            "iou": {"0.5": 0.5},
            "otsu_iou": 0.4,
            "hit": True,
            "relevance_mass": 0.3,
            "mask_fraction": 0.1,
        },
        {
            "image_id": "b",
            "class": "Benign",
            "iou": {"0.5": float("nan")},
            "otsu_iou": 0.2,
            "hit": False,
            "relevance_mass": 0.1,
            "mask_fraction": 0.3,
        },
    ]
    report = build_report(
        entries,
        {"Benign": {"available": 2, "used": 2}},
        ImageChoice(),
        names=("Normal", "Benign", "Malignant"),
        failures=[],
        method="gradcam",
    )
    assert report["mean_iou"] == 0.5
    assert report["hit_rate"] == 0.5 and report["mean_relevance_mass"] == pytest.approx(0.2)
    assert report["chance_level"] == pytest.approx(0.2)
    assert report["per_class"]["Malignant"]["num_images"] == 0
    assert report["per_class"]["Malignant"]["iou"]["0.5"] is None
    assert "50% of images" in report["summary"] and "chance level of 20%" in report["summary"]


def test_long_lists_are_split_into_pages(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path
) -> None:
    (tmp_path / "pages.yaml").write_text("compare:\n  rows_per_page: 2\n")
    config = ("--config", tmp_path / "pages.yaml")
    result = _compare_all_splits(
        tiny_dataset, tiny_checkpoint, "--all", "-o", tmp_path / "out", *config
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "annotation_report.json").read_text())
    pages = sorted((tmp_path / "out").glob("annotation_comparison*.png"))
    assert len(pages) == -(-report["num_images"] // 2)
    names = {p.name for p in pages}
    assert {"annotation_comparison.png", "annotation_comparison_2.png"} <= names
    assert f"annotation_comparison_{len(pages)}.png" in names
