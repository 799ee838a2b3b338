"""Body mask, border band, inpainting and random placement for the shortcut audit."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from assurexray.shortcuts.regions import body_mask, border_band, inpaint, place_at_random


def limb(h: int = 400, w: int = 300, seed: int = 0) -> np.ndarray:
    """Dark air, a soft-edged tissue band with a bright bone cylinder, noise; uint8."""
    rng = np.random.default_rng(seed)
    xx = np.arange(w, dtype=np.float32)
    tissue = 1 / (1 + np.exp(-(0.25 * w - np.abs(xx - w / 2)) / 4))
    bone = np.clip(1 - ((xx - w / 2) / (0.08 * w)) ** 2, 0, 1) ** 0.5
    img = 0.05 + 0.4 * tissue + 0.35 * bone + rng.normal(0, 0.02, (h, w))
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def test_body_mask_on_a_limb_drops_air_and_markers() -> None:
    image = limb()
    cv2.putText(image, "R", (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 255, 2)
    image[190:210, 140:160] = 5  # a dark hole inside the limb is still body
    body = body_mask(image)
    assert body.shape == image.shape and body.dtype == bool
    assert body[:, 100:200].mean() > 0.98
    assert not body[:, :60].any() and not body[:, 240:].any()
    assert body[200, 150]


def test_body_mask_all_tissue_and_flat() -> None:
    image = limb()[:, 90:210]  # tissue and bone only, no air
    assert body_mask(image).all()
    assert body_mask(np.full((50, 40), 7, np.uint16)).all()
    with pytest.raises(ValueError):
        body_mask(np.zeros((4, 4, 3)))


def test_border_band() -> None:
    band = border_band((100, 200), 0.15)
    assert band[:, :30].all() and band[:15].all() and band[85:].all() and band[:, 170:].all()
    assert not band[15:85, 30:170].any()
    assert not border_band((10, 10), 0).any()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_inpaint_removes_a_marker_keeps_the_rest(dtype) -> None:
    base = limb(200, 160).astype(np.float32) / 255
    marked = base.copy()
    mask = np.zeros(base.shape, bool)
    mask[20:40, 10:30] = True
    marked[mask] = 1.0
    scale = {np.uint8: 255, np.uint16: 4095, np.float32: 1}[dtype]
    image = (marked * scale).astype(dtype)
    out = inpaint(image, mask)
    assert out.dtype == image.dtype and out.shape == image.shape
    assert np.array_equal(out[~mask], image[~mask])
    err = np.abs(out[mask].astype(np.float32) / scale - base[mask]).mean()
    assert err < 0.05
    assert np.array_equal(inpaint(image, np.zeros_like(mask)), image)


def test_inpaint_fills_each_artefact_in_a_small_crop_of_a_large_film(monkeypatch) -> None:
    image = np.random.default_rng(0).integers(0, 4096, (4000, 3000)).astype(np.uint16)
    mask = np.zeros(image.shape, bool)
    mask[100:180, 200:260] = mask[3000:3050, 2800:2900] = True
    crops = []
    real = cv2.inpaint

    def spy(src, *args):
        crops.append(src.shape)
        return real(src, *args)

    monkeypatch.setattr(cv2, "inpaint", spy)
    out = inpaint(image, mask)
    assert len(crops) == 2 and all(h * w < 0.01 * image.size for h, w in crops)
    assert np.array_equal(out[~mask], image[~mask]) and not np.array_equal(out, image)


def test_place_at_random_moves_shapes_inside_allowed_off_the_original() -> None:
    rng = np.random.default_rng(0)
    mask = np.zeros((200, 150), bool)
    mask[5:15, 5:12] = True
    cv2.circle(mask.view(np.uint8), (130, 180), 6, 1, -1)
    allowed = border_band(mask.shape, 0.2)
    draws = place_at_random(mask, allowed, rng, 10)
    assert len(draws) == 10
    for d in draws:
        assert d.sum() == mask.sum() and not (d & mask).any() and allowed[d].all()
    assert len({d.tobytes() for d in draws}) > 1
    # One shape per given mask: the two pieces move together.
    pair = np.zeros_like(mask)
    pair[50:54, 60:64] = pair[50:54, 70:74] = True
    (moved,) = place_at_random([pair], np.ones_like(mask), rng, 1)
    ys, xs = np.nonzero(moved)
    assert moved.sum() == 32 and xs.max() - xs.min() == 13 and ys.max() - ys.min() == 3


def test_place_at_random_returns_fewer_when_shapes_do_not_fit() -> None:
    rng = np.random.default_rng(1)
    mask = np.zeros((100, 100), bool)
    mask[40:60, 40:60] = True
    thin = border_band(mask.shape, 0.05)  # 5 px wide: a 20 px square never fits
    assert place_at_random(mask, thin, rng, 5, max_tries=50) == []
    assert place_at_random(np.zeros_like(mask), thin, rng, 5) == []
    assert place_at_random(mask, np.zeros_like(mask), rng, 5) == []


def test_fill_holes_agrees_with_scipy() -> None:
    from scipy import ndimage as ndi

    from assurexray.shortcuts.regions import fill_holes

    rng = np.random.default_rng(3)
    for density in (0.3, 0.5, 0.7):
        mask = rng.random((60, 45)) < density
        np.testing.assert_array_equal(fill_holes(mask), ndi.binary_fill_holes(mask))
    ring = np.zeros((9, 9), bool)
    ring[2:7, 2:7] = True
    ring[3:6, 3:6] = False
    assert fill_holes(ring)[4, 4] and fill_holes(ring).sum() == 25


def test_body_mask_in_a_smaller_frame() -> None:
    image = limb()
    small = body_mask(image, (100, 75))
    assert small.shape == (100, 75)
    full = cv2.resize(body_mask(image).astype(np.uint8), (75, 100), interpolation=cv2.INTER_AREA)
    assert (small != (full > 0)).mean() < 0.02


def test_label_components_agrees_with_opencv_32_bit_labels_also_past_65535() -> None:
    from assurexray.shortcuts.regions import label_components

    rng = np.random.default_rng(5)
    grid = np.zeros((600, 600), np.uint8)
    grid[::2, ::2] = 1  # 90 000 components: more than 16 bits can label
    for mask in ((rng.random((120, 90)) < 0.4).astype(np.uint8), grid):
        for connectivity in (4, 8):
            n, lab, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=connectivity)
            got_n, got_lab, got_stats = label_components(mask, connectivity)
            assert got_n == n and np.array_equal(got_stats, stats)
            assert np.array_equal(got_lab.astype(np.int64), lab)
    assert label_components(grid)[1].dtype == np.int32
    assert label_components(grid[:100, :100])[1].dtype == np.uint16
