"""Heatmaps: the fast path and every wrapper checked against pytorch-grad-cam and Captum."""

from __future__ import annotations

import gc
from pathlib import Path

import cv2
import numpy as np
import pytest
import pytorch_grad_cam as pgc
import timm
import torch
from pytorch_grad_cam.base_cam import BaseCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from assurexray.core.errors import ExplainError
from assurexray.explain.cam_methods import combine_layers
from assurexray.explain.explainer import (
    Explainer,
    available_methods,
    feature_stages,
    heatmaps_to_original,
    resolve_target_layers,
)
from assurexray.imaging.preprocess import PreprocessConfig, preprocess_image
from assurexray.models.model import build_model

NAMES = ("Normal", "Benign", "Malignant")
SIZE = 96


pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny(arch: str, seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return timm.create_model(arch, pretrained=False, num_classes=3, **kwargs).eval()


def _batch(n: int = 3, size: int = SIZE, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _reference(cam_class, model, layers, x, targets, reshape_transform=None) -> np.ndarray:
    """pytorch-grad-cam used directly, as its README shows."""
    with cam_class(model, layers, reshape_transform=reshape_transform) as cam:
        return cam(x, [ClassifierOutputTarget(int(t)) for t in targets])


def _normalise(maps: np.ndarray, size: int) -> np.ndarray:
    """Min-max, cv2 upsampling, min-max: pytorch-grad-cam's recipe, written out."""
    out = []
    for m in maps:
        m = (m - m.min()) / (m.max() - m.min() + 1e-7)
        m = cv2.resize(m.astype(np.float32), (size, size))
        out.append((m - m.min()) / (m.max() - m.min() + 1e-7))
    return np.stack(out)


class SmallCNN(nn.Module):
    """Not a timm model: no forward_features, so never the fast path."""

    def __init__(self, conv_head: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        )  # fmt: skip
        pool = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        head = [nn.Conv2d(16, 3, 1), *pool] if conv_head else [*pool, nn.Linear(16, 3)]
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@pytest.fixture(scope="module")
def effnet() -> nn.Module:
    torch.manual_seed(0)
    return build_model("test_efficientnet", num_classes=3).eval()


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    return _tiny("test_resnet")


# -- the exact fast path ---------------------------------------------------------


# One contract over every family the README names, as timm's tests/test_models.py
# runs one contract over many models: the Explainer's Grad-CAM equals
# pytorch-grad-cam's at the same layer, through the forward-only path where the
# head is average pooling + one linear layer, through pytorch-grad-cam elsewhere.
FAMILIES = {
    # name: (timm architecture, tiny-config keyword arguments, forward-only path expected)
    "efficientnet": ("test_efficientnet", {}, True),
    "resnet": ("test_resnet", {}, True),
    "resnet10t": ("resnet10t", {}, True),
    "densenet": ("densenet121", {"growth_rate": 8, "block_config": (1, 1, 1, 1)}, True),
    "regnet": ("regnetx_002", {}, True),
    "convnext": ("test_convnext", {}, False),  # LayerNorm after the pooling
    "mobilenetv3": ("mobilenetv3_small_050", {}, False),  # conv_head after the pooling
    "resnet-maxpool": ("test_resnet", {"global_pool": "max"}, False),
    "vit": ("test_vit", {"img_size": 64}, False),  # tokens, not a spatial map
}


@pytest.mark.parametrize("family", FAMILIES)
def test_gradcam_equals_pytorch_grad_cam_for_every_family(family: str) -> None:
    arch, kwargs, fast = FAMILIES[family]
    model = _tiny(arch, **kwargs)
    x = _batch(2, 64)
    explainer = Explainer(model)
    result = explainer.explain(x)
    assert result.used_fast_path == fast, explainer.fast_path_reason
    layer = model.get_submodule(result.target_layers[0])
    reshape = _vit_reshape(1, 4) if family == "vit" else None
    expected = _reference(pgc.GradCAM, model, [layer], x, result.targets, reshape)
    assert np.abs(result.heatmaps - expected).max() <= 1e-4
    np.testing.assert_array_equal(result.targets, result.predicted)
    with torch.no_grad():
        logits = model(x)
    np.testing.assert_allclose(result.logits, logits.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-6)
    wanted = [2, 0]  # classes other than the predicted ones too
    chosen = explainer.explain(x, wanted)
    expected = _reference(pgc.GradCAM, model, [layer], x, wanted, reshape)
    assert np.abs(chosen.heatmaps - expected).max() <= 1e-4


def test_feature_stages_of_every_cnn_family() -> None:
    """Stages are timm's own stage outputs (feature_info), ending at the auto target layer."""
    for family in ("efficientnet", "resnet10t", "densenet", "regnet", "convnext"):
        arch, kwargs, _ = FAMILIES[family]
        model = _tiny(arch, **kwargs)
        stages = feature_stages(model, (3, 64, 64))
        assert [s.stride for s in stages[-3:]] == [8, 16, 32], family
        assert stages[-1].name == resolve_target_layers(model, input_size=(3, 64, 64))[0][0]
        info = [i["module"] for i in model.feature_info if i["reduction"] in (8, 16)]
        with torch.no_grad():
            sizes = [o.shape[-2:] for o in _stage_outputs(model, [s.name for s in stages[-3:]])]
        assert [tuple(s) for s in sizes] == [(8, 8), (4, 4), (2, 2)], family
        if family != "densenet":  # timm names densenet's stages by their transition layers
            assert [s.name for s in stages[-3:-1]] == info[-2:], family


def _stage_outputs(model: nn.Module, names: list[str]) -> list[torch.Tensor]:
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        model.get_submodule(n).register_forward_hook(
            lambda _m, _i, out, n=n: outputs.__setitem__(n, out)
        )
        for n in names
    ]
    model(torch.zeros(1, 3, 64, 64))
    for handle in handles:
        handle.remove()
    return [outputs[n] for n in names]


def test_fast_path_can_be_switched_off_and_agrees(effnet: nn.Module) -> None:
    x = _batch()
    fast = Explainer(effnet).explain(x)
    slow = Explainer(effnet, fast_path=False).explain(x)
    assert fast.used_fast_path and not slow.used_fast_path
    assert np.abs(fast.heatmaps - slow.heatmaps).max() <= 1e-4
    np.testing.assert_allclose(fast.logits, slow.logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "make, layer, reason",
    [
        (lambda: SmallCNN(conv_head=True), "features", "forward_features"),
        (lambda: _tiny("test_resnet", global_pool="max"), "auto", "average pooling"),
        (lambda: _tiny("test_convnext"), "auto", "average pooling"),  # LayerNorm after the pool
        (lambda: _tiny("test_resnet"), "layer3", "not the final feature map"),
    ],
    ids=["conv-head", "max-pool", "convnext-norm-head", "inner-layer"],
)
def test_fast_path_skipped_where_not_exact(make, layer: str, reason: str) -> None:
    model = make().eval()
    x = _batch(2, 64)
    explainer = Explainer(model, target_layers=layer)
    result = explainer.explain(x)
    assert not result.used_fast_path
    assert reason in explainer.fast_path_reason
    layers = [model.get_submodule(name) for name in result.target_layers]
    expected = _reference(pgc.GradCAM, model, layers, x, result.targets)
    assert np.abs(result.heatmaps - expected).max() <= 1e-6


# -- agreement with independent implementations ------------------------------------


@pytest.mark.parametrize("which", ["small-cnn", "resnet-fast-path"])
def test_matches_captum_layer_gradcam(which: str, resnet: nn.Module) -> None:
    from captum.attr import LayerGradCam

    torch.manual_seed(2)
    model, layer = (SmallCNN().eval(), "features") if which == "small-cnn" else (resnet, "layer4")
    x = _batch(3, 64)
    result = Explainer(model, target_layers=layer).explain(x)
    assert result.used_fast_path == (which != "small-cnn")
    captum = LayerGradCam(model, model.get_submodule(layer))
    raw = captum.attribute(x, target=torch.as_tensor(result.targets), relu_attributions=True)
    expected = _normalise(raw[:, 0].detach().numpy(), 64)
    assert np.abs(result.heatmaps - expected).max() <= 1e-4


def test_gradcam_plusplus_equals_its_own_class(effnet: nn.Module) -> None:
    x = _batch()
    result = Explainer(effnet, method="GradCAM++").explain(x, targets=[0, 1, 2])
    assert result.method == "gradcam++" and not result.used_fast_path
    expected = _reference(pgc.GradCAMPlusPlus, effnet, [effnet.bn2], x, [0, 1, 2])
    assert np.abs(result.heatmaps - expected).max() <= 1e-6


@pytest.mark.parametrize("method", [m for m in available_methods() if m != "rollout"])
def test_every_method_gives_clean_maps(method: str) -> None:
    torch.manual_seed(0)
    model = SmallCNN().eval()
    explainer = Explainer(model, method=method, class_names=NAMES, target_layers="features")
    result = explainer.explain(_batch(2, 64), "Benign")
    assert result.heatmaps.shape == (2, 64, 64) and result.heatmaps.dtype == np.float32
    assert np.isfinite(result.heatmaps).all()
    assert result.heatmaps.min() >= 0 and result.heatmaps.max() <= 1
    assert list(result.targets) == [1, 1]


# -- target layers -------------------------------------------------------------------


def _vgg() -> nn.Module:
    from timm.models.vgg import VGG

    torch.manual_seed(0)
    return VGG(cfg=[8, "M", 16, "M", 32, "M"], num_classes=3).eval()


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: _tiny("test_resnet"), "layer4"),
        (lambda: _tiny("densenet121"), "features"),
        (lambda: _tiny("test_efficientnet"), "bn2"),
        (lambda: _tiny("mobilenetv3_small_050"), "blocks"),
        (_vgg, "features"),
        (lambda: _tiny("test_convnext"), "stages"),
        (lambda: _tiny("regnetx_002"), "s4"),
    ],
    ids=["resnet", "densenet", "efficientnet", "mobilenetv3", "vgg", "convnext", "regnet"],
)
def test_auto_finds_the_last_feature_map(make, expected: str) -> None:
    model = make()
    (name, layer), *rest = resolve_target_layers(model, "auto", input_size=(3, 64, 64))
    assert name == expected and not rest
    with torch.no_grad():
        features = model.forward_features(torch.zeros(1, 3, 64, 64))
    assert features.ndim == 4 and min(features.shape[2:]) > 1
    result = Explainer(model, target_layers=[layer]).explain(_batch(1, 64))
    assert result.target_layers == (expected,) and np.isfinite(result.heatmaps).all()


