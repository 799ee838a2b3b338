from __future__ import annotations

from pathlib import Path

from assurexray.engine.jobs import StreamOptions
from assurexray.engine.streaming import (
    ExplainedImage,
    LoadFailure,
    Prediction,
    explain_paths,
    predict_paths,
)
from assurexray.explain.explainer import Explainer
from assurexray.models.checkpoint import load_checkpoint
from tests.conftest import write_gray_png


def _files(tmp_path: Path) -> list[Path]:
    good = [write_gray_png(tmp_path / f"g{i}.png", seed=i) for i in range(3)]
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    return [good[0], bad, good[1], good[2]]


def test_results_come_in_input_order_with_failures_in_place(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    checkpoint = load_checkpoint(tiny_checkpoint)
    files = _files(tmp_path)
    out = list(
        predict_paths(
            files,
            checkpoint.model,
            checkpoint.preprocess,
            StreamOptions(batch_size=2, workers=2),
        )
    )
    assert [type(o) for o in out] == [Prediction, LoadFailure, Prediction, Prediction]
    assert [o.path for o in out] == files


def test_targets_follow_their_images_past_a_failure(tmp_path: Path, tiny_checkpoint: Path) -> None:
    checkpoint = load_checkpoint(tiny_checkpoint)
    files = _files(tmp_path)
    explainer = Explainer(checkpoint.model, class_names=checkpoint.class_names)
    out = list(
        explain_paths(
            files,
            explainer,
            checkpoint.preprocess,
            StreamOptions(batch_size=3),
            targets=[2, 0, 1, 0],
        )
    )
    assert isinstance(out[1], LoadFailure)
    explained = [o for o in out if isinstance(o, ExplainedImage)]
    assert [o.target for o in explained] == [2, 1, 0]
    assert [o.image.path for o in explained] == [files[0], files[2], files[3]]
    assert all(o.heatmap.shape == o.image.radiograph.size for o in explained)
