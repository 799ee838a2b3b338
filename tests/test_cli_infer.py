from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from assurexray.cli.main import app
from tests.conftest import write_gray_png

runner = CliRunner()


def _infer(*args: str | Path) -> object:
    return runner.invoke(app, ["infer", *map(str, args)])


def test_single_image_writes_files_with_schema(tmp_path: Path, tiny_checkpoint: Path) -> None:
    image = write_gray_png(tmp_path / "scan.png", height=120, width=60)
    out = tmp_path / "out"
    result = _infer(image, "--checkpoint", tiny_checkpoint, "--output", out, "--save-raw")
    assert result.exit_code == 0, result.output
    assert "Malignant" in result.output and "probability" in result.output
    record = json.loads((out / "scan.json").read_text())
    assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert record["predicted_class"] == max(
        record["probabilities"], key=record["probabilities"].get
    )
    assert record["confidence"] == pytest.approx(record["probabilities"][record["predicted_class"]])
    assert record["image_size"] == {"height": 120, "width": 60}
    assert record["method"] == "gradcam" and record["target_layers"] == ["bn2"]
    assert record["explained_class"] == record["predicted_class"]
    assert len(record["checkpoint"]["sha256"]) == 64 and record["package_version"]
    import cv2

    overlay = cv2.imread(record["outputs"]["overlay"])
    heatmap_png = cv2.imread(record["outputs"]["heatmap"])
    assert heatmap_png.shape[:2] == (120, 60)
    assert overlay.shape[1] == 60 and overlay.shape[0] > 120  # caption band above the image
    raw = np.load(out / "scan_heatmap.npy")
    assert raw.shape == (120, 60) and raw.dtype == np.float32
    assert raw.min() >= 0.0 and raw.max() <= 1.0


