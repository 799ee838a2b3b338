"""The audit's engine: candidates from strides, shared-pass maps equal to pytorch-grad-cam,
baselines, batched ROAD equal to pytorch-grad-cam's ROADCombined, sanity cascade, stability."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from pytorch_grad_cam.metrics.road import ROADCombined
from pytorch_grad_cam.utils.model_targets import (
    ClassifierOutputSoftmaxTarget,
    ClassifierOutputTarget,
)

from assurexray.core.errors import ExplainError
from assurexray.evaluation.baselines import baseline_maps, centre_map, edge_map, random_map
from assurexray.evaluation.faithfulness import road_scores
from assurexray.evaluation.sanity import (
    cascade_steps,
    map_similarity,
    randomisation_test,
    randomise,
)
from assurexray.evaluation.stability import PERTURBATIONS, aligned, perturb, stability_ssim
from assurexray.explain.cam_engine import SHARED_METHODS, CandidateMaps
from assurexray.explain.cam_methods import CAM_METHODS
from assurexray.explain.candidates import Candidate, build_candidates, default_layers
from assurexray.explain.target_layers import feature_stages

SIZE = 64


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("test_efficientnet", pretrained=False, num_classes=3).eval()


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return torch.randn(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def library_map(model, candidate: Candidate, x: torch.Tensor, targets) -> np.ndarray:
    """The candidate's maps computed by pytorch-grad-cam on its own."""
    cam = CAM_METHODS[candidate.method](model, [model.get_submodule(n) for n in candidate.layers])
    try:
        return cam(x, [ClassifierOutputTarget(t) for t in targets])
    finally:
        cam.activations_and_grads.release()


@pytest.mark.parametrize(
    "arch, final, expected",
    [
        ("efficientnet_b0", "bn2", ["bn2", "blocks.4", "blocks.2"]),
        ("resnet18", "layer4", ["layer4", "layer3", "layer2"]),
    ],
)
def test_default_layers_are_the_final_map_and_two_larger_stages(arch, final, expected):
    model = timm.create_model(arch, pretrained=False, num_classes=3)
    layers = default_layers(model, (3, 128, 128), final)
    assert layers[:3] == [(name,) for name in expected]
    assert layers[3] == tuple(reversed(expected))  # all three combined, shallow to deep


@pytest.mark.parametrize("arch", ["efficientnet_b0", "resnet18", "regnetx_002"])
def test_stages_measured_by_a_forward_pass_agree_with_timm_feature_info(arch):
    model = timm.create_model(arch, pretrained=False, num_classes=3).eval()
    recorded = {info["reduction"]: info["module"] for info in model.feature_info}
    measured = {stage.stride: stage.name for stage in feature_stages(model, (3, 128, 128))}
    for stride in (8, 16):
        assert measured[stride] == recorded[stride]


def test_candidates_name_unknown_methods_and_layers(tiny):
    kwargs = dict(final_layer="bn2", input_size=(3, SIZE, SIZE))
    with pytest.raises(ExplainError, match="unknown heatmap method 'nope'"):
        build_candidates(tiny, methods=["nope"], **kwargs)
    with pytest.raises(ExplainError, match="bnn2.*did you mean bn2"):
        build_candidates(tiny, methods=["gradcam"], layers=["bnn2"], **kwargs)
    with pytest.raises(ExplainError, match="rollout"):
        build_candidates(tiny, methods=["rollout"], **kwargs)
    chosen = build_candidates(
        tiny, methods=["GradCAM++", "gradcam"], layers=["auto", "blocks.3+bn2"], **kwargs
    )
    assert [c.name for c in chosen] == [
        "gradcam++@bn2",
        "gradcam@bn2",
        "gradcam++@blocks.3+bn2",
        "gradcam@blocks.3+bn2",
    ]


def test_shared_pass_equals_pytorch_grad_cam_for_every_method_and_layer(tiny, batch):
    candidates = [
        Candidate(method, layers)
        for method in sorted(SHARED_METHODS)
        for layers in (("bn2",), ("blocks.2",), ("blocks.2", "blocks.3", "bn2"))
    ]
    targets = [0, 2, 1]
    maps, logits = CandidateMaps(tiny, candidates)(batch, targets)
    with torch.no_grad():
        torch.testing.assert_close(logits, tiny(batch))
    for candidate in candidates:
        expected = library_map(tiny, candidate, batch, targets)
        np.testing.assert_allclose(
            maps[candidate.name], expected, atol=1e-6, err_msg=candidate.name
        )


def test_forward_only_path_when_no_candidate_needs_a_backward_pass(tiny, batch):
    candidates = [Candidate("gradcam", ("bn2",)), Candidate("eigencam", ("bn2",))]
    engine = CandidateMaps(tiny, candidates, final_layer="bn2")
    assert not engine.needs_backward
    maps, _ = engine(batch, [1, 1, 1])
    for candidate in candidates:
        expected = library_map(tiny, candidate, batch, [1, 1, 1])
        np.testing.assert_allclose(maps[candidate.name], expected, atol=1e-4)


