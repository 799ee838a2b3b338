from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from assurexray.cli import app

runner = CliRunner()
TINY = ["--images", "24", "--epochs", "1", "--arch", "test_efficientnet", "--image-size", "64"]


def test_demo_end_to_end_then_reuses_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = runner.invoke(app, ["demo", *TINY])
    assert first.exit_code == 0, first.output
    out = tmp_path / "results" / "demo"
    expected = [
        "checkpoints/best.pt",
        "gallery/predictions.csv",
        "gallery/metrics.json",
        "gallery/confusion_matrix.png",
        "gallery/gallery_Normal.png",
        "gallery/gallery_Benign.png",
        "gallery/gallery_Malignant.png",
        "compare/annotation_report.json",
        "inference/batch_results.json",
        "inference/predictions.csv",
    ]
    for name in expected:
        assert (out / name).is_file(), name
    assert (tmp_path / "data" / "demo" / "dataset.xlsx").is_file()
    assert "test accuracy" in first.output and "hit rate" in first.output
    stamp = (out / "checkpoints" / "best.pt").stat().st_mtime_ns

    second = runner.invoke(app, ["demo", *TINY])
    assert second.exit_code == 0, second.output
    assert "reusing synthetic data set" in second.output and "reusing checkpoint" in second.output
    assert (out / "checkpoints" / "best.pt").stat().st_mtime_ns == stamp
