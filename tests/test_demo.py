from __future__ import annotations

import json
from pathlib import Path

import cv2
import pandas as pd
import pytest
from typer.testing import CliRunner

from assurexray.cli.main import app
from assurexray.core.config import CLASS_NAMES

runner = CliRunner()
TINY = ["--images", "24", "--epochs", "1", "--arch", "test_efficientnet", "--image-size", "64"]


@pytest.mark.slow
def test_demo_end_to_end_then_reuses_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assurexray.data.datasets import load_dataset, select_split
    from assurexray.models.checkpoint import load_checkpoint

    monkeypatch.chdir(tmp_path)
    first = runner.invoke(app, ["demo", *TINY])
    assert first.exit_code == 0, first.output
    out = tmp_path / "results" / "demo"
    data = tmp_path / "data" / "demo"
    test = select_split(load_dataset(data), "test")
    assert len(load_dataset(data)) == 24 and (data / "dataset.xlsx").is_file()

    checkpoint = load_checkpoint(out / "checkpoints" / "best.pt")
    assert checkpoint.arch == "test_efficientnet" and checkpoint.class_names == CLASS_NAMES
    assert checkpoint.preprocess.image_size == 64 and checkpoint.train_metrics["epoch"] == 1
    assert not (out / "checkpoints" / "training.pt").exists()  # renamed once training completed

    predictions = pd.read_csv(out / "gallery" / "predictions.csv")
    assert sorted(predictions["image_id"]) == sorted(test["image_id"])
    metrics = json.loads((out / "gallery" / "metrics.json").read_text())
    accuracy = (predictions["true_label"] == predictions["predicted_label"]).mean()
    assert metrics["accuracy"] == pytest.approx(accuracy)
    assert f"{metrics['accuracy']:.0%}" in first.output  # the summary shows the same number
    for name in ("confusion_matrix", *(f"gallery_{c}" for c in CLASS_NAMES)):
        picture = cv2.imread(str(out / "gallery" / f"{name}.png"))
        assert picture is not None and min(picture.shape[:2]) > 100, name

    report = json.loads((out / "compare" / "annotation_report.json").read_text())
    assert report["num_images"] == len(report["per_image"])
    assert {e["class"] for e in report["per_image"]} <= {"Benign", "Malignant"}
    assert all(e["class"] == e["predicted_class"] for e in report["per_image"])  # true positives
    assert report["selection"] == "true positives, up to 20 per class"

    audit_file = out / "audit" / "audit_report.json"
    if report["num_images"]:  # the audit takes the same true positives as compare
        audit = json.loads(audit_file.read_text())
        assert audit["num_images"] == report["num_images"]
        methods = {c["method"] for c in audit["candidates"]}  # CAMs and two attributions
        assert methods == {"gradcam", "layercam", "eigencam", "integrated_gradients", "smoothgrad"}
        assert "Audit:" in first.output
        assert f"heatmap in gallery and compare: {audit['recommended'] or 'gradcam@bn2'}" in (
            first.output.replace("\n", " ")
        )
    else:
        assert not audit_file.exists() and "audit skipped" in first.output

    batch = json.loads((out / "inference" / "batch_results.json").read_text())
    assert batch["num_processed"] == 3 and batch["num_failed"] == 0  # one test image per class
    explained = [Path(r["image_path"]).stem for r in batch["results"]]
    assert sorted(test.set_index("image_id").loc[explained, "label"]) == sorted(CLASS_NAMES)
    assert len(pd.read_csv(out / "inference" / "predictions.csv")) == 3
    assert "test accuracy" in first.output and "hit rate" in first.output
    assert "gallery_Benign.png" in first.output  # the pictures to open
    index = (out / "report.html").read_text()  # the page linking each job's page
    assert first.output.rstrip().endswith("results/demo/report.html")  # printed at the end
    for job in ("gallery", "compare", "inference"):
        assert f'href="{job}/report.html"' in index and (out / job / "report.html").is_file()
    assert f"{metrics['accuracy']:.0%}" in index and "hit rate (pointing game)" in index
    stamp = (out / "checkpoints" / "best.pt").stat().st_mtime_ns
    audit_stamp = audit_file.stat().st_mtime_ns if audit_file.exists() else None

    second = runner.invoke(app, ["demo", *TINY])
    assert second.exit_code == 0, second.output
    assert "reusing synthetic data set" in second.output and "reusing checkpoint" in second.output
    assert (out / "checkpoints" / "best.pt").stat().st_mtime_ns == stamp
    assert json.loads((out / "gallery" / "metrics.json").read_text()) == metrics
    if audit_stamp is not None:  # same checkpoint, same settings: the audit is reused
        assert audit_file.stat().st_mtime_ns == audit_stamp and "Audit:" in second.output


@pytest.mark.slow
def test_demo_run_returns_every_step_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assurexray.core.config import load_settings
    from assurexray.demo import job as demo

    monkeypatch.chdir(tmp_path)
    options = demo.DemoOptions.from_settings(
        load_settings(None), images=24, epochs=1, arch="test_efficientnet", image_size=64
    )
    steps: list[tuple[str, bool]] = []
    result = demo.run(options, on_step=lambda name, done: steps.append((name, done is None)))
    audited = ["audit", "audit"] if result.audit is not None else ["audit"]  # skipped: no TP
    assert [name for name, _ in steps] == [
        "data", "train", "train", *audited, "gallery", "gallery", "compare", "compare",
        "shortcuts", "shortcuts", "infer", "infer",
    ]  # fmt: skip
    recommended = result.audit.report.get("recommended") if result.audit else None
    if recommended:  # gallery, compare and infer draw the audit's choice
        assert result.heatmap == recommended
        assert result.compare.report["method"] == recommended.split("@")[0]
    else:
        assert result.heatmap == "gradcam@bn2"  # the configured heatmap
    assert result.shortcuts is not None
    assert (options.output / "shortcuts" / "shortcuts_report.json").is_file()
    assert result.shortcuts.report["num_images"] == len(result.gallery.predictions)
    assert result.training is not None and result.checkpoint.is_file()
    assert result.gallery.files["metrics"] == options.gallery.output / "metrics.json"
    assert result.compare.report["num_images"] == len(result.compare.report["per_image"])
    assert len(result.infer.results) == 3
    assert all(path.is_file() for path in result.pictures) and len(result.pictures) >= 4
