"""Captum attributions as heatmap methods: against Captum called directly, and the map rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from assurexray.core.errors import ExplainError
from assurexray.explain.attributions import (
    ATTRIBUTION_METHODS,
    HEATMAP_RULES,
    AttributionOptions,
    attribution_to_heatmaps,
    raw_attributions,
)
from assurexray.explain.explainer import Explainer, canonical_method

pytestmark = pytest.mark.usefixtures("one_thread")
OPTIONS = AttributionOptions(n_steps=8, n_samples=4, noise=0.1, window=0.25, seed=3)


@pytest.fixture(scope="module")
def tiny():
    import timm

    torch.manual_seed(0)
    return timm.create_model("test_efficientnet", pretrained=False, num_classes=3).eval()


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def _captum_directly(model, method: str, x: torch.Tensor, target: list[int]) -> torch.Tensor:
    """Each method as Captum's documentation calls it, with the settings of OPTIONS."""
    import captum.attr as ca

    spread = float(x.detach().max() - x.detach().min())
    torch.manual_seed(OPTIONS.seed)
    np.random.seed(OPTIONS.seed)  # GradientSHAP draws its baselines and path points from NumPy
    if method == "integrated_gradients":
        return ca.IntegratedGradients(model).attribute(
            x, baselines=torch.zeros_like(x), target=target, n_steps=8
        )
    if method == "smoothgrad":
        return ca.NoiseTunnel(ca.Saliency(model)).attribute(
            x, nt_type="smoothgrad", nt_samples=4, stdevs=0.1 * spread, target=target
        )
    if method == "gradient_shap":
        baselines = torch.stack(
            [torch.zeros_like(x[0]), torch.full_like(x[0], float(x.detach().min()))]
        )
        return ca.GradientShap(model).attribute(
            x, baselines=baselines, n_samples=4, stdevs=0.1 * spread, target=target
        )
    if method == "occlusion":  # window 0.25 × 32 = 8 px, stride 4 px, over all 3 channels
        return ca.Occlusion(model).attribute(
            x, sliding_window_shapes=(3, 8, 8), strides=(3, 4, 4), baselines=0.0, target=target
        )
    return ca.GuidedGradCam(model, model.bn2).attribute(x, target=target)


@pytest.mark.parametrize("method", ATTRIBUTION_METHODS)
def test_each_method_matches_captum_called_directly(tiny, batch, method: str) -> None:
    target = [2, 0]
    ours = raw_attributions(tiny, method, batch, target, layer=tiny.bn2, options=OPTIONS)
    theirs = _captum_directly(tiny, method, batch.clone().requires_grad_(True), target)
    torch.testing.assert_close(ours, theirs.detach(), rtol=1e-4, atol=1e-6)
    assert ours.abs().sum() > 0
    explainer = Explainer(tiny, method=method, target_layers="bn2", attribution=OPTIONS)
    result = explainer.explain(batch, target)
    np.testing.assert_allclose(result.heatmaps, attribution_to_heatmaps(theirs, method), atol=1e-5)
    assert result.heatmaps.shape == (2, 32, 32) and result.method == method
    assert list(result.targets) == target
    expected_layers = ("bn2",) if method == "guided_gradcam" else ()
    assert result.target_layers == expected_layers


def _by_hand(attribution: np.ndarray, method: str) -> np.ndarray:
    """The documented rule written out with numpy and scipy (not OpenCV)."""
    rule = HEATMAP_RULES[method]
    reduce = {
        "sum": lambda a: a.sum(axis=0),
        "mean": lambda a: a.mean(axis=0),
        "absmax": lambda a: np.abs(a).max(axis=0),
    }[rule.channels]
    out = []
    for image in attribution:
        heatmap = reduce(image)
        heatmap = np.clip(heatmap, 0, None) if rule.sign == "positive" else np.abs(heatmap)
        if rule.smoothing:
            heatmap = gaussian_filter(heatmap, rule.smoothing * heatmap.shape[0], mode="mirror")
        span = heatmap.max() - heatmap.min()
        out.append((heatmap - heatmap.min()) / span if span > 0 else heatmap * 0)
    return np.stack(out)


