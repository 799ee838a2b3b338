"""The audit job: intervals, ranking and verdict, the command end to end, and bad input."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from assurexray.audit.summary import Scores, summarise
from assurexray.cli.main import app
from assurexray.evaluation.statistics import bootstrap_mean, clearly_above, paired_difference

runner = CliRunner()


def test_bootstrap_interval_agrees_with_a_direct_resampling():
    values = np.random.default_rng(0).normal(0.3, 0.1, size=40)
    estimate = bootstrap_mean(list(values), seed=1, resamples=20000)
    draws = np.random.default_rng(2).choice(values, size=(20000, values.size)).mean(axis=1)
    low, high = np.percentile(draws, [2.5, 97.5])
    assert estimate.mean == pytest.approx(values.mean())
    assert estimate.low == pytest.approx(low, abs=0.004)
    assert estimate.high == pytest.approx(high, abs=0.004)
    assert (
        bootstrap_mean(list(values), seed=1).interval
        == bootstrap_mean(list(values), seed=1).interval
    )


def test_bootstrap_edge_cases():
    assert bootstrap_mean([]).mean is None
    single = bootstrap_mean([0.4, None, float("nan")])
    assert single.mean == 0.4 and single.interval is None and single.count == 1
    assert bootstrap_mean([True, True, True]).interval == [1.0, 1.0]
    better = paired_difference([0.5, 0.6, 0.7, 0.55, 0.65], [0.1, 0.2, 0.1, 0.15, 0.2])
    assert clearly_above(better) and better.mean == pytest.approx(0.45)
    assert not clearly_above(paired_difference([0.1, 0.9, 0.2, 0.8], [0.8, 0.2, 0.9, 0.1]))
    with pytest.raises(ValueError, match="differ in length"):
        paired_difference([1.0], [1.0, 2.0])


def scores(name, mass, hit, *, road, sanity=True, baseline=False, classes=None):
    """A Scores object with the given per-image relevance mass and hit values."""
    entry = Scores(name, name.split("@")[0], tuple(name.split("@")[1:]), is_baseline=baseline)
    entry.per_image = [
        {"image_id": f"i{n}", "iou": {"0.5": m}, "otsu_iou": m, "hit": h, "relevance_mass": m}
        for n, (m, h) in enumerate(zip(mass, hit, strict=True))
    ]
    entry.classes = classes or ["Benign", "Malignant"] * (len(mass) // 2)
    entry.faithfulness = list(road)
    entry.stability = [0.9] * len(mass)
    entry.sanity = {"passed": sanity, "spearman": 0.1 if sanity else 0.9}
    return entry


def leaderboard(**overrides):
    rng = np.random.default_rng(0)
    high_road = list(0.2 + 0.01 * rng.random(8))
    zero_road = list(0.01 * (rng.random(8) - 0.5))
    items = {
        "gradcam@bn2": scores("gradcam@bn2", [0.2] * 8, [1, 0] * 4, road=high_road),
        "layercam@b4": scores("layercam@b4", [0.6, 0.5] * 4, [1] * 8, road=high_road),
        "eigencam@b4": scores("eigencam@b4", [0.9] * 8, [1] * 8, road=high_road, sanity=False),
        "centre": scores("centre", [0.3] * 8, [0] * 8, road=zero_road, sanity=False, baseline=True),
        "random": scores("random", [0.1] * 8, [0] * 8, road=zero_road, sanity=False, baseline=True),
    }
    items.update(overrides)
    return summarise(
        list(items.values()),
        thresholds=["0.5"],
        rank_by="relevance_mass",
        seed=0,
        chance=[0.1] * 8,
        seed_candidate="gradcam@bn2",
    )


def test_ranking_recommends_the_best_candidate_that_passes_the_checks():
    summary = leaderboard()
    ranked = [e["name"] for e in summary["candidates"]]
    assert ranked == ["eigencam@b4", "layercam@b4", "gradcam@bn2"]  # by relevance mass
    assert [e["rank"] for e in summary["candidates"]] == [1, 2, 3]
    # eigencam localises best but fails the sanity check: layercam is recommended.
    assert summary["recommended"] == "layercam@b4"
    layercam = summary["candidates"][1]
    assert layercam["relevance_mass"] == pytest.approx(0.55)
    assert layercam["relevance_mass_ci"][0] <= 0.55 <= layercam["relevance_mass_ci"][1]
    assert layercam["per_class"]["Benign"]["relevance_mass"] == pytest.approx(0.6)
    assert layercam["faithfulness_vs_random"]["beats_random"] is True
    assert summary["chance_level"] == pytest.approx(0.1)
    assert [b["name"] for b in summary["baselines"]] == ["centre", "random"]
    assert any(
        "gradcam@bn2 (the configured heatmap) does NOT clearly beat the centre" in line
        for line in summary["verdict"]
    )


def test_no_recommendation_for_maps_no_better_than_the_centre_baseline():
    rng = np.random.default_rng(6)
    road = list(0.2 + 0.01 * rng.random(8))
    summary = leaderboard(
        **{  # both pass sanity and faithfulness, neither localises better than the centre
            "layercam@b4": scores("layercam@b4", [0.3, 0.25] * 4, [0] * 8, road=road),
            "gradcam@bn2": scores("gradcam@bn2", [0.2] * 8, [0] * 8, road=road),
        }
    )
    assert all(not e["vs_centre"]["beats_centre"] for e in summary["candidates"][1:])
    assert summary["recommended"] is None
    assert summary["verdict"][0].startswith("No candidate is trustworthy")


def test_no_recommendation_when_nothing_beats_random_faithfulness():
    rng = np.random.default_rng(3)
    noise = list(0.01 * (rng.random(8) - 0.5))
    summary = leaderboard(
        **{
            "layercam@b4": scores("layercam@b4", [0.6] * 8, [1] * 8, road=noise),
            "gradcam@bn2": scores("gradcam@bn2", [0.4] * 8, [1] * 8, road=noise),
        }
    )
    assert summary["recommended"] is None
    assert summary["verdict"][0].startswith("No candidate is trustworthy")
    assert any(
        "gradcam@bn2 (the configured heatmap) beats the centre" in line
        for line in summary["verdict"]
    )


def audit_folder(images: Path, checkpoint: Path, out: Path, *extra: str | Path) -> Any:
    """``audit`` on a bare folder of images, with more options ``extra``."""
    args = ["audit", "--images", images, "--checkpoint", checkpoint, "-o", out, *extra]
    return runner.invoke(app, [str(a) for a in args])


def audit_args(data: Path, checkpoint: Path, out: Path, *extra: str) -> list[str]:
    return [
        "audit",
        "--data",
        str(data),
        "--split",
        "all",
        "--checkpoint",
        str(checkpoint),
        "--method",
        "gradcam",
        "--method",
        "eigencam",
        "--check-images",
        "3",
        "-o",
        str(out),
        *extra,
    ]


@pytest.fixture(scope="module")
def audited(tiny_dataset, tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    result = runner.invoke(app, audit_args(tiny_dataset, tiny_checkpoint, out, "--all"))
    return result, out


@pytest.mark.slow
def test_audit_command_writes_the_report(audited, tiny_dataset):
    result, out = audited
    assert result.exit_code == 0, result.output
    for header in ("IoU@0.5", "Otsu IoU", "stability", "adv. SSIM"):  # a log gets every column
        assert header in result.output
    assert "not shown at this width" not in result.output
    report = json.loads((out / "audit_report.json").read_text())
    index = pd.read_csv(tiny_dataset / "splits.csv")
    annotated = len(list((tiny_dataset / "Annotations").glob("*.json")))
    assert report["num_images"] == annotated and report["num_checked"] == 3
    names = [c["name"] for c in report["candidates"]]
    assert len(names) == 8 and "gradcam@bn2" in names  # 2 methods x (3 layers + combination)
    assert [b["name"] for b in report["baselines"]] == ["centre", "random", "edges"]
    for entry in report["candidates"] + report["baselines"]:
        for score in ("hit_rate", "relevance_mass", "mean_iou", "mean_otsu_iou"):
            low, high = entry[f"{score}_ci"]
            assert low <= entry[score] <= high
        assert set(entry["per_class"]) <= set(index["label"])
        assert entry["sanity"]["passed"] in (True, False)
        assert len(entry["sanity"]["steps"]) == 3  # head and two blocks
    for baseline in report["baselines"]:  # maps that ignore the model never pass
        assert baseline["sanity"]["passed"] is False
    assert report["recommended"] in [*names, None]
    assert 0 < report["chance_level"] < 0.5
    assert report["versions"]["grad-cam"] and report["versions"]["torch"]
    assert report["checkpoint"]["sha256"] and report["settings"]["methods"] == [
        "gradcam",
        "eigencam",
    ]
    table = pd.read_csv(out / "audit.csv")
    assert list(table["name"]) == names + ["centre", "random", "edges"]
    assert table["recommended"].sum() == (report["recommended"] is not None)
    import cv2

    for picture in ("audit_leaderboard.png", "audit_methods.png"):
        image = cv2.imread(str(out / picture))
        assert image is not None and image.std() > 10
    assert "chance level" in result.output and "audit_report.json" in result.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert all(name in page for name in names) and "edges" in page


def test_audit_on_a_folder_with_labelme_files(tiny_dataset, tiny_checkpoint, tmp_path):
    labelme = ("--annotations", tiny_dataset / "Annotations", "--all")
    choice = ("--method", "gradcam", "--layer", "bn2", "--check-images", "2")
    result = audit_folder(tiny_dataset / "images", tiny_checkpoint, tmp_path, *labelme, *choice)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "audit_report.json").read_text())
    assert [c["name"] for c in report["candidates"]] == ["gradcam@bn2"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method", "nope"], "unknown heatmap method 'nope'"),
        (["--layer", "bnn2"], "target layer 'bnn2' not found"),
        (["--rank-by", "speed"], "--rank-by must be one of"),
    ],
)
def test_audit_rejects_bad_options_in_one_line(
    tiny_dataset, tiny_checkpoint, tmp_path, extra, message
):
    result = runner.invoke(
        app, audit_args(tiny_dataset, tiny_checkpoint, tmp_path, "--all", *extra)
    )
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "audit_report.json").exists()


def test_audit_without_annotations_or_true_positives(tiny_dataset, tiny_checkpoint, tmp_path):
    import torch

    no_labelme = audit_folder(tiny_dataset / "images", tiny_checkpoint, tmp_path)
    assert no_labelme.exit_code == 2 and "--images needs --annotations" in no_labelme.output
    payload = torch.load(tiny_checkpoint, weights_only=True)
    payload["state_dict"]["classifier.bias"] = torch.tensor([50.0, -50.0, -50.0])  # all Normal
    always_normal = tmp_path / "normal.pt"
    torch.save(payload, always_normal)
    result = runner.invoke(app, audit_args(tiny_dataset, always_normal, tmp_path / "out"))
    assert result.exit_code == 2
    assert "no annotated image to audit" in result.output and "--all" in result.output


def test_localisation_ranks_by_the_mean_of_hit_and_mass():
    road = list(0.2 + 0.01 * np.random.default_rng(4).random(8))
    zero = list(0.01 * (np.random.default_rng(5).random(8) - 0.5))
    sharp = scores("layercam@b2", [0.5] * 8, [0, 1] * 4, road=road)  # mass 0.5, hit 0.5
    broad = scores("gradcam@b4", [0.2] * 8, [1] * 8, road=road)  # mass 0.2, hit 1.0
    random = scores("random", [0.1] * 8, [0] * 8, road=zero, sanity=False, baseline=True)
    ranked = partial(summarise, thresholds=["0.5"], seed=0, chance=[0.1] * 8, seed_candidate=None)
    summary = ranked([sharp, broad, random], rank_by="localisation")
    assert [e["name"] for e in summary["candidates"]] == ["gradcam@b4", "layercam@b2"]
    assert summary["candidates"][0]["localisation"] == pytest.approx(0.6)
    assert summary["recommended"] == "gradcam@b4"
    by_mass = ranked([sharp, broad, random], rank_by="relevance_mass")
    assert by_mass["recommended"] == "layercam@b2"


@pytest.mark.slow
def test_audit_ranks_attribution_candidates_beside_the_cams(
    tiny_dataset, tiny_checkpoint, tmp_path
):
    """Captum methods go through the same scoring, sanity, ROAD and stability checks."""
    methods = ["gradcam", "smoothgrad", "guided_gradcam"]
    given = [part for method in methods[2:] for part in ("--method", method)]
    args = audit_args(
        tiny_dataset,
        tiny_checkpoint,
        tmp_path / "out",
        "--layer",
        "bn2",
        "--per-class",
        "2",
        *given,
    )
    args[args.index("eigencam")] = methods[1]
    args[args.index("--check-images") + 1] = "2"
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "audit_report.json").read_text())
    by_name = {c["name"]: c for c in report["candidates"]}
    assert set(by_name) == {
        "gradcam@bn2",
        "smoothgrad",
        "guided_gradcam@bn2",
    }
    for entry in by_name.values():
        assert entry["sanity"]["passed"] in (True, False) and entry["sanity"]["steps"]
        assert entry["faithfulness"] is not None and entry["stability_ssim"] is not None
        assert 0 <= entry["hit_rate"] <= 1
        # FGSM and PGD on each checked image: every pair kept or flipped
        pairs = 2 * report["num_checked"]
        kept = round((1 - entry["adversarial_flip_share"]) * pairs)
        assert (entry["adversarial_ssim"] is None) == (kept == 0)
    facts = report["adversarial"]
    assert facts["pairs"] == pairs > 0 and facts["epsilon_grey_levels"] == 2.0
    assert facts["flipped"] == pairs - kept and len(facts["epsilon_normalised"]) == 3
    table = pd.read_csv(tmp_path / "out" / "audit.csv")
    assert {"adversarial_ssim", "adversarial_flip_share", "adversarial_ssim_worst"} <= set(table)
    assert "FGSM/PGD" in result.output
    assert "adversarial stability" in (tmp_path / "out" / "report.html").read_text()
    assert by_name["smoothgrad"]["layers"] == []
