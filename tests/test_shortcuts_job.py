"""The ``shortcuts`` job against the truth: it must find a planted shortcut and clear a model
that has none, each measured by rendering every film with and without its marker."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from assurexray.core.errors import ConfigError
from assurexray.engine.model_opening import ModelOptions, open_model
from assurexray.shortcuts.job import ShortcutsOptions, run
from tests.shortcut_films import film, labelme, predict, tensors, train, write_data_set

N_TEST = 30
FAST = {"null_draws": 40, "probe_permutations": 40, "examples": 2, "probe_folds": 3}


def _options(tmp: Path, **given) -> ShortcutsOptions:
    return replace(ShortcutsOptions(output=tmp / "out", split="all"), **{**FAST, **given})


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """(a) the marker is the only sign of Benign in training; (b) the limb's width is, and
    markers are random. Both fit in seconds (see ``shortcut_films.train``)."""
    folder = tmp_path_factory.mktemp("models")
    marks = np.random.default_rng(5).integers(0, 2, 120).astype(bool)
    shortcut = [film(s, marker=bool(s % 2)) for s in range(120)]
    square = [film(s, marker=bool(s % 2), stamp="square") for s in range(120)]
    anatomy = [film(s, marker=bool(m), wide=bool(s % 2)) for s, m in enumerate(marks)]
    labels = [s % 2 for s in range(120)]
    return {
        "shortcut": train(shortcut, labels, folder / "shortcut.pt"),
        "anatomy": train(anatomy, labels, folder / "anatomy.pt"),
        "square": train(square, labels, folder / "square.pt"),
    }


def _test_set(
    wide_is_label: bool, seed: int, stamp: str = "L"
) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Films with their marker at random (independent of the label), and without it."""
    rng = np.random.default_rng(seed)
    marks, labels = rng.integers(0, 2, N_TEST).astype(bool), rng.integers(0, 2, N_TEST)
    wide = labels.astype(bool) if wide_is_label else np.zeros(N_TEST, bool)
    with_marker = [
        film(9000 + i, marker=bool(m), wide=bool(w), stamp=stamp)
        for i, (m, w) in enumerate(zip(marks, wide, strict=True))
    ]  # noqa: E501
    without = [film(9000 + i, marker=False, wide=bool(w)) for i, w in enumerate(wide)]
    return with_marker, without, ["Benign" if v else "Normal" for v in labels]


def _exact_flip_rate(checkpoint: Path, with_marker, without, has_artefact) -> float:
    """The true effect: predictions on the films rendered with and without their marker."""
    a = predict(checkpoint, with_marker).argmax(1)
    b = predict(checkpoint, without).argmax(1)
    return float((a != b)[has_artefact].mean())


def _run(checkpoint: Path, options: ShortcutsOptions, **callbacks):
    model = open_model(ModelOptions(checkpoint=checkpoint), "cpu")
    return run(model, options, **callbacks)


def test_a_planted_marker_shortcut_is_flagged_and_its_effect_estimated(models, tmp_path):
    with_marker, without, labels = _test_set(False, 1)
    data = write_data_set(tmp_path / "data", with_marker, labels)
    result = _run(models["shortcut"], _options(tmp_path, data=data))
    report = result.report
    assert {"artefact_reliance", "artefact_attention"} <= set(report["flags"])
    has = (result.table["artefacts"] > 0).to_numpy()
    assert has.sum() >= 8
    exact = _exact_flip_rate(models["shortcut"], with_marker, without, has)
    estimate = report["counterfactual"]["flip_rate"]
    assert exact >= 0.3 and abs(estimate - exact) <= 0.15, (estimate, exact)
    low, high = report["counterfactual"]["flip_rate_ci"]
    assert low <= exact <= high
    assert report["attention"]["enrichment_ci"][0] > 1
    # the report holds the keys, boxes in the file's pixels, one CSV row per image
    for key in ("num_images", "checkpoint_sha256", "settings", "versions", "artefacts",
                "attention", "counterfactual", "strategies", "subgroups", "site_probe",
                "flags", "verdict"):  # fmt: skip
        assert key in report
    written = json.loads((tmp_path / "out" / "shortcuts_report.json").read_text())
    boxes = [b for entry in written["artefacts"]["per_image"] for b in entry["boxes"]]
    assert boxes and all(0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 96 for x0, y0, x1, y1 in boxes)
    with open(tmp_path / "out" / "shortcuts.csv") as handle:
        assert len(list(csv.DictReader(handle))) == N_TEST
    for name in ("shortcut_mean_heatmaps.png", "shortcut_artefacts.png", "shortcut_strategies.png"):
        assert (tmp_path / "out" / name).stat().st_size > 1000
    page = (tmp_path / "out" / "report.html").read_text()
    assert all(f'src="{name}"' in page for name in ("shortcut_mean_heatmaps.png",
               "shortcut_artefacts.png", "shortcut_strategies.png"))  # fmt: skip
    assert "yes (artefact_reliance)" in page and report["verdict"][0] in page
    assert (tmp_path / "out" / "report_images" / "IMG000000_thumb.jpg").is_file()
    # no metadata columns: subgroups and the probe are skipped, with a reason
    assert (
        report["subgroups"]["status"] == "skipped" and report["site_probe"]["status"] == "skipped"
    )
    assert report["attention"]["heatmap"]["scale"].startswith("raw")


