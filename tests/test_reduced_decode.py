"""Reading a JPEG at reduced scale (and resizing the network input from the display-size
copy) does not change what the user gets, beyond stated tolerances.

The network always sees a resize of the radiograph; with a reduced decode it
is a resize of libjpeg's 1/2-1/8 scale decode instead of the full one. These
tests run the same model on both and compare, in the original image frame,
what infer and compare report. The tolerances:

* probabilities: within 0.005 (measured: 4e-5 for a random model, up to
  0.0022 for one whose logits are scaled 40 times);
* heatmaps (original frame, values in [0, 1]): mean difference within 0.01,
  largest difference within 0.05 (measured for EfficientNet-B0 and the tiny
  test model: at most 0.005 and 0.03);
* compare's scores: IoU and Otsu IoU within 0.02, relevance mass within
  0.005, the same pointing-game hit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from assurexray.evaluation.metrics import localisation_scores
from assurexray.explain.explainer import Explainer
from assurexray.imaging.preprocess import PreprocessConfig, decode_floor, preprocess_image
from assurexray.imaging.reading import read_image
from assurexray.models.checkpoint import load_checkpoint

HEIGHT, WIDTH = 2400, 1800
LESION = (1000, 1500, 180)  # centre x, centre y, radius in the original frame


@pytest.fixture(scope="module")
def radiograph_jpeg(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A large radiograph-like JPEG with a bright lesion, and the lesion's mask."""
    yy, xx = np.mgrid[:HEIGHT, :WIDTH].astype(np.float32)
    bone = np.exp(-(((xx - WIDTH / 2) / (0.18 * WIDTH)) ** 2))
    x0, y0, radius = LESION
    mask = (xx - x0) ** 2 + (yy - y0) ** 2 < radius**2
    texture = 0.05 * np.sin(yy / 9) * np.cos(xx / 13)
    noise = np.random.default_rng(0).normal(0, 0.02, mask.shape)
    image = np.clip(0.15 + 0.55 * bone + 0.25 * mask + texture + noise, 0, 1)
    path = tmp_path_factory.mktemp("reduced") / "large.jpg"
    Image.fromarray((image * 255).astype(np.uint8)).save(path, quality=92)
    return path, mask


def _explain_both(path: Path, model: torch.nn.Module, config: PreprocessConfig, display: int):
    full = read_image(path)
    reduced = read_image(path, reduce_to=decode_floor(config, display))
    assert reduced.size == full.size == (HEIGHT, WIDTH)
    assert reduced.data.shape[0] < HEIGHT  # the decode was reduced
    inputs, geometries = [], []
    for radiograph in (full, reduced):
        tensor, geometry = preprocess_image(radiograph.data, config, size=radiograph.size)
        inputs.append(tensor)
        geometries.append(geometry)
    assert geometries[0] == geometries[1]  # same frame, same mapping back
    result = Explainer(model).explain(torch.from_numpy(np.stack(inputs)))
    heatmaps = [g.heatmap_to_original(h) for g, h in zip(geometries, result.heatmaps, strict=True)]
    return result.probabilities, heatmaps


@pytest.mark.parametrize(  # --no-images (decode down to the network size), and with pictures
    ("image_size", "display"), [(64, 0), (224, 0), (224, 1024)]
)
def test_reduced_decode_keeps_predictions_heatmaps_and_scores(
    radiograph_jpeg: tuple[Path, np.ndarray], tiny_checkpoint: Path, display: int, image_size: int
) -> None:
    path, mask = radiograph_jpeg
    model = load_checkpoint(tiny_checkpoint).model.eval()
    config = PreprocessConfig(image_size=image_size)
    probabilities, (full, reduced) = _explain_both(path, model, config, display)
    assert full.shape == reduced.shape == (HEIGHT, WIDTH)
    assert np.abs(probabilities[0] - probabilities[1]).max() <= 0.005
    difference = np.abs(full - reduced)
    assert difference.mean() <= 0.01 and difference.max() <= 0.05
    scores = [localisation_scores(h, mask, (0.3, 0.5)) for h in (full, reduced)]
    for threshold in ("0.3", "0.5"):
        assert abs(scores[0]["iou"][threshold] - scores[1]["iou"][threshold]) <= 0.02
    assert abs(scores[0]["otsu_iou"] - scores[1]["otsu_iou"]) <= 0.02
    assert abs(scores[0]["relevance_mass"] - scores[1]["relevance_mass"]) <= 0.005
    assert scores[0]["hit"] == scores[1]["hit"]


def test_reduced_decode_keeps_a_confident_models_answer(
    radiograph_jpeg: tuple[Path, np.ndarray], tiny_checkpoint: Path
) -> None:
    """Logits scaled up 40 times: probabilities far from uniform and sensitive to the input."""
    path, mask = radiograph_jpeg
    model = load_checkpoint(tiny_checkpoint).model.eval()
    with torch.no_grad():
        model.classifier.weight *= 40
    config = PreprocessConfig(image_size=224)
    probabilities, (full_map, reduced_map) = _explain_both(path, model, config, 0)
    assert probabilities[0].max() > 0.45 and probabilities[0].min() < 0.1  # not uniform
    assert probabilities[0].argmax() == probabilities[1].argmax()
    assert np.abs(probabilities[0] - probabilities[1]).max() <= 0.005
    difference = np.abs(full_map - reduced_map)
    assert difference.mean() <= 0.01 and difference.max() <= 0.05


@pytest.mark.parametrize("display", [0, 1024])
def test_the_stream_input_from_its_display_copy_keeps_the_answer(
    radiograph_jpeg: tuple[Path, np.ndarray], tiny_checkpoint: Path, tmp_path: Path, display: int
) -> None:
    """The stream resizes a letterboxed input from its display-size copy, not the decode.

    A PNG (decoded in full) isolates that step. Its inputs differ from the
    direct resize by under half a grey level on average; predictions and
    heatmaps within the tolerances above (measured for EfficientNet-B0: 0.09
    of a level, probabilities 2e-7, heatmaps 0.002 on average and 0.012 at most).
    """
    from assurexray.engine.streaming import load_images

    png = tmp_path / "large.png"
    Image.open(radiograph_jpeg[0]).save(png)
    config = PreprocessConfig(image_size=224)
    direct, geometry = preprocess_image(read_image(png).data, config)
    (loaded,) = load_images([png], config, display_side=display)
    assert loaded.geometry == geometry and loaded.radiograph.data.shape[0] < HEIGHT
    std = np.asarray(config.std, np.float32)[:, None, None]
    assert (np.abs(loaded.tensor - direct) * std).mean() <= 0.5 / 255
    model = load_checkpoint(tiny_checkpoint).model.eval()
    result = Explainer(model).explain(torch.from_numpy(np.stack([direct, loaded.tensor])))
    assert np.abs(result.probabilities[0] - result.probabilities[1]).max() <= 0.005
    maps = [geometry.heatmap_to_original(h) for h in result.heatmaps]
    difference = np.abs(maps[0] - maps[1])
    assert difference.mean() <= 0.01 and difference.max() <= 0.05