@pytest.mark.parametrize("method", ATTRIBUTION_METHODS)
def test_the_heatmap_rules_match_a_hand_computation(method: str) -> None:
    rng = np.random.default_rng(0)
    attribution = rng.normal(size=(2, 3, 64, 64)).astype(np.float32)
    attribution[:, :, 20:30, 20:30] += 3.0  # a region of strong positive evidence
    got = attribution_to_heatmaps(attribution, method)
    assert got.shape == (2, 64, 64) and got.dtype == np.float32
    assert got.min() >= 0 and np.isclose(got.max(), 1)
    np.testing.assert_allclose(got, _by_hand(attribution, method), atol=2e-3)
    assert got[:, 22:28, 22:28].mean() > got[:, 45:, 45:].mean()


def test_sign_conventions_differ_as_documented() -> None:
    negative = -np.ones((1, 3, 16, 16), dtype=np.float32)
    negative[:, :, :8] = -5.0  # strong evidence *against* the class at the top
    assert not attribution_to_heatmaps(negative, "integrated_gradients").any()  # positive only
    absolute = attribution_to_heatmaps(negative, "smoothgrad")
    assert absolute[0, :4].mean() > absolute[0, 12:].mean()  # magnitude counts


def test_seeded_and_batched(tiny, batch) -> None:
    first = raw_attributions(tiny, "smoothgrad", batch, [1, 1], options=OPTIONS)
    again = raw_attributions(tiny, "smoothgrad", batch, [1, 1], options=OPTIONS)
    other = AttributionOptions(n_samples=4, noise=0.1, seed=4)
    torch.testing.assert_close(first, again)
    assert not torch.allclose(
        first, raw_attributions(tiny, "smoothgrad", batch, [1, 1], options=other)
    )
    state, numpy_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    raw_attributions(tiny, "gradient_shap", batch, [1, 1], options=OPTIONS)
    assert torch.equal(state, torch.random.get_rng_state())  # the global streams are untouched
    assert np.array_equal(numpy_state, np.random.get_state()[1])
    whole = raw_attributions(tiny, "integrated_gradients", batch, [2, 0], options=OPTIONS)
    alone = raw_attributions(tiny, "integrated_gradients", batch[1:], [0], options=OPTIONS)
    torch.testing.assert_close(whole[1:], alone, rtol=1e-4, atol=1e-6)


def test_names_and_aliases() -> None:
    assert canonical_method("Integrated-Gradients") == "integrated_gradients"
    assert canonical_method("ig") == "integrated_gradients"
    assert canonical_method("GuidedGradCAM") == "guided_gradcam"
    with pytest.raises(ExplainError, match="valid methods: .*smoothgrad"):
        canonical_method("lime")


def test_on_a_vit_where_it_applies() -> None:
    import timm

    vit = timm.create_model("test_vit", pretrained=False, num_classes=3, img_size=32, patch_size=8)
    x = torch.randn(1, 3, 32, 32)
    for method in ("integrated_gradients", "smoothgrad", "gradient_shap", "occlusion"):
        result = Explainer(vit.eval(), method=method, attribution=OPTIONS).explain(x)
        assert result.heatmaps.shape == (1, 32, 32) and result.heatmaps.max() == 1
    with pytest.raises(ExplainError, match="guided_gradcam needs a convolutional feature map"):
        Explainer(vit, method="guided_gradcam")


def test_guided_gradcam_takes_one_layer(tiny) -> None:
    with pytest.raises(ExplainError, match="one target layer, not 2"):
        Explainer(tiny, method="guided_gradcam", target_layers=["blocks.2", "bn2"])