def test_a_planted_solid_square_is_found_and_its_reliance_flagged(models, tmp_path):
    """A filled square (no strokes: the letters' top-hat alone would miss it) as the sign."""
    with_marker, without, labels = _test_set(False, 4, stamp="square")
    data = write_data_set(tmp_path / "data", with_marker, labels)
    result = _run(models["square"], _options(tmp_path, data=data, examples=0))
    has = (result.table["artefacts"] > 0).to_numpy()
    drawn = np.array([not np.array_equal(a, b) for a, b in zip(with_marker, without, strict=True)])
    assert (has == drawn).mean() >= 0.9, (has, drawn)
    kinds = {k for e in result.report["artefacts"]["per_image"] for k in e["kinds"]}
    assert kinds == {"patch"}
    exact = _exact_flip_rate(models["square"], with_marker, without, has)
    estimate = result.report["counterfactual"]["flip_rate"]
    assert exact >= 0.3 and abs(estimate - exact) <= 0.15, (estimate, exact)
    assert "artefact_reliance" in result.report["flags"]


def test_a_model_that_ignores_the_marker_is_not_flagged(models, tmp_path):
    with_marker, without, labels = _test_set(True, 2)
    data = write_data_set(tmp_path / "data", with_marker, labels)
    result = _run(models["anatomy"], _options(tmp_path, data=data))
    has = (result.table["artefacts"] > 0).to_numpy()
    assert has.sum() >= 8
    exact = _exact_flip_rate(models["anatomy"], with_marker, without, has)
    assert exact <= 0.05  # measured, not assumed: the marker does not move this model
    flags = set(result.report["flags"])
    assert not flags & {"artefact_reliance", "artefact_attention"}, result.report["verdict"]
    assert result.report["counterfactual"]["flip_rate"] <= 0.1


