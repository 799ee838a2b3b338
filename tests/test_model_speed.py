"""Faster model passes for the shortcut job: BatchNorms folded into convolutions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from assurexray.explain.explainer import Explainer
from assurexray.models.model import build_model
from assurexray.shortcuts.model_speed import faster_passes, folded_batch_norms


def trained_looking(arch: str = "test_efficientnet") -> nn.Module:
    """A small timm network whose BatchNorms hold statistics far from the identity."""
    torch.manual_seed(0)
    net = build_model(arch, num_classes=3).eval()
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
            m.bias.data.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
    return net


def probe(size: int = 64) -> torch.Tensor:
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize("arch", ["test_efficientnet", "test_resnet"])
def test_folded_network_gives_the_same_maps_and_scores_and_is_given_back(arch) -> None:
    net = trained_looking(arch)
    explainer = Explainer(net, method="gradcam")
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    usual = explainer.explain(x)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    keep = tuple(layer for _, layer in explainer.target_layers)
    with faster_passes(net, keep, 3, 64) as done:
        folded = explainer.explain(x)
    assert done["batch_norms_folded"] > 5 and done["channels_last"]
    np.testing.assert_allclose(folded.probabilities, usual.probabilities, atol=1e-5)
    np.testing.assert_allclose(folded.heatmaps, usual.heatmaps, atol=1e-4)
    after = net.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert not any("forward" in vars(m) for m in net.modules())
    with pytest.raises(KeyboardInterrupt), folded_batch_norms(net, probe()) as n:
        assert n > 0
        raise KeyboardInterrupt
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items())


class Residual(nn.Module):
    """A convolution whose output a BatchNorm reads, and a skip connection reads too."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.head((self.bn(y) + y).mean(dim=(2, 3)))


def test_nothing_is_folded_when_the_output_would_change() -> None:
    net = Residual().eval()
    net.bn.running_mean.fill_(0.5)
    net.bn.running_var.fill_(4.0)
    x = probe(16)
    with torch.inference_mode():
        expected = net(x)
    with folded_batch_norms(net, x) as n, torch.inference_mode():
        assert n == 0 and torch.equal(net(x), expected)
    net.forward = lambda x: net.head(net.bn(net.conv(x)).mean(dim=(2, 3)))  # no skip: folds
    with folded_batch_norms(net, x) as n:
        assert n == 1
    assert net.conv.bias is not None and "forward" not in vars(net.bn)


def test_kept_layers_and_training_norms_are_left_alone() -> None:
    net = trained_looking()
    stem_bias = net.conv_stem.bias
    with folded_batch_norms(net, probe(), keep=(net.conv_stem,)):
        assert net.conv_stem.bias is stem_bias is None and "forward" not in vars(net.bn1)
        assert net.conv_head.bias is not None  # the others are folded
    net.train()
    with folded_batch_norms(net, probe()) as n:
        assert n == 0  # training statistics are not a fixed map