def test_baselines():
    centre = centre_map(9)
    assert centre.argmax() == 4 * 9 + 4 and centre.max() == pytest.approx(1.0, abs=1e-6)
    image = np.zeros((16, 16), np.float32)
    image[:, 8:] = 1.0  # a vertical step
    edges = edge_map(image)
    assert set(np.unique(edges.argmax(axis=1))) <= {7, 8}
    other = image.copy()
    other[0, 0] = 0.5
    assert np.array_equal(random_map(image), random_map(image.copy()))  # same pixels, same noise
    assert not np.array_equal(random_map(image), random_map(other))
    maps = baseline_maps("random", np.stack([image, other]))
    assert maps.shape == (2, 16, 16) and 0.4 < maps.mean() < 0.6
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_maps("sobel", image[None])


def test_batched_road_equals_pytorch_grad_cam(tiny, batch):
    rng = np.random.default_rng(0)
    maps = {
        "a": rng.random((3, SIZE, SIZE), dtype=np.float32),
        "b": rng.random((3, SIZE, SIZE), dtype=np.float32),
    }
    targets = [0, 1, 2]
    ours = road_scores(tiny, batch, maps, targets, seed=5)
    for name, name_maps in maps.items():
        torch.manual_seed(5)
        expected = ROADCombined(percentiles=[20, 40, 60, 80])(
            batch, name_maps, [ClassifierOutputSoftmaxTarget(t) for t in targets], tiny
        )
        np.testing.assert_allclose(ours[name], expected, atol=1e-6)


def test_cascade_starts_with_the_head_then_the_last_blocks(tiny):
    steps = cascade_steps(tiny, depth=2)
    last = len(tiny.blocks) - 1
    assert steps[0].label == "head"
    assert set(steps[0].modules) == {"conv_head", "bn2", "classifier"}
    assert [s.label for s in steps[1:]] == [f"blocks.{last}", f"blocks.{last - 1}"]
    assert steps[2].modules[:-1] == steps[1].modules  # cumulative


def test_randomise_is_reproducible_and_changes_weights(tiny):
    import copy

    first, second = copy.deepcopy(tiny.blocks[-1]), copy.deepcopy(tiny.blocks[-1])
    randomise(first, 3)
    randomise(second, 3)
    before = torch.cat([p.flatten() for p in tiny.blocks[-1].parameters()])
    after = torch.cat([p.flatten() for p in first.parameters()])
    assert torch.equal(after, torch.cat([p.flatten() for p in second.parameters()]))
    assert not torch.allclose(before, after)


def test_sanity_fails_a_map_that_ignores_the_model_and_passes_grad_cam(tiny, batch):
    targets = [0, 1, 2]
    engine_candidates = [Candidate("gradcam", ("bn2",))]

    def maps(model, x, wanted):
        fresh, _ = CandidateMaps(model, engine_candidates)(x, wanted)
        gray = x[:, 0].numpy()
        fresh["edges"] = np.stack([edge_map(g) for g in gray])
        return fresh

    original = maps(tiny, batch, targets)
    results = randomisation_test(tiny, maps, [(batch, targets)], original, depth=1)
    edges, gradcam = results["edges"], results["gradcam@bn2"]
    assert edges.passed is False and edges.steps[-1]["spearman"] == pytest.approx(1.0)
    assert gradcam.passed is True and gradcam.decision_step.startswith("blocks.")
    assert [s["randomised"] for s in gradcam.steps] == ["head", gradcam.decision_step]
    rho, ssim = map_similarity(original["edges"][0], original["edges"][0])
    assert rho == pytest.approx(1.0) and ssim == pytest.approx(1.0)


def test_stability_of_a_map_that_follows_the_image(batch):
    def follows_the_image(x):  # the map is the (shifted) image itself: perfectly stable
        gray = (x[:, 0] - x[:, 0].amin()) / (x[:, 0].amax() - x[:, 0].amin())
        return {"image": gray.numpy(), "constant": np.full((len(x), SIZE, SIZE), 0.5)}, torch.zeros(
            len(x), 3
        )

    original, _ = follows_the_image(batch)
    values, dropped = stability_ssim(
        follows_the_image, batch, original, [0, 0, 0], mean=(0.5,) * 3, std=(0.25,) * 3
    )
    assert dropped == 0 and len(values["image"]) == len(PERTURBATIONS) * len(batch)
    assert min(values["constant"]) == pytest.approx(1.0)
    shifted = perturb(batch, "shift", (0.5,) * 3, (0.25,) * 3, 0)
    a, b = aligned(batch[0, 0].numpy(), shifted[0, 0].numpy(), "shift")
    np.testing.assert_allclose(a, b, atol=1e-5)  # the shift is undone exactly
    changed, dropped = stability_ssim(
        follows_the_image, batch, original, [1, 1, 1], mean=(0.5,) * 3, std=(0.25,) * 3
    )
    assert dropped == len(PERTURBATIONS) * len(batch) and not changed["image"]