def test_named_layers_and_close_match_suggestions(resnet: nn.Module) -> None:
    assert [n for n, _ in resolve_target_layers(resnet, "layer3, layer4")] == ["layer3", "layer4"]
    assert resolve_target_layers(resnet, [resnet.layer4, "layer4"]) == [("layer4", resnet.layer4)]
    assert resolve_target_layers(resnet, "layer3.-1")[0][0] == "layer3.0"  # one block per stage
    with pytest.raises(ExplainError, match="did you mean layer4"):
        resolve_target_layers(resnet, "layer_4")
    with pytest.raises(ExplainError, match="top-level modules: conv1"):
        resolve_target_layers(resnet, "xyz")
    with pytest.raises(ExplainError, match="not part of the model"):
        resolve_target_layers(resnet, nn.Conv2d(1, 1, 1))


def test_multi_layer_aggregation(resnet: nn.Module) -> None:
    x = _batch(2, 64)
    layers = [resnet.layer3, resnet.layer4]
    mean = Explainer(resnet, target_layers="layer3,layer4").explain(x)
    expected = _reference(pgc.GradCAM, resnet, layers, x, mean.targets)
    assert np.abs(mean.heatmaps - expected).max() <= 1e-6  # pytorch-grad-cam's own mean
    weighted = Explainer(resnet, target_layers=layers, aggregation="weighted").explain(x)
    assert weighted.heatmaps.shape == mean.heatmaps.shape and np.isfinite(weighted.heatmaps).all()