def test_folder_with_bad_files_keeps_going(tmp_path: Path, tiny_checkpoint: Path) -> None:
    folder = tmp_path / "imgs"
    good = [write_gray_png(folder / f"good{i}.png", seed=i) for i in range(3)]
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.png").write_text("this is text, not an image")
    cut = good[0].read_bytes()
    (folder / "corrupt.png").write_bytes(cut[: len(cut) // 2])
    (folder / "readme.txt").write_text("skipped silently: not an image extension")
    out = tmp_path / "out"
    result = _infer(folder, "--checkpoint", tiny_checkpoint, "-o", out, "--batch-size", "2")
    assert result.exit_code == 1, result.output
    batch = json.loads((out / "batch_results.json").read_text())
    assert batch["num_processed"] == 3 and batch["num_failed"] == 3
    failed = {Path(e["image_path"]).name: e["error"] for e in batch["errors"]}
    assert set(failed) == {"empty.png", "notes.png", "corrupt.png"}
    assert "empty" in failed["empty.png"] and "corrupt" in failed["corrupt.png"]
    assert sum(batch["counts_per_class"].values()) == 3
    table = pd.read_csv(out / "predictions.csv")
    assert len(table) == 6 and table["error"].notna().sum() == 3
    for name in ("good0", "good1", "good2"):
        assert (out / f"{name}_overlay.png").is_file() and (out / f"{name}.json").is_file()
    assert "readme.txt" not in result.output


def test_same_stems_in_two_folders_do_not_overwrite(tmp_path: Path, tiny_checkpoint: Path) -> None:
    a = write_gray_png(tmp_path / "site_a" / "scan.png", seed=1)
    b = write_gray_png(tmp_path / "site_b" / "scan.png", seed=2)
    out = tmp_path / "out"
    result = _infer(
        tmp_path, "--recursive", "--checkpoint", tiny_checkpoint, "-o", out, "--no-images"
    )
    assert result.exit_code == 0, result.output
    paths = {json.loads(p.read_text())["image_path"] for p in out.glob("*scan.json")}
    assert paths == {str(a), str(b)}
    assert not list(out.glob("*.png"))


def test_target_class_by_name_and_index(tmp_path: Path, tiny_checkpoint: Path) -> None:
    image = write_gray_png(tmp_path / "x.png")
    for value, expected in (("benign", "Benign"), ("2", "Malignant")):
        out = tmp_path / value
        result = _infer(image, "--checkpoint", tiny_checkpoint, "-o", out, "--target-class", value)
        assert result.exit_code == 0, result.output
        assert json.loads((out / "x.json").read_text())["explained_class"] == expected


def test_dicom_input(tmp_path: Path, tiny_checkpoint: Path) -> None:
    from pydicom.data import get_testdata_file

    source = Path(get_testdata_file("CT_small.dcm"))
    target = tmp_path / "ct.dcm"
    target.write_bytes(source.read_bytes())
    result = _infer(target, "--checkpoint", tiny_checkpoint, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "ct.json").read_text())["image_size"]["height"] == 128


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no input images"),
        (["{missing}"], "no such file or folder"),
        (["{image}", "--checkpoint", "{nockpt}"], "checkpoint file not found"),
        (["{image}", "--checkpoint", "{ckpt}", "--method", "magic"], "unknown"),
        (["{image}", "--checkpoint", "{ckpt}", "--target-class", "Cyst"], "unknown class 'Cyst'"),
        (["{emptydir}", "--checkpoint", "{ckpt}"], "no image files found"),
        (
            ["{image}", "--checkpoint", "{ckpt}", "--config", "{badcfg}"],
            "unknown key 'infer.colour'",
        ),
        (["{image}", "--checkpoint", "{ckpt}", "--batch-size", "0"], ""),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, tiny_checkpoint: Path, args: list[str], message: str
) -> None:
    image = write_gray_png(tmp_path / "x.png")
    (tmp_path / "emptydir").mkdir()
    (tmp_path / "bad.yaml").write_text("infer:\n  colour: red\n")
    values = {
        "missing": tmp_path / "missing.png",
        "image": image,
        "nockpt": tmp_path / "no.pt",
        "ckpt": tiny_checkpoint,
        "emptydir": tmp_path / "emptydir",
        "badcfg": tmp_path / "bad.yaml",
    }
    result = _infer(*[a.format(**values) for a in args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    if message:
        assert message in result.output
        error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(error_lines) == 1


def test_too_large_image_fails_alone(tmp_path: Path, tiny_checkpoint: Path) -> None:
    folder = tmp_path / "imgs"
    write_gray_png(folder / "small.png", height=40, width=40)
    write_gray_png(folder / "large.png", height=200, width=200)
    (tmp_path / "limit.yaml").write_text("max_pixels: 10000\n")
    result = _infer(
        folder,
        "--checkpoint",
        tiny_checkpoint,
        "-o",
        tmp_path / "out",
        "--config",
        tmp_path / "limit.yaml",
    )
    assert result.exit_code == 1, result.output
    batch = json.loads((tmp_path / "out" / "batch_results.json").read_text())
    assert batch["num_processed"] == 1
    assert "too large" in batch["errors"][0]["error"] and "large.png" in batch["errors"][0]["error"]


def test_interrupted_run_exits_130_and_keeps_finished_images(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assurexray.explain.explainer import Explainer

    folder = tmp_path / "imgs"
    for i in range(3):
        write_gray_png(folder / f"scan{i}.png", seed=i)
    original = Explainer.explain
    calls = []

    def explain_then_ctrl_c(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Explainer, "explain", explain_then_ctrl_c)
    out = tmp_path / "out"
    result = _infer(folder, "--checkpoint", tiny_checkpoint, "-o", out, "--batch-size", "1")
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output and "Traceback" not in result.output
    batch = json.loads((out / "batch_results.json").read_text())
    assert batch["num_processed"] == 1 and batch["num_failed"] == 0
    assert Path(batch["results"][0]["image_path"]).name == "scan0.png"
    table = pd.read_csv(out / "predictions.csv")
    assert table["image"].map(lambda p: Path(p).name).tolist() == ["scan0.png"]
    assert (out / "scan0.json").is_file() and not (out / "scan1.json").exists()


def test_reading_notes_are_shown_once_per_run(tmp_path: Path, tiny_checkpoint: Path) -> None:
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):  # grey with alpha: composited, with a note
        Image.new("LA", (40, 30), (120, 128)).save(folder / name)
    result = _infer(folder, "--checkpoint", tiny_checkpoint, "-o", tmp_path / "out", "--no-images")
    assert result.exit_code == 0, result.output
    notes = json.loads((tmp_path / "out" / "a.json").read_text())["notes"]
    assert notes and result.output.count(notes[0]) == 1
    assert "2 images, e.g. a.png" in result.output
