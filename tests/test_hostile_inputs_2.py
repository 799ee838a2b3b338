"""Hostile inputs through the real command line, continued (issue 23).

The same rules as ``tests/test_hostile_inputs.py``, whose helpers these tests
share: the exit code, one line naming the file and the problem, no traceback,
the good inputs of the same run written, nothing outside ``--output``, inputs
unchanged. Reading never blocks: the FIFO tests release any reader that opened
one, so a regression fails instead of hanging.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from tests.conftest import write_gray_png
from tests.test_hostile_inputs import (
    assert_clean,
    assert_only_under,
    edited_checkpoint,
    invoke,
    one_error,
    snapshot,
)

TRAIN_TINY = ("--arch", "test_efficientnet", "--image-size", "32", "--epochs", "1",
              "--batch-size", "4")  # fmt: skip
SQUARE = {"label": "tumor", "points": [[10, 10], [40, 10], [40, 50], [10, 50]]}


def failed_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("failed:")]


def write_labelme(path: Path, shapes: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"shapes": shapes, "imageHeight": 80, "imageWidth": 50}))
    return path


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    """Two good grey PNGs in ``tmp_path/in``."""
    for n in (1, 2):
        write_gray_png(tmp_path / "in" / f"good{n}.png", seed=n)
    return tmp_path / "in"


@pytest.fixture()
def benign_checkpoint(tmp_path: Path, tiny_checkpoint: Path) -> Path:
    """The tiny checkpoint with a head that always predicts Benign."""
    raw = torch.load(tiny_checkpoint, weights_only=True)
    state = raw["state_dict"]
    state["classifier.weight"] = torch.zeros_like(state["classifier.weight"])
    state["classifier.bias"] = torch.tensor([0.0, 10.0, 0.0])
    torch.save(raw, tmp_path / "benign.pt")
    return tmp_path / "benign.pt"


@pytest.fixture()
def annotated(tmp_path: Path) -> tuple[Path, Path]:
    """Five images ``a0 a1 b0 b1 b2`` and their outlines: ``a0.json`` is not JSON,
    ``a1.json`` has no shapes, the others hold one square."""
    images, outlines = tmp_path / "images", tmp_path / "ann"
    for n, stem in enumerate(["a0", "a1", "b0", "b1", "b2"]):
        write_gray_png(images / f"{stem}.png", seed=n)
        write_labelme(outlines / f"{stem}.json", [SQUARE])
    (outlines / "a0.json").write_text("{not json")
    write_labelme(outlines / "a1.json", [])
    return images, outlines


# --- 1. audit chooses its check images among those it scored ----------------


@pytest.mark.parametrize(("asked", "checked"), [(2, 2), (6, 3)])
def test_audit_checks_the_scored_images_when_the_first_ones_fail(
    tmp_path: Path, annotated: tuple[Path, Path], benign_checkpoint: Path, asked: int, checked: int
) -> None:
    images, outlines = annotated
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    result = invoke("audit", "--images", images, "--annotations", outlines, "--checkpoint",
                    benign_checkpoint, "--all", "--method", "gradcam", "--layer", "auto",
                    "--check-images", str(asked), "-o", out)  # fmt: skip
    assert_clean(result, 1)
    failed = failed_lines(result)
    assert len(failed) == 1 and "a0.json" in failed[0] and "invalid JSON" in failed[0]
    assert "a1" in result.stderr and "no shapes" in result.stderr  # left out, and said why
    report = json.loads((out / "audit_report.json").read_text())
    assert [row["image_id"] for row in report["per_image"]] == ["b0", "b1", "b2"]
    assert report["num_images"] == 3 and report["num_checked"] == checked
    assert f"checks on {checked}" in result.stdout
    assert all(e["sanity"] and e["sanity"]["passed"] is not None for e in report["candidates"])
    assert (out / "audit_methods.png").is_file() and (out / "audit.csv").is_file()
    assert_only_under(before, snapshot(tmp_path), "out")


# --- 4. audit says why no image could be scored ------------------------------


def test_audit_names_the_files_when_no_annotation_has_shapes(
    tmp_path: Path, annotated: tuple[Path, Path], benign_checkpoint: Path
) -> None:
    images, outlines = annotated
    for stem in ["a0", "b0", "b1", "b2"]:
        write_labelme(outlines / f"{stem}.json", [])
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    result = invoke("audit", "--images", images, "--annotations", outlines, "--checkpoint",
                    benign_checkpoint, "--all", "--method", "gradcam", "-o", out)  # fmt: skip
    assert_clean(result, 2)
    one_error(result, "no annotated image could be scored", "a0.json", "no shapes")
    for stem in ["a0", "a1", "b0", "b1", "b2"]:  # each file and its reason, above the error
        assert any(f"{stem}.json" in line and "no shapes" in line
                   for line in result.stderr.splitlines()), stem  # fmt: skip
    assert not list(out.iterdir()) if out.exists() else True
    assert_only_under(before, snapshot(tmp_path), "out")


# --- 5. a checkpoint without the tumour classes ------------------------------


@pytest.mark.parametrize("command", ["compare", "audit"])
def test_checkpoint_without_tumour_classes_is_a_usage_error(
    tmp_path: Path, annotated: tuple[Path, Path], tiny_checkpoint: Path, command: str
) -> None:
    images, outlines = annotated
    odd = edited_checkpoint(
        tiny_checkpoint, tmp_path / "odd.pt", class_names=["Normal", "Cyst", "Other"]
    )
    out = tmp_path / "out"
    result = invoke(command, "--images", images, "--annotations", outlines, "--checkpoint", odd,
                    "--all", "-o", out)  # fmt: skip
    assert_clean(result, 2)
    one_error(result, "odd.pt", "Normal, Cyst, Other", "Benign", "Malignant")
    assert not out.exists() or not list(out.iterdir())


# --- 6. train interrupted before the first checkpoint ------------------------


def test_train_interrupted_before_a_checkpoint_names_none(
    tmp_path: Path, tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assurexray.training.train as train_module

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "train_epoch", stop)
    target = tmp_path / "ckpt" / "best.pt"
    result = invoke("train", "--data", tiny_dataset, *TRAIN_TINY, "-o", target)
    assert_clean(result, 130)
    assert not target.exists()
    assert "best.pt" not in result.stdout and "best epoch" not in result.stdout
    assert "no checkpoint" in result.stdout + result.stderr


# --- 7. train: corrupt images are failed lines; a usage error writes nothing --


def _data_without_split(tiny_dataset: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    (data / "splits.csv").unlink()
    return data


def test_train_goes_past_corrupt_images(tmp_path: Path, tiny_dataset: Path) -> None:
    data = _data_without_split(tiny_dataset, tmp_path)
    spoiled = sorted((data / "images").iterdir())[:2]
    for path in spoiled:
        path.write_bytes(b"not an image at all")
    target = tmp_path / "best.pt"
    result = invoke("train", "--data", data, *TRAIN_TINY, "-o", target)
    assert_clean(result, 1)
    failed = failed_lines(result)
    assert len(failed) == 2, result.stderr
    for path in spoiled:
        assert sum(path.name in line for line in failed) == 1, failed
    assert target.is_file()
    assert (data / "splits.csv").is_file()  # train writes a split where there is none, by design
    assert torch.load(target, weights_only=True)["train_metrics"]["epoch"] == 1


def test_train_usage_error_writes_nothing_into_the_data_set(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    data = _data_without_split(tiny_dataset, tmp_path)
    before = snapshot(tmp_path)
    result = invoke("train", "--data", data, "--arch", "no_such_arch", "--epochs", "1",
                    "-o", tmp_path / "best.pt")  # fmt: skip
    assert_clean(result, 2)
    one_error(result, "no_such_arch")
    assert snapshot(tmp_path) == before and not (data / "splits.csv").exists()


# --- 9. gallery --split all ---------------------------------------------------


def test_gallery_split_all_says_it_is_not_a_gallery_split(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path
) -> None:
    result = invoke("gallery", "--data", tiny_dataset, "--split", "all", "--checkpoint",
                    tiny_checkpoint, "-o", tmp_path / "g")  # fmt: skip
    assert_clean(result, 2)
    line = one_error(result, "'all' is not a gallery split", "assurexray split")
    assert "no split assigned" not in line
    assert not (tmp_path / "g").exists()


# --- 2. nothing is written in the working folder -----------------------------


def test_no_command_writes_in_the_working_folder(
    tmp_path: Path,
    tiny_dataset: Path,
    tiny_checkpoint: Path,
    annotated: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    images, outlines = annotated
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    out = tmp_path / "out"
    ckpt = ("--checkpoint", tiny_checkpoint)
    runs = {
        "infer": ("infer", images, *ckpt, "-o", out / "infer"),
        "gallery": ("gallery", "--data", data, *ckpt, "--k", "1", "-o", out / "gallery"),
        "compare": ("compare", "--data", data, "--split", "all", "--all", *ckpt,
                    "-o", out / "compare"),
        "audit": ("audit", "--data", data, "--split", "all", "--all", "--method", "gradcam",
                  "--layer", "bn2", "--check-images", "2", *ckpt, "-o", out / "audit"),
        "train": ("train", "--data", data, *TRAIN_TINY, "-o", out / "train" / "best.pt"),
        # split writes into the data set by design (DATA/splits.csv), nowhere else
        "split": ("split", "--data", data),
    }  # fmt: skip
    for name, args in runs.items():
        result = invoke(*args)
        assert_clean(result, 0)
        assert list(work.iterdir()) == [], f"{name} wrote {list(work.iterdir())}"
    assert {p.name for p in out.iterdir()} == set(runs) - {"split"}


# --- 3. reading never blocks: FIFOs are refused before they are opened --------


@pytest.fixture()
def fifo() -> Iterator[Callable[[Path], Path]]:
    """Make FIFOs; a watcher releases any reader that opened one (it would block
    forever), and the test fails if one did."""
    made: list[Path] = []
    opened: list[Path] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.05):
            for path in list(made):
                try:  # succeeds only while a reader holds the FIFO open
                    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    continue
                os.close(fd)  # the reader sees end of file and goes on
                opened.append(path)

    def make(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        made.append(path)
        return path

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    yield make
    stop.set()
    watcher.join()
    assert not opened, f"a reader opened {sorted(set(map(str, opened)))}"


@pytest.mark.timeout(120)
def test_fifo_images_named_or_in_a_folder_are_failed_lines(
    tmp_path: Path, images: Path, tiny_checkpoint: Path, fifo
) -> None:
    named = fifo(tmp_path / "named.png")
    fifo(images / "bare.png")
    (images / "linked.png").symlink_to(fifo(tmp_path / "elsewhere" / "pipe.png"))
    out = tmp_path / "out"
    result = invoke("infer", named, images, "--checkpoint", tiny_checkpoint, "-o", out,
                    "--no-images")  # fmt: skip
    assert_clean(result, 1)
    failed = failed_lines(result)
    assert len(failed) == 3, result.stderr
    for name, line in zip(["named.png", "bare.png", "linked.png"], failed, strict=True):
        assert name in line and "named pipe (FIFO)" in line, line
    batch = json.loads((out / "batch_results.json").read_text())
    assert batch["num_processed"] == 2 and batch["num_failed"] == 3


@pytest.mark.timeout(120)
@pytest.mark.parametrize("which", ["config", "checkpoint", "table", "metadata", "labelme"])
def test_fifo_config_checkpoint_table_or_outline_is_refused(
    tmp_path: Path,
    tiny_checkpoint: Path,
    tiny_dataset: Path,
    annotated: tuple[Path, Path],
    benign_checkpoint: Path,
    fifo,
    which: str,
) -> None:
    images, outlines = annotated
    if which == "config":
        args = ("infer", images, "--checkpoint", tiny_checkpoint, "-c", fifo(tmp_path / "c.yaml"))
    elif which == "checkpoint":
        args = ("infer", images, "--checkpoint", fifo(tmp_path / "pipe.pt"))
    elif which == "table":
        args = ("gallery", "--data", fifo(tmp_path / "split.csv"), "--checkpoint", tiny_checkpoint)
    elif which == "metadata":  # a BTXRD folder whose only metadata table is a FIFO
        data = tmp_path / "data"
        shutil.copytree(tiny_dataset / "images", data / "images")
        fifo(data / "dataset.csv")
        args = ("gallery", "--data", data, "--checkpoint", tiny_checkpoint)
    else:
        (outlines / "b0.json").unlink()
        (outlines / "b0.json").symlink_to(fifo(tmp_path / "pipe.json"))
        args = ("compare", "--images", images, "--annotations", outlines, "--all",
                "--checkpoint", benign_checkpoint)  # fmt: skip
    out = tmp_path / "out"
    result = invoke(*args, "-o", out)
    if which == "labelme":  # one bad outline among good ones: the others are scored
        assert_clean(result, 1)
        assert any("b0.json" in line and "named pipe (FIFO)" in line
                   for line in failed_lines(result)), result.stderr  # fmt: skip
        report = json.loads((out / "annotation_report.json").read_text())
        assert {e["image_id"] for e in report["per_image"]} == {"b1", "b2"}
        return
    assert_clean(result, 2)
    named = {"config": "c.yaml", "checkpoint": "pipe.pt", "table": "split.csv",
             "metadata": "dataset.csv"}  # fmt: skip
    one_error(result, "named pipe (FIFO)", named[which])
    assert not out.exists() or not list(out.iterdir())