def test_combine_layers_by_hand() -> None:
    a = np.array([[[[0.0, 1.0], [0.5, 0.0]]]], np.float32)  # N=1, one layer, 2×2
    b = np.array([[[[1.0, 0.0], [0.5, 0.0]]]], np.float32)
    np.testing.assert_allclose(combine_layers([a, b], "max")[0], [[1, 1], [0.5, 0]], atol=1e-6)
    np.testing.assert_allclose(combine_layers([a, b], "mean")[0], [[1, 1], [1, 0]], atol=1e-6)
    c = np.array([[[[0.0, 0.0], [0.0, 1.0]]]], np.float32)  # mass 1/4 vs 3/8 for b
    by_mass = combine_layers([b, c], "weighted")[0]
    np.testing.assert_allclose(by_mass, np.array([[0.6, 0], [0.3, 0.4]]) / 0.6, atol=1e-6)


# -- transformers ----------------------------------------------------------------------


def _vit_reshape(prefix: int, grid: int):
    def transform(tokens: torch.Tensor) -> torch.Tensor:  # pytorch-grad-cam's ViT tutorial
        result = tokens[:, prefix:, :].reshape(tokens.size(0), grid, grid, tokens.size(2))
        return result.transpose(2, 3).transpose(1, 2)

    return transform


