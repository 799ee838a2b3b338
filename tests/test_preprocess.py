from __future__ import annotations

import numpy as np
import pytest

from assurexray.core.errors import ConfigError
from assurexray.imaging.preprocess import PreprocessConfig, compute_geometry, preprocess_image


@pytest.mark.parametrize("shape", [(300, 120), (120, 300), (200, 200), (37, 91)])
@pytest.mark.parametrize("mode", ["letterbox", "stretch"])
def test_points_round_trip_within_a_pixel(shape: tuple[int, int], mode: str) -> None:
    geometry = compute_geometry(shape, PreprocessConfig(image_size=64, resize_mode=mode))
    height, width = shape
    points = np.array([[0, 0], [width - 1, height - 1], [width / 3, height / 2], [7.2, 3.9]])
    back = geometry.to_original(geometry.to_network(points))
    np.testing.assert_allclose(back, points, atol=1e-9)
    inside = geometry.to_network(points)
    assert (inside >= -0.5).all() and (inside <= 63.5).all()


def test_letterbox_keeps_aspect_and_pads_black() -> None:
    pixels = np.ones((200, 100), dtype=np.float32)
    config = PreprocessConfig(image_size=64, mean=(0.0,) * 3, std=(1.0,) * 3)
    tensor, geometry = preprocess_image(pixels, config)
    assert tensor.shape == (3, 64, 64) and tensor.dtype == np.float32
    assert geometry.content_box == (16, 0, 48, 64)
    assert tensor[0, :, :16].max() == 0.0 and tensor[0, :, 48:].max() == 0.0
    np.testing.assert_allclose(tensor[:, :, 16:48], 1.0, atol=1e-6)


def test_a_feature_lands_where_the_geometry_says() -> None:
    pixels = np.zeros((300, 150), dtype=np.float32)
    pixels[200:220, 100:110] = 1.0  # a bright square centred at (104.5, 209.5)
    config = PreprocessConfig(image_size=100, mean=(0.0,) * 3, std=(1.0,) * 3)
    tensor, geometry = preprocess_image(pixels, config)
    ys, xs = np.nonzero(tensor[0] > 0.5)
    expected = geometry.to_network(np.array([[104.5, 209.5]]))[0]
    assert abs(xs.mean() - expected[0]) < 1.0 and abs(ys.mean() - expected[1]) < 1.0


def test_heatmap_maps_back_to_original_frame() -> None:
    geometry = compute_geometry((300, 150), PreprocessConfig(image_size=100))
    heatmap = np.zeros((100, 100), dtype=np.float32)
    left, top, right, bottom = geometry.content_box
    heatmap[top:bottom, left : (left + right) // 2] = 1.0  # left half of the content
    original = geometry.heatmap_to_original(heatmap)
    assert original.shape == (300, 150)
    assert original[:, :70].min() > 0.99 and original[:, 80:].max() < 0.01


def test_normalisation_and_channels() -> None:
    pixels = np.full((10, 10), 0.5, dtype=np.float32)
    config = PreprocessConfig(image_size=10, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))
    tensor, _ = preprocess_image(pixels, config)
    np.testing.assert_allclose(tensor[:, 5, 5], [0.0, 1.0, 0.5], atol=1e-6)


def test_clahe_changes_contrast_but_keeps_range() -> None:
    rng = np.random.default_rng(0)
    pixels = (0.4 + 0.1 * rng.random((64, 64))).astype(np.float32)
    plain, _ = preprocess_image(
        pixels, PreprocessConfig(image_size=64, mean=(0,) * 3, std=(1,) * 3)
    )
    clahe, _ = preprocess_image(
        pixels, PreprocessConfig(image_size=64, mean=(0,) * 3, std=(1,) * 3, clahe=True)
    )
    assert clahe.std() > plain.std() * 2
    assert clahe.min() >= 0.0 and clahe.max() <= 1.0


def test_config_serialises_and_rejects_bad_values() -> None:
    config = PreprocessConfig(image_size=96, resize_mode="stretch", clahe=True)
    assert PreprocessConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="resize_mode"):
        PreprocessConfig(resize_mode="crop")
    with pytest.raises(ConfigError, match="unknown preprocessing keys: colour"):
        PreprocessConfig.from_dict({"colour": 1})


def test_heatmap_is_rescaled_within_the_image_not_the_padding() -> None:
    geometry = compute_geometry((40, 80), PreprocessConfig(image_size=32))  # letterboxed
    left, top, right, bottom = geometry.content_box
    assert top > 0  # there is padding above and below
    heatmap = np.ones((32, 32), np.float32)  # padding at the maximum
    heatmap[top:bottom, left:right] = np.linspace(0.2, 0.6, right - left, dtype=np.float32)
    original = geometry.heatmap_to_original(heatmap)
    assert original.shape == (40, 80)
    assert original.min() == pytest.approx(0.0, abs=1e-6)
    assert original.max() == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.diff(original[20]) >= -1e-6)  # the ramp keeps its order
    flat = geometry.heatmap_to_original(np.zeros((32, 32), np.float32))
    assert not flat.any()
