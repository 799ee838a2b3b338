"""Attention rollout: the pure computation against hand calculations, and on tiny timm ViTs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from assurexray.core.errors import ExplainError
from assurexray.explain.explainer import Explainer
from assurexray.explain.rollout import (
    attention_rollout,
    captured_attention,
    rollout_heatmaps,
    rollout_matrix,
    token_layout,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _reference(layers: list[np.ndarray], fusion: str, ratio: float) -> np.ndarray:
    """Rollout of one image by plain loops: heads fused, lowest entries outside
    the class-token row and column dropped, identity added, rows renormalised."""
    tokens = layers[0].shape[-1]
    result = np.eye(tokens)
    for heads in layers:
        fused = {"mean": heads.mean(0), "max": heads.max(0), "min": heads.min(0)}[fusion].copy()
        eligible = sorted((fused[i, j], i, j) for i in range(1, tokens) for j in range(1, tokens))
        for _, i, j in eligible[: int(len(eligible) * ratio)]:
            fused[i, j] = 0.0
        step = (fused + np.eye(tokens)) / 2
        step /= step.sum(axis=1, keepdims=True)
        result = step @ result
    return result[0, 1:]


def _random_attention(rng: np.random.Generator, batch: int, heads: int, tokens: int) -> np.ndarray:
    logits = rng.normal(size=(batch, heads, tokens, tokens))
    weights = np.exp(logits)
    return weights / weights.sum(axis=-1, keepdims=True)


def test_one_block_by_hand() -> None:
    attention = torch.tensor([[[[0.5, 0.25, 0.25], [0.2, 0.6, 0.2], [0.1, 0.1, 0.8]]]])
    # (A + I) / 2 keeps rows summing to 1; the class-token row is [0.75, 0.125, 0.125].
    plain = attention_rollout([attention])
    np.testing.assert_allclose(plain.numpy(), [[0.125, 0.125]], atol=1e-7)
    # Discarding half of the 4 patch-patch entries drops 0.1 at (2, 1) and 0.2 at (1, 2):
    # row 1 becomes [0.2, 0.6, 0] -> (+I)/2 = [0.1, 0.8, 0] -> /0.9.
    matrix = rollout_matrix([attention], discard_ratio=0.5)[0].numpy()
    np.testing.assert_allclose(matrix[1], [1 / 9, 8 / 9, 0.0], atol=1e-6)
    np.testing.assert_allclose(matrix[0], [0.75, 0.125, 0.125], atol=1e-7)


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("ratio", [0.0, 0.5])
def test_two_layers_two_heads_five_tokens_match_hand_computation(fusion: str, ratio: float) -> None:
    rng = np.random.default_rng(3)
    layers = [_random_attention(rng, batch=2, heads=2, tokens=5) for _ in range(2)]
    got = attention_rollout(
        [torch.from_numpy(a).float() for a in layers], head_fusion=fusion, discard_ratio=ratio
    )
    for image in range(2):
        expected = _reference([a[image] for a in layers], fusion, ratio)
        np.testing.assert_allclose(got[image].numpy(), expected, rtol=1e-5, atol=1e-6)


def test_discard_never_touches_the_class_token_row_or_column() -> None:
    rng = np.random.default_rng(1)
    attention = torch.from_numpy(_random_attention(rng, 1, 1, 5)).float()
    attention[0, 0, 0, 1:] = 1e-6  # the class token's weakest links survive
    attention[0, 0, 1:, 0] = 1e-6
    attention[0, 0, range(1, 5), range(1, 5)] = 5.0  # keep the patch diagonal
    matrix = rollout_matrix([attention], discard_ratio=0.5)[0]
    assert (matrix[0] > 0).all() and (matrix[:, 0] > 0).all()
    assert int((matrix[1:, 1:] == 0).sum()) == 8  # half of the 16 patch-patch entries


def test_bad_arguments() -> None:
    attention = torch.full((1, 1, 3, 3), 1 / 3)
    with pytest.raises(ExplainError, match="mean, max, min"):
        rollout_matrix([attention], head_fusion="median")
    with pytest.raises(ExplainError, match="discard_ratio"):
        rollout_matrix([attention], discard_ratio=1.0)
    with pytest.raises(ExplainError, match="at least one"):
        rollout_matrix([])


@pytest.fixture(scope="module")
def tiny_vit():
    import timm

    torch.manual_seed(0)
    return timm.create_model("test_vit", pretrained=False, num_classes=3, img_size=64).eval()


def test_model_rollout_is_input_size_and_restores_fused_attention(tiny_vit) -> None:
    blocks = tiny_vit.blocks
    blocks[0].attn.fused_attn = True
    blocks[1].attn.fused_attn = False
    x = torch.randn(2, 3, 64, 64)
    maps, logits = rollout_heatmaps(tiny_vit, x, head_fusion="max", discard_ratio=0.9)
    assert maps.shape == (2, 64, 64) and maps.dtype == np.float32
    assert np.isfinite(maps).all() and maps.min() >= 0 and np.isclose(maps.max(), 1, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(logits, tiny_vit(x), rtol=1e-4, atol=1e-5)
    assert blocks[0].attn.fused_attn is True and blocks[1].attn.fused_attn is False
    assert all(not b.attn.attn_drop._forward_hooks for b in blocks)
    blocks[1].attn.fused_attn = True


def test_fused_attention_restored_after_an_error(tiny_vit) -> None:
    flags = [b.attn.fused_attn for b in tiny_vit.blocks]
    with pytest.raises(RuntimeError):
        rollout_heatmaps(tiny_vit, torch.randn(1, 1, 64, 64))  # wrong channel count
    assert [b.attn.fused_attn for b in tiny_vit.blocks] == flags
    assert all(not b.attn.attn_drop._forward_hooks for b in tiny_vit.blocks)


def test_captured_attention_matches_the_pure_function(tiny_vit) -> None:
    x = torch.randn(1, 3, 64, 64)
    with captured_attention(tiny_vit) as attentions, torch.no_grad():
        tiny_vit(x)
    assert len(attentions) == len(tiny_vit.blocks)
    assert attentions[0].shape == (1, 2, 17, 17)  # 2 heads, class token + 4×4 patches
    grid = attention_rollout(attentions, discard_ratio=0.5).reshape(4, 4).numpy()
    maps, _ = rollout_heatmaps(tiny_vit, x, discard_ratio=0.5)
    # Min-max scaled, upsampled to the input, min-max scaled again.
    expected = cv2.resize((grid - grid.min()) / (grid.max() - grid.min() + 1e-7), (64, 64))
    expected = (expected - expected.min()) / (expected.max() - expected.min() + 1e-7)
    np.testing.assert_allclose(maps[0], expected, atol=1e-5)


def test_register_tokens_and_no_class_token() -> None:
    import timm

    with_registers = timm.create_model(
        "test_vit", pretrained=False, num_classes=3, img_size=64, reg_tokens=4
    ).eval()
    assert token_layout(with_registers, (64, 64)) == (5, (4, 4))
    maps, _ = rollout_heatmaps(with_registers, torch.randn(1, 3, 64, 64))
    assert maps.shape == (1, 64, 64) and np.isfinite(maps).all()

    pooled = timm.create_model(
        "test_vit",
        pretrained=False,
        num_classes=3,
        img_size=64,
        class_token=False,
        global_pool="avg",
    ).eval()
    assert token_layout(pooled, (64, 64)) == (0, (4, 4))
    maps, _ = rollout_heatmaps(pooled, torch.randn(1, 3, 64, 64))
    assert maps.shape == (1, 64, 64) and np.isfinite(maps).all()


def test_rollout_through_the_explainer(tiny_vit) -> None:
    explainer = Explainer(tiny_vit, method="rollout", class_names=("a", "b", "c"))
    result = explainer.explain(torch.randn(2, 3, 64, 64), targets=[None, "c"])
    assert result.heatmaps.shape == (2, 64, 64) and result.method == "rollout"
    assert result.targets[0] == result.predicted[0] and result.targets[1] == 2
    assert result.target_layers[0] == "blocks.0.attn" and not result.used_fast_path
    with pytest.raises(ExplainError, match="vision transformer"):
        Explainer(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1)), method="rollout")


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
def test_explainer_rollout_options_match_an_independent_computation(tiny_vit, fusion) -> None:
    """Explainer(head_fusion=..., discard_ratio=...) against plain loops over captured attention."""
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with captured_attention(tiny_vit) as attentions, torch.no_grad():
        tiny_vit(x)
    explainer = Explainer(tiny_vit, method="rollout", head_fusion=fusion, discard_ratio=0.5)
    assert (explainer.head_fusion, explainer.discard_ratio) == (fusion, 0.5)
    maps = explainer.explain(x).heatmaps
    for image in range(2):
        layers = [a[image].double().numpy() for a in attentions]
        grid = _reference(layers, fusion, 0.5).reshape(4, 4).astype(np.float32)
        expected = cv2.resize((grid - grid.min()) / (grid.max() - grid.min() + 1e-7), (64, 64))
        expected = (expected - expected.min()) / (expected.max() - expected.min() + 1e-7)
        np.testing.assert_allclose(maps[image], expected, atol=1e-4)


def test_the_fusions_give_different_maps_and_the_default_is_mean_at_090(tiny_vit) -> None:
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    default = Explainer(tiny_vit, method="rollout")
    assert (default.head_fusion, default.discard_ratio) == ("mean", 0.9)
    maps = {
        f: Explainer(tiny_vit, method="rollout", head_fusion=f, discard_ratio=0.0)
        .explain(x)
        .heatmaps
        for f in ("mean", "max", "min")
    }
    assert not np.allclose(maps["mean"], maps["max"]) and not np.allclose(maps["max"], maps["min"])
    explicit = Explainer(tiny_vit, method="rollout", head_fusion="mean", discard_ratio=0.9)
    np.testing.assert_array_equal(default.explain(x).heatmaps, explicit.explain(x).heatmaps)


def test_bad_rollout_options_are_one_line_errors(tiny_vit) -> None:
    with pytest.raises(ExplainError, match=r"head fusion 'median' is not one of mean, max, min"):
        Explainer(tiny_vit, method="rollout", head_fusion="median")
    with pytest.raises(ExplainError, match=r"discard_ratio must be in \[0, 1\), got 1.5"):
        Explainer(tiny_vit, method="rollout", discard_ratio=1.5)