@pytest.mark.parametrize("registers", [0, 4])
def test_gradcam_on_a_tiny_vit(registers: int) -> None:
    model = _tiny("test_vit", img_size=64, reg_tokens=registers)
    x = _batch(2, 64)
    result = Explainer(model).explain(x)
    assert result.target_layers == ("blocks.5.norm1",) and not result.used_fast_path
    assert result.heatmaps.shape == (2, 64, 64) and np.isfinite(result.heatmaps).all()
    reshape = _vit_reshape(1 + registers, 4)
    expected = _reference(pgc.GradCAM, model, [model.blocks[5].norm1], x, result.targets, reshape)
    assert np.abs(result.heatmaps - expected).max() <= 1e-6
    assert resolve_target_layers(model, "blocks.-2.norm1")[0][0] == "blocks.4.norm1"


def test_swin_style_channels_last_maps() -> None:
    from timm.models.swin_transformer import SwinTransformer

    torch.manual_seed(0)
    model = SwinTransformer(
        img_size=64, patch_size=4, window_size=4, embed_dim=16, depths=(1, 1), num_heads=(1, 2),
        num_classes=3,
    ).eval()  # fmt: skip
    x = _batch(2, 64)
    result = Explainer(model).explain(x)
    assert result.target_layers == ("norm",) and result.used_fast_path  # GAP + Linear head
    layer = model.get_submodule("norm")
    to_nchw = lambda t: t.permute(0, 3, 1, 2)  # noqa: E731
    expected = _reference(pgc.GradCAM, model, [layer], x, result.targets, to_nchw)
    assert np.abs(result.heatmaps - expected).max() <= 1e-4
    inner = Explainer(model, target_layers="layers.0").explain(x)
    assert not inner.used_fast_path and np.isfinite(inner.heatmaps).all()


