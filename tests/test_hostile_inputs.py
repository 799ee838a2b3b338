"""Hostile inputs through the real command line (issue 13).

Every case checks what a user sees and what is left on disk: the exit code,
one ``error:`` line naming the file and the problem, no traceback, the good
inputs of the same run written, nothing written outside ``--output`` and no
input changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from assurexray.cli.main import app
from assurexray.core.naming import check_class_names, distinct_slugs, printable, slug
from tests.conftest import copy_with_victim, write_gray_png

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# --- helpers ---------------------------------------------------------------


def invoke(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def snapshot(root: Path) -> dict[str, str]:
    """SHA-256 of every regular file under ``root``, by relative path."""
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def assert_clean(result, code: int) -> None:
    """The exit code, and no traceback anywhere."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )


def one_error(result, *words: str) -> str:
    """The single ``error:`` line on stderr; it holds every one of ``words``."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def assert_only_under(before: dict[str, str], after: dict[str, str], output: str) -> None:
    """Inputs unchanged, and every new or changed file inside ``output``."""
    for name, digest in before.items():
        assert after.get(name) == digest, f"input {name} was changed or removed"
    new = [n for n in after if n not in before]
    outside = [n for n in new if not (n == output or n.startswith(output + os.sep))]
    assert not outside, outside


def edited_checkpoint(source: Path, target: Path, **changes) -> Path:
    """Copy of a checkpoint with some top-level fields replaced."""
    raw = torch.load(source, weights_only=True)
    raw.update(changes)
    torch.save(raw, target)
    return target


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    """Two good grey PNGs in ``tmp_path/in``."""
    folder = tmp_path / "in"
    write_gray_png(folder / "good1.png", seed=1)
    write_gray_png(folder / "good2.png", seed=2)
    return folder


# --- 1. names from data never leave the output folder ------------------------


HOSTILE_NAMES = [
    "x/../../../../../tmp/ESCAPED",
    "..",
    ".",
    "",
    "/etc/passwd",
    "a\\b",
    "con:*?<>|",
    "new\nline",
    "\udcff\udcfe",  # undecodable bytes of a non-UTF-8 file name
    "é" * 300,
    "." * 300,
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_slug_is_one_component_inside_the_folder(tmp_path: Path, name: str) -> None:
    made = slug(name)
    assert made and "/" not in made and "\\" not in made and not made.startswith(".")
    assert made.isprintable() and len(made.encode("utf-8")) <= 150
    target = (tmp_path / f"gallery_{made}.png").resolve()
    assert target.parent == tmp_path.resolve()
    target.write_bytes(b"x")  # a legal file name on this system, whatever the input


def test_distinct_slugs_stay_distinct_and_avoid_reserved_names() -> None:
    made = distinct_slugs(["a:b", "a*b", "A_B", "batch_results"], reserved=["batch_results"])
    assert len({m.casefold() for m in made}) == 4 and "batch_results" not in made
    long_a, long_b = distinct_slugs(["x" * 300 + "a", "x" * 300 + "b"])
    assert long_a != long_b


def test_printable_shows_undecodable_bytes() -> None:
    assert printable("scan\udcff.png") == "scan\\xff.png"
    assert printable("ok.png") == "ok.png"
    printable("a\nb").encode("utf-8")  # never raises


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        ("Normal", "must be a list"),
        (["Normal"], "at least two"),
        (["Normal", "normal"], "repeat"),
        (["Normal", "x/../../tmp/ESCAPED"], "path separator"),
        (["Normal", " "], "is empty"),
        (["Normal", 3], "not text"),
        (["Normal", "tab\there"], "control character"),
        (["Normal", "n" * 65], "longer than 64"),
    ],
)
def test_class_name_rules(names, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_class_names(names, "where")


def test_checkpoint_class_name_with_path_escapes_is_refused(
    tmp_path: Path, tiny_checkpoint: Path, tiny_dataset: Path
) -> None:
    bad = edited_checkpoint(
        tiny_checkpoint,
        tmp_path / "escape.pt",
        class_names=["Normal", "Benign", "x/../../../../../tmp/ESCAPED"],
    )
    before = snapshot(tmp_path)
    result = invoke("gallery", "--data", tiny_dataset, "--checkpoint", bad, "-o", tmp_path / "g")
    assert_clean(result, 2)
    one_error(result, "escape.pt", "class_names", "path separator")
    assert not (tmp_path / "g").exists() and not Path("/tmp/ESCAPED.png").exists()
    assert_only_under(before, snapshot(tmp_path), "g")


def test_config_class_names_are_checked(tmp_path: Path, images: Path, tiny_checkpoint: Path):
    config = tmp_path / "bad.yaml"
    config.write_text("class_names: ['Normal', '../up', 'Malignant']\n")
    result = invoke("infer", images, "--checkpoint", tiny_checkpoint, "-c", config)
    assert_clean(result, 2)
    one_error(result, "bad.yaml", "class_names", "path separator")


# --- 3. a non-UTF-8 file name in a folder -----------------------------------


@pytest.mark.skipif(sys.platform != "linux", reason="needs a byte-oriented file system")
def test_non_utf8_file_name_in_a_folder(tmp_path: Path, images: Path, tiny_checkpoint: Path):
    odd = os.path.join(os.fsencode(images), b"scan\xff\xfe.png")
    with open(odd, "wb") as handle:
        handle.write((images / "good1.png").read_bytes())
    with open(os.path.join(os.fsencode(images), b"bad\xff.png"), "wb") as handle:
        handle.write(b"not an image")
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "assurexray", "infer", str(images), "--checkpoint",
         str(tiny_checkpoint), "-o", str(out), "--no-images"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    failed = [line for line in done.stderr.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and "bad\\xff.png" in failed[0], done.stderr
    batch = json.loads((out / "batch_results.json").read_text(encoding="utf-8"))
    assert batch["num_processed"] == 3 and batch["num_failed"] == 1
    shown = [r["image_path"] for r in batch["results"]]
    assert any(p.endswith("scan\\xff\\xfe.png") for p in shown)
    table = pd.read_csv(out / "predictions.csv")
    assert len(table) == 4 and table["image"].str.endswith("bad\\xff.png").sum() == 1
    assert sorted(p.name for p in out.glob("*.json")) == [
        "batch_results.json", "good1.json", "good2.json", "scan__.json",
    ]  # fmt: skip
    assert_only_under(before, snapshot(tmp_path), "out")


# --- 5. checkpoint fields of the wrong type; class names with rich markup ----


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("num_classes", "three", ("'num_classes'", "whole number")),
        ("train_metrics", "x", ("'train_metrics'", "mapping")),
        ("preprocess", "abc", ("'preprocess'", "mapping")),
        ("preprocess", {"image_size": "big"}, ("image_size", "whole number")),
        ("class_names", "Normal", ("class_names", "list")),
        ("arch", 5, ("'arch'", "text")),
        ("target_layer", ["bn2"], ("'target_layer'", "text")),
        ("format_version", 99, ("format 99", "newer")),
    ],
)
def test_checkpoint_fields_of_the_wrong_type(
    tmp_path: Path, images: Path, tiny_checkpoint: Path, field: str, value, words
) -> None:
    bad = edited_checkpoint(tiny_checkpoint, tmp_path / "typed.pt", **{field: value})
    before = snapshot(tmp_path)
    result = invoke("infer", images, "--checkpoint", bad, "-o", tmp_path / "out")
    assert_clean(result, 2)
    one_error(result, "typed.pt", *words)
    assert not (tmp_path / "out").exists()
    assert_only_under(before, snapshot(tmp_path), "out")


def test_class_names_with_rich_markup_are_printed_as_text(
    tmp_path: Path, images: Path, tiny_checkpoint: Path
) -> None:
    names = ["[oops]x", "[bold]Benign", "Malig[nant"]
    odd = edited_checkpoint(tiny_checkpoint, tmp_path / "markup.pt", class_names=names)
    single = invoke("infer", images / "good1.png", "--checkpoint", odd, "-o", tmp_path / "one")
    assert_clean(single, 0)
    for name in names:
        assert name in single.output
    many = invoke("infer", images, "--checkpoint", odd, "-o", tmp_path / "many")
    assert_clean(many, 0)
    assert "[oops]x" in many.output and "[bold]Benign" in many.output
    # A closing tag holds a "/", which no class name may: refused in one plain line.
    closing = edited_checkpoint(
        tiny_checkpoint, tmp_path / "closing.pt", class_names=["[/oops]", "Benign", "Malignant"]
    )
    refused = invoke("infer", images, "--checkpoint", closing, "-o", tmp_path / "none")
    assert_clean(refused, 2)
    one_error(refused, "closing.pt", "'[/oops]'", "path separator")
    record = json.loads((tmp_path / "one" / "good1.json").read_text())
    assert set(record["probabilities"]) == set(names)


# --- 6. a file named on the command line that cannot be read ----------------


def test_symlink_loop_named_directly_is_one_failed_file(
    tmp_path: Path, images: Path, tiny_checkpoint: Path
) -> None:
    loop_a, loop_b = tmp_path / "loop_a.png", tmp_path / "loop_b.png"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    out = tmp_path / "out"
    result = invoke(
        "infer", loop_a, images / "good1.png", images / "good2.png",
        "--checkpoint", tiny_checkpoint, "-o", out, "--no-images",
    )  # fmt: skip
    assert_clean(result, 1)
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and "loop_a.png" in failed[0] and "symbolic links" in failed[0]
    batch = json.loads((out / "batch_results.json").read_text())
    assert batch["num_processed"] == 2 and batch["num_failed"] == 1
    assert (out / "good1.json").is_file() and (out / "good2.json").is_file()
    # Moved into the folder, the link dangles: reported too, not skipped in silence.
    loop_a.rename(images / "loop_a.png")
    in_folder = invoke("infer", images, "--checkpoint", tiny_checkpoint, "-o", tmp_path / "o2",
                       "--no-images")  # fmt: skip
    assert_clean(in_folder, 1)
    assert "loop_a.png" in in_folder.stderr


@pytest.mark.skipif(IS_ROOT, reason="root reads files whatever their permissions")
def test_unreadable_file_named_directly_is_one_failed_file(
    tmp_path: Path, images: Path, tiny_checkpoint: Path
) -> None:
    locked = write_gray_png(tmp_path / "locked.png")
    locked.chmod(0)
    try:
        result = invoke(
            "infer", locked, images / "good1.png", "--checkpoint", tiny_checkpoint,
            "-o", tmp_path / "out", "--no-images",
        )  # fmt: skip
    finally:
        locked.chmod(0o644)
    assert_clean(result, 1)
    assert "locked.png" in result.stderr and (tmp_path / "out" / "good1.json").is_file()


def test_missing_file_named_directly_is_a_usage_error(
    tmp_path: Path, images: Path, tiny_checkpoint: Path
) -> None:
    result = invoke("infer", tmp_path / "typo.png", images, "--checkpoint", tiny_checkpoint,
                    "-o", tmp_path / "out")  # fmt: skip
    assert_clean(result, 2)
    one_error(result, "typo.png", "no such file")
    assert not (tmp_path / "out").exists()


# --- 7. never overwrite an input; never collide with the run's own files -----


def test_output_into_the_input_folder_overwrites_nothing(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    folder = tmp_path / "in"
    for n, stem in enumerate(["x", "x_heatmap", "x_overlay", "batch_results", "predictions"]):
        write_gray_png(folder / f"{stem}.png", seed=n)
    (folder / "notes.json").write_text('{"keep": true}')
    before = snapshot(tmp_path)
    result = invoke("infer", folder, "--checkpoint", tiny_checkpoint, "-o", folder)
    assert_clean(result, 0)
    after = snapshot(tmp_path)
    assert_only_under(before, after, "in")
    summary = json.loads((folder / "batch_results.json").read_text())
    assert summary["num_processed"] == 5
    records = [json.loads(Path(r["outputs"]["json"]).read_text()) for r in summary["results"]]
    assert sorted(Path(r["image_path"]).name for r in records) == sorted(
        f"{s}.png" for s in ["x", "x_heatmap", "x_overlay", "batch_results", "predictions"]
    )
    written = [Path(p) for r in summary["results"] for p in r["outputs"].values()]
    assert len(set(written)) == len(written) == 15  # overlay, heatmap, json for each


# --- 8. Ctrl-C during compare keeps the report of what was scored -----------


def test_interrupted_compare_writes_a_partial_report(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assurexray.localisation.compare as compare_module

    real = compare_module.score_image
    calls = {"n": 0}

    def stop_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(compare_module, "score_image", stop_on_third)
    out = tmp_path / "cmp"
    result = invoke("compare", "--data", tiny_dataset, "--split", "all", "--all",
                    "--checkpoint", tiny_checkpoint, "-o", out)  # fmt: skip
    assert_clean(result, 130)
    report = json.loads((out / "annotation_report.json").read_text())
    assert report["interrupted"] is True
    assert report["num_images"] == len(report["per_image"]) == 2
    assert "interrupted" in result.stderr


def test_interrupted_audit_keeps_whole_images_and_recommends_nothing(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assurexray.audit.scoring as scoring

    real = scoring.localisation_scores
    calls = {"n": 0}

    def stop_in_third_image(*args, **kwargs):  # one candidate + 3 baselines per image
        calls["n"] += 1
        if calls["n"] == 4 * 2 + 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(scoring, "localisation_scores", stop_in_third_image)
    out = tmp_path / "audit"
    result = invoke("audit", "--data", tiny_dataset, "--split", "all", "--all",
                    "--method", "gradcam", "--layer", "bn2",
                    "--checkpoint", tiny_checkpoint, "-o", out)  # fmt: skip
    assert_clean(result, 130)
    report = json.loads((out / "audit_report.json").read_text())
    assert report["interrupted"] is True and report["recommended"] is None
    assert report["num_images"] == len(report["per_image"]) == 2
    assert report["verdict"][0].startswith("Interrupted after 2 of ")
    assert report["num_checked"] == 0 and (out / "report.html").is_file()
    assert "interrupted" in result.stderr


# --- 9. output paths are checked before the work ---------------------------


def test_train_output_that_is_a_folder_fails_at_once(tmp_path: Path, tiny_dataset: Path) -> None:
    taken = tmp_path / "existing"
    taken.mkdir()
    result = invoke("train", "--data", tiny_dataset, "--arch", "test_efficientnet",
                    "--image-size", "64", "--epochs", "1", "-o", taken)  # fmt: skip
    assert_clean(result, 2)
    one_error(result, "existing", "folder")
    assert "epoch" not in result.output and list(taken.iterdir()) == []


def test_output_folder_that_cannot_be_made_fails_before_any_image(
    tmp_path: Path, images: Path, tiny_checkpoint: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    result = invoke("infer", images, "--checkpoint", tiny_checkpoint, "-o", blocker / "out")
    assert_clean(result, 2)
    one_error(result, "file")
    assert "Explaining" not in result.stderr


@pytest.mark.skipif(IS_ROOT, reason="root writes into read-only folders")
def test_read_only_output_folder_fails_before_any_image(
    tmp_path: Path, images: Path, tiny_checkpoint: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = invoke("infer", images, "--checkpoint", tiny_checkpoint, "-o", locked)
    finally:
        locked.chmod(0o700)
    assert_clean(result, 2)
    one_error(result, "locked", "cannot be created or written")


# --- 10. every setting is checked before any work; nothing is written -------


def test_unknown_colormap_in_config_writes_nothing(
    tmp_path: Path, images: Path, tiny_checkpoint: Path
) -> None:
    config = tmp_path / "cmap.yaml"
    config.write_text("explain:\n  colormap: rainbowz\n")
    result = invoke("infer", images, "--checkpoint", tiny_checkpoint, "-c", config,
                    "-o", tmp_path / "out")  # fmt: skip
    assert_clean(result, 2)
    one_error(result, "cmap.yaml", "explain.colormap", "rainbowz")
    assert not (tmp_path / "out").exists()


def test_unknown_method_writes_nothing(tmp_path: Path, images: Path, tiny_checkpoint: Path):
    result = invoke("infer", images, "--checkpoint", tiny_checkpoint, "--method", "magic",
                    "-o", tmp_path / "out")  # fmt: skip
    assert_clean(result, 2)
    one_error(result, "magic")
    assert not (tmp_path / "out").exists()


# --- 11. non-finite weights and outputs -------------------------------------


def test_nan_weights_are_refused_at_load(tmp_path: Path, images: Path, tiny_checkpoint: Path):
    raw = torch.load(tiny_checkpoint, weights_only=True)
    raw["state_dict"]["classifier.bias"][1] = float("nan")
    torch.save(raw, tmp_path / "nan.pt")
    result = invoke("infer", images, "--checkpoint", tmp_path / "nan.pt", "-o", tmp_path / "o")
    assert_clean(result, 2)
    one_error(result, "nan.pt", "NaN or infinite", "classifier.bias")
    assert not (tmp_path / "o").exists()


def test_non_finite_output_fails_each_image(tmp_path: Path, images: Path, tiny_checkpoint: Path):
    raw = torch.load(tiny_checkpoint, weights_only=True)
    state = raw["state_dict"]
    state["bn2.bias"] = torch.full_like(state["bn2.bias"], 1e30)
    state["classifier.weight"] = torch.full_like(state["classifier.weight"], 1e10)
    state["classifier.weight"][0] = -1e10
    torch.save(raw, tmp_path / "huge.pt")  # finite weights whose logits overflow to ±inf
    out = tmp_path / "out"
    result = invoke("infer", images, "--checkpoint", tmp_path / "huge.pt", "-o", out)
    assert_clean(result, 1)
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert len(failed) == 2 and all("not finite" in line for line in failed)
    batch = json.loads((out / "batch_results.json").read_text())
    assert batch["num_processed"] == 0 and batch["num_failed"] == 2
    assert not list(out.glob("*_overlay.png"))


# --- 12. empty tumour masks are left out of the scores ----------------------


def test_empty_tumour_mask_is_excluded_and_listed(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path
) -> None:
    data, victim = copy_with_victim(tiny_dataset, tmp_path)
    annotation = json.loads(victim.read_text())
    annotation["shapes"] = []
    victim.write_text(json.dumps(annotation))
    out = tmp_path / "cmp"
    result = invoke("compare", "--data", data, "--split", "all", "--all",
                    "--checkpoint", tiny_checkpoint, "-o", out)  # fmt: skip
    assert_clean(result, 0)
    report = json.loads((out / "annotation_report.json").read_text())
    assert victim.stem not in [e["image_id"] for e in report["per_image"]]
    assert [e["image_id"] for e in report["excluded"]] == [victim.stem]
    assert "empty" in report["excluded"][0]["reason"]
    fractions = [e["mask_fraction"] for e in report["per_image"]]
    assert min(fractions) > 0 and report["chance_level"] == pytest.approx(np.mean(fractions))
    assert victim.stem in result.stderr


# --- 14. training that cannot see every class warns -------------------------


def test_training_on_one_class_warns(tmp_path: Path, tiny_dataset: Path) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    split = pd.read_csv(data / "splits.csv")
    split.loc[(split["split"] == "train") & (split["label"] != "Normal"), "split"] = "test"
    split.loc[(split["split"] == "val") & (split["label"] == "Malignant"), "split"] = "test"
    split.to_csv(data / "splits.csv", index=False)
    result = invoke("train", "--data", data, "--arch", "test_efficientnet", "--image-size", "32",
                    "--epochs", "1", "--batch-size", "4", "-o", tmp_path / "one.pt")  # fmt: skip
    assert_clean(result, 0)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert any("single class (Normal)" in line for line in warnings), result.stderr
    assert any("Malignant has no val images" in line for line in warnings), result.stderr


# --- 15. misleading messages -------------------------------------------------


def test_random_bytes_are_called_corrupt_not_unsafe(
    tmp_path: Path, images: Path, tiny_checkpoint: Path
) -> None:
    noise = tmp_path / "noise.pt"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    result = invoke("infer", images, "--checkpoint", noise, "-o", tmp_path / "out")
    assert_clean(result, 2)
    line = one_error(result, "noise.pt", "corrupt or not a PyTorch checkpoint")
    assert "arbitrary code" not in line


def test_bare_state_dict_warning_names_the_values_used(
    tmp_path: Path, images: Path, tiny_checkpoint: Path
) -> None:
    raw = torch.load(tiny_checkpoint, weights_only=True)
    torch.save(raw["state_dict"], tmp_path / "bare.pt")
    config = tmp_path / "tiny.yaml"
    config.write_text("model:\n  arch: test_efficientnet\n  image_size: 64\n")
    result = invoke("infer", images, "--checkpoint", tmp_path / "bare.pt", "-c", config,
                    "-o", tmp_path / "out", "--no-images")  # fmt: skip
    assert_clean(result, 0)
    warned = [line for line in result.stderr.splitlines() if "preprocessing assumed" in line]
    assert len(warned) == 1 and "image size 64" in warned[0] and "from the settings" in warned[0]
    assert "the defaults" not in result.stderr


def test_very_long_file_name_is_processed(tmp_path: Path, tiny_checkpoint: Path) -> None:
    image = write_gray_png(tmp_path / "in" / ("n" * 240 + ".png"))
    out = tmp_path / "out"
    result = invoke("infer", image, "--checkpoint", tiny_checkpoint, "-o", out)
    assert_clean(result, 0)
    written = list(out.iterdir())
    per_image = [p for p in written if p.name not in ("batch_results.json", "predictions.csv")]
    assert len(per_image) == 3 and all(len(p.name.encode()) <= 255 for p in per_image)


def test_predictions_columns_do_not_depend_on_which_image_fails(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    folder = tmp_path / "in"
    (folder).mkdir()
    (folder / "a_broken.png").write_text("not an image")
    write_gray_png(folder / "b_good.png")
    first_bad = invoke("infer", folder, "--checkpoint", tiny_checkpoint, "-o", tmp_path / "o1",
                       "--no-images")  # fmt: skip
    assert_clean(first_bad, 1)
    (folder / "a_broken.png").unlink()
    (folder / "c_broken.png").write_text("not an image")
    last_bad = invoke("infer", folder, "--checkpoint", tiny_checkpoint, "-o", tmp_path / "o2",
                      "--no-images")  # fmt: skip
    assert_clean(last_bad, 1)
    one = pd.read_csv(tmp_path / "o1" / "predictions.csv")
    two = pd.read_csv(tmp_path / "o2" / "predictions.csv")
    assert list(one.columns) == list(two.columns)
    assert list(one.columns)[:3] == ["image", "predicted_class", "confidence"]


@pytest.mark.parametrize(
    "args",
    [
        ["infer", "x.png", "--alpha", "2"],
        ["infer", "x.png", "--batch-size", "0"],
        ["gallery", "--k", "9"],
        ["train", "--epochs", "zero"],
        ["infer", "x.png", "--no-such-option"],
    ],
)
def test_option_errors_are_one_red_line(args: list[str]) -> None:
    result = invoke(*args)
    assert_clean(result, 2)
    one_error(result, args[-2] if args[-1] != "--no-such-option" else args[-1])
    assert "╭" not in result.output and "Usage:" not in result.output


def test_readme_exit_codes_match_the_cli() -> None:
    from assurexray.cli import terminal as cli

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Exit codes and bad input")[1].split("\n## ")[0]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| ")]
    codes = {int(cells[1]) for cells in rows if cells[1].strip().isdigit()}
    assert codes == {0, cli.EXIT_PARTIAL, cli.EXIT_USAGE, cli.EXIT_INTERRUPTED}
    assert "**Bad input.**" in section
