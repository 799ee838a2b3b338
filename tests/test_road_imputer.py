"""ROAD's imputation: the vectorised system equals pytorch-grad-cam's, and so do the images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_grad_cam.metrics.perturbation_confidence import RemoveMostRelevantFirst
from pytorch_grad_cam.metrics.road import NoisyLinearImputer, neighbors_weights

from assurexray.evaluation.road_imputer import DeferredImputer, FastImputer, sparse_system


@pytest.fixture
def image() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(1).random((3, 24, 20), dtype=np.float32))


@pytest.mark.parametrize("removed", [0.05, 0.5, 0.95])
def test_system_equals_the_library(image, removed):
    mask = (np.random.default_rng(2).random((24, 20)) >= removed).astype(np.float32)
    mask[0, :] = 0  # removed pixels on the frame's edge lose their outside neighbours
    expected_a, expected_b = NoisyLinearImputer.setup_sparse_system(
        mask, image.numpy(), neighbors_weights
    )
    a, b = sparse_system(mask, image.numpy())
    assert a.shape == expected_a.shape == (int((mask == 0).sum()),) * 2
    assert abs(a - expected_a.tocsc()).max() == 0
    np.testing.assert_array_equal(b, expected_b)


def test_filled_images_equal_the_library(image):
    mask = torch.from_numpy((np.random.default_rng(3).random((24, 20)) > 0.4).astype(np.float32))
    torch.manual_seed(7)
    expected = NoisyLinearImputer()(image, mask)
    torch.manual_seed(7)
    ours = FastImputer()(image, mask)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)
    kept = mask.bool()
    assert torch.equal(ours[:, kept], image[:, kept])  # only removed pixels change
    assert not torch.equal(ours[:, ~kept], image[:, ~kept])


def test_deferred_imputations_equal_sequential_ones_in_call_order(image):
    cams = [torch.from_numpy(np.random.default_rng(s).random((24, 20))) for s in range(3)]
    torch.manual_seed(11)
    expected = [
        RemoveMostRelevantFirst(p, NoisyLinearImputer())(image, cam)
        for cam in cams
        for p in (20, 60)
    ]
    deferred = DeferredImputer()
    for cam in cams:
        for p in (20, 60):
            RemoveMostRelevantFirst(p, deferred)(image, cam)
    torch.manual_seed(11)
    ours = deferred.run(workers=2)
    assert len(ours) == len(expected) and deferred.calls == []
    for got, want in zip(ours, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert not torch.equal(ours[0], ours[1])  # the percentiles remove different pixels


def test_nothing_removed_leaves_the_image_as_the_library_does(image):
    mask = torch.ones(24, 20)
    torch.manual_seed(3)
    expected = NoisyLinearImputer()(image, mask)
    torch.manual_seed(3)
    assert torch.equal(FastImputer()(image, mask), expected)
    assert torch.equal(expected, image)
    deferred = DeferredImputer()
    deferred(image, mask)
    deferred(image, torch.from_numpy((np.arange(480).reshape(24, 20) % 3 > 0).astype(np.float32)))
    first, second = deferred.run(workers=2)
    assert torch.equal(first, image) and not torch.equal(second, image)