# -- targets, batches, output ---------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False])
def test_mixed_targets_equal_one_image_at_a_time(fast: bool, effnet: nn.Module) -> None:
    x = _batch(3)
    explainer = Explainer(effnet, class_names=NAMES, fast_path=fast)
    wanted = ["Benign", 0, None]
    batch = explainer.explain(x, targets=wanted)
    assert batch.used_fast_path == fast
    assert list(batch.targets[:2]) == [1, 0] and batch.targets[2] == batch.predicted[2]
    for i, target in enumerate(wanted):
        single = explainer.explain(x[i], targets=[target])
        assert np.abs(single.heatmaps[0] - batch.heatmaps[i]).max() <= 1e-4
        assert single.targets[0] == batch.targets[i]


def test_bad_requests_are_one_line_errors(effnet: nn.Module) -> None:
    explainer = Explainer(effnet, class_names=NAMES)
    x = _batch(2, 64)
    with pytest.raises(ExplainError, match="valid methods: gradcam, gradcam\\+\\+, hirescam"):
        Explainer(effnet, method="gradcam3")
    with pytest.raises(ExplainError, match="known classes: Normal, Benign, Malignant"):
        explainer.explain(x, targets="Osteosarcoma")
    with pytest.raises(ExplainError, match="out of range"):
        explainer.explain(x, targets=3)
    with pytest.raises(ExplainError, match="3 targets given for a batch of 2"):
        explainer.explain(x, targets=[0, 1, 2])
    with pytest.raises(ExplainError, match="aggregation"):
        Explainer(effnet, aggregation="median")
    assert list(explainer.explain(x, targets="malignant").targets) == [2, 2]
    assert list(explainer.explain(x, targets=np.array([0, 1])).targets) == [0, 1]


@pytest.mark.parametrize("fast", [True, False])
def test_all_zero_maps_stay_zero_and_are_flagged(fast: bool) -> None:
    model = _tiny("test_resnet")
    with torch.no_grad():  # layer4 ends in a ReLU: negative weights leave no positive evidence
        model.fc.weight.copy_(-model.fc.weight.abs())
    result = Explainer(model, fast_path=fast).explain(_batch(2, 64))
    assert result.used_fast_path == fast
    assert result.empty.all() and not np.isnan(result.heatmaps).any()
    assert (result.heatmaps == 0).all()


def test_training_mode_is_restored() -> None:
    model = _tiny("test_resnet").train()
    model.layer1.eval()  # a frozen part stays frozen
    Explainer(model).explain(_batch(2, 64))
    assert model.training and model.layer4.training and not model.layer1.training


def test_heatmaps_back_to_the_original_frame(effnet: nn.Module) -> None:
    config = PreprocessConfig(image_size=64)
    rng = np.random.default_rng(0)
    images = [rng.random((80, 50), dtype=np.float32), rng.random((40, 70), dtype=np.float32)]
    inputs, geometries = zip(*(preprocess_image(image, config) for image in images), strict=True)
    result = Explainer(effnet).explain(np.stack(inputs))
    back = heatmaps_to_original(result.heatmaps, geometries)
    assert [b.shape for b in back] == [(80, 50), (40, 70)]
    assert all(b.dtype == np.float32 and 0 <= b.min() and b.max() <= 1 for b in back)
    with pytest.raises(ExplainError, match="2 heatmaps but 1 geometries"):
        heatmaps_to_original(result.heatmaps, geometries[:1])


def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096


def _hook_count(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_hooks_released_and_memory_flat_over_200_calls() -> None:
    model = _tiny("test_efficientnet")
    x = _batch(2, 64)
    explainers = [Explainer(model, fast_path=False), Explainer(model, method="gradcam++")]
    for explainer in explainers:
        explainer.explain(x)
    gc.collect()
    before = _rss_bytes()
    for _ in range(100):
        for explainer in explainers:
            explainer.explain(x)
            assert _hook_count(model) == 0
    gc.collect()
    assert not [o for o in gc.get_objects() if issubclass(type(o), BaseCAM)]
    grown = (_rss_bytes() - before) / 2**20
    assert grown < 30, f"resident memory grew by {grown:.1f} MiB over 200 calls"