def _site_data(tmp: Path, leak: bool) -> Path:
    """Two centers; with ``leak`` center 1's films look different and are mostly Benign."""
    rng = np.random.default_rng(4)
    centers = np.repeat([1, 2], N_TEST // 2)
    labels = (
        (rng.random(N_TEST) < np.where(centers == 1, 0.8, 0.2))
        if leak
        else rng.integers(0, 2, N_TEST).astype(bool)
    )  # noqa: E501
    films = [
        film(7000 + i, marker=False, wide=bool(y), look=int(leak and c == 1))
        for i, (c, y) in enumerate(zip(centers, labels, strict=True))
    ]
    names = ["Benign" if y else "Normal" for y in labels]
    return write_data_set(tmp, films, names, centers=centers.tolist())


@pytest.mark.parametrize("leak", [True, False])
def test_a_site_that_leaks_into_the_films_is_encoded_and_alike_sites_are_not(
    models, tmp_path, leak
):
    data = _site_data(tmp_path / "data", leak)
    result = _run(models["anatomy"], _options(tmp_path, data=data))
    probe = result.report["site_probe"]
    assert probe["status"] == "ok"
    assert ("site_encoded" in result.report["flags"]) is leak, probe["decision"]
    assert result.report["subgroups"]["status"] == "ok"
    assert "center" in result.report["subgroups"]["columns"]


def test_bare_images_unreadable_file_no_artefacts_and_user_outlines(models, tmp_path):
    import cv2

    folder = tmp_path / "films"
    folder.mkdir()
    for i in range(6):
        cv2.imwrite(str(folder / f"f{i}.png"), film(500 + i, marker=i < 3))
    (folder / "broken.png").write_bytes(b"not a png")
    notes = tmp_path / "labelme"
    notes.mkdir()
    # f0: the user's own marker outline plus a tumour outline over the limb
    marker = [[0, 0], [30, 0], [30, 30], [0, 30]]
    tumour = [[40, 40], [56, 40], [56, 56], [40, 56]]
    labelme(notes / "f0.json", [("marker", marker), ("osteosarcoma", tumour)])
    seen: list[str] = []
    options = _options(tmp_path, images=folder, annotations=notes, artefact_labels=("marker",))
    result = _run(models["shortcut"], options, warn=seen.append)
    assert len(result.failures) == 1 and "broken.png" in result.failures[0]["image"]
    assert len(result.table) == 6
    report = result.report
    assert report["subgroups"]["status"] == "skipped" and "labels" in report["subgroups"]["reason"]
    assert any("site probe skipped" in s or "--images" in s for s in seen)
    by_image = {Path(e["image"]).name: e for e in report["artefacts"]["per_image"]}
    assert by_image["f0.png"]["kinds"] == ["marker"]  # the tumour outline is not an artefact
    assert by_image["f0.png"]["boxes"] == [[0, 0, 31, 31]]
    assert by_image["f5.png"]["kinds"] == []  # no marker: none found
    with open(tmp_path / "out" / "shortcuts.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 7 and sum(bool(r["error"]) for r in rows) == 1


def test_single_class_and_interruption_keep_finished_images(models, tmp_path):
    with_marker, _, _ = _test_set(False, 3)
    data = write_data_set(tmp_path / "data", with_marker[:14], ["Normal"] * 14)
    calls = []

    def stop(stage: str, done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    options = replace(
        _options(tmp_path, data=data), stream=replace(ShortcutsOptions(Path()).stream, batch_size=4)
    )  # noqa: E501
    result = _run(models["shortcut"], options, progress=stop)
    assert result.interrupted and result.report["flags"] == []
    # Batches of 4: Ctrl-C while the second batch is collected; the third, analysed and being
    # re-predicted, is kept; the fourth is never read.
    assert len(result.table) == 12 and result.report["num_images"] == 12
    assert json.loads((tmp_path / "out" / "shortcuts_report.json").read_text())["interrupted"]


def test_a_second_ctrl_c_while_re_predicting_keeps_that_batch(models, tmp_path, monkeypatch):
    """Ctrl-C, then Ctrl-C again while the analysed batch is still being re-predicted: the
    job waits for it anyway, so it keeps its rows rather than dropping them."""
    import os
    import signal
    import threading
    import time

    from assurexray.shortcuts import job

    with_marker, _, _ = _test_set(False, 3)
    data = write_data_set(tmp_path / "data", with_marker[:14], ["Normal"] * 14)
    options = replace(
        _options(tmp_path, data=data), stream=replace(ShortcutsOptions(Path()).stream, batch_size=4)
    )  # noqa: E501
    real, calls = job._counterfactuals, []

    def slow_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            time.sleep(2.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(job, "_counterfactuals", slow_second_batch)
    timers = []

    def progress(stage: str, done: int, total: int) -> None:
        if not timers:  # the first batch is in: Ctrl-C now, and again in half a second
            timers.append(threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)))
            timers[0].start()
            raise KeyboardInterrupt

    result = _run(models["shortcut"], options, progress=progress)
    timers[0].join()
    assert result.interrupted and len(result.table) == 8 and len(result.findings) == 8


def test_raw_maps_are_the_explainer_maps_before_scaling(models):
    """The tapped raw map, finished as pytorch-grad-cam finishes it, is the explainer's map."""
    from assurexray.explain.fast_gradcam import finalise
    from assurexray.shortcuts.model_pass import ModelTap

    model = open_model(ModelOptions(checkpoint=models["shortcut"]), "cpu")
    x = tensors([film(s, marker=True) for s in range(3)])
    with ModelTap(model) as tap:
        explained = model.explainer.explain(x)
        tapped = tap.take(3, explained.targets.tolist())
    assert tapped.raw_maps is not None and tapped.pooled is not None
    finished = finalise(tapped.raw_maps, (x.shape[-1], x.shape[-2]))
    np.testing.assert_allclose(finished, explained.heatmaps, atol=1e-4)
    net = model.checkpoint.model
    with torch.inference_mode():
        pooled = net.forward_head(net.forward_features(x), pre_logits=True).numpy()
    np.testing.assert_allclose(tapped.pooled, pooled, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("arch", "scale"),
    [
        ("test_resnet", "raw"),  # pooling and one linear layer: the exact raw map
        ("test_convnext", "the explainer's map"),  # the head normalises after pooling
        ("test_mambaout", "the explainer's map"),  # NHWC features, a head with an MLP
    ],
)
def test_the_job_runs_on_other_heads_with_the_maps_it_can_trust(tmp_path, arch, scale):
    """ConvNeXt's head stopped the job on a shape error in the raw-map check; any head that
    is not pooling and one linear layer gets the explainer's scaled maps instead."""
    import timm

    from assurexray.models.checkpoint import save_checkpoint
    from tests.shortcut_films import CONFIG

    net = timm.create_model(arch, pretrained=False, num_classes=2)
    checkpoint = save_checkpoint(
        tmp_path / f"{arch}.pt", net, arch=arch, class_names=("Normal", "Benign"),
        preprocess=CONFIG,
    )  # fmt: skip
    films = [film(8100 + i, marker=bool(i % 2)) for i in range(4)]
    data = write_data_set(tmp_path / "data", films, ["Normal", "Benign"] * 2)
    result = _run(checkpoint, _options(tmp_path, data=data, examples=0))
    assert len(result.table) == 4 and not result.failures
    assert result.report["attention"]["heatmap"]["scale"].startswith(scale)


def test_a_cnn_runs_in_channels_last_with_the_same_maps_and_is_restored(models, tmp_path):
    """The job's faster layout changes no number beyond float rounding, and is undone."""
    import timm

    from assurexray.shortcuts.model_speed import channels_last

    model = open_model(ModelOptions(checkpoint=models["shortcut"]), "cpu")
    net = model.checkpoint.model
    stem = net.conv_stem.weight
    original = stem.data_ptr()
    x = tensors([film(s, marker=True) for s in range(3)])
    usual = model.explainer.explain(x)
    with channels_last(net):
        assert not stem.is_contiguous() and stem.is_contiguous(memory_format=torch.channels_last)
        fast = model.explainer.explain(x)
    assert stem.data_ptr() == original  # the weight's own tensor is back
    np.testing.assert_allclose(fast.heatmaps, usual.heatmaps, atol=1e-5)
    np.testing.assert_allclose(fast.probabilities, usual.probabilities, atol=1e-6)
    assert fast.used_fast_path and usual.used_fast_path
    with pytest.raises(RuntimeError), channels_last(net):
        raise RuntimeError("stopped")
    assert stem.data_ptr() == original
    vit = timm.create_model("test_vit", pretrained=False, num_classes=3, img_size=32)
    patch = vit.patch_embed.proj.weight
    with channels_last(vit):  # a ViT's weights are mostly not convolutions: left alone
        assert patch.is_contiguous()


def test_the_job_runs_its_passes_folded_and_in_channels_last_and_undoes_both(models, tmp_path):
    model = open_model(ModelOptions(checkpoint=models["shortcut"]), "cpu")
    net = model.checkpoint.model
    before = {k: v.clone() for k, v in net.state_dict().items()}
    stem_weight = net.conv_stem.weight.data_ptr()
    passes: list[tuple[bool, bool]] = []  # (stem folded, stem in channels_last) per pass
    stem = net.conv_stem  # watched from the next layer: a hooked layer would not be folded
    hook = net.blocks.register_forward_pre_hook(
        lambda m, _: passes.append((stem.bias is not None, not stem.weight.is_contiguous()))
    )
    films = [film(8000 + i, marker=bool(i % 2)) for i in range(6)]
    data = write_data_set(tmp_path / "data", films, ["Normal", "Benign"] * 3)
    result = run(model, _options(tmp_path, data=data, examples=0))
    hook.remove()
    fast = [p for p in passes if p == (True, True)]  # prediction, removals and controls
    assert len(fast) >= 3 and len(passes) - len(fast) <= 3  # the probes deciding the folding
    assert result.report["model_pass"]["batch_norms_folded"] > 0
    assert result.report["model_pass"]["channels_last"] is True
    after = net.state_dict()
    assert after.keys() == before.keys() and net.conv_stem.bias is None
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert stem.weight.data_ptr() == stem_weight and "forward" not in vars(net.bn1)


def test_a_tumour_label_is_never_an_artefact_label():
    from assurexray.core.config import Settings

    with pytest.raises(ConfigError, match="never an artefact"):
        ShortcutsOptions.from_settings(Settings(), artefact_labels=["Tumor"])
    with pytest.raises(ConfigError, match="never an artefact"):
        ShortcutsOptions.from_settings(Settings(), artefact_labels=["benign"])


def test_the_command_line_runs_and_refuses_bad_input_in_one_line(models, tmp_path):
    import cv2
    from typer.testing import CliRunner

    from assurexray.cli.main import app

    folder = tmp_path / "films"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"f{i}.png"), film(800 + i, marker=i % 2 == 0))
    runner = CliRunner()
    base = ["shortcuts", "--checkpoint", str(models["shortcut"]), "-o", str(tmp_path / "out")]
    done = runner.invoke(app, [*base, "--images", str(folder)])
    assert done.exit_code == 0, done.output
    assert "Flags:" in done.output and (tmp_path / "out" / "shortcuts_report.json").is_file()
    bad = runner.invoke(app, [*base, "--images", str(folder), "--artefact-label", "tumour"])
    assert bad.exit_code == 2 and "never an artefact" in bad.output
    missing = runner.invoke(app, [*base, "--images", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "image folder not found" in missing.output
