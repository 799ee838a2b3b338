"""Faster model passes for the shortcut job: BatchNorms folded into convolutions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from assurexray.explain.explainer import Explainer
from assurexray.imaging.preprocess import PreprocessConfig
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
    config = PreprocessConfig(image_size=64)
    opened = SimpleNamespace(checkpoint=SimpleNamespace(model=net), preprocess=config,
                             explainer=explainer)  # fmt: skip
    with faster_passes(opened) as done:
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


class Wrapped(nn.Module):
    """A layer holding a convolution whose BatchNorm lies outside it, and an in-place
    ReLU between another convolution and its BatchNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1))
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(4)
        self.conv3 = nn.Conv2d(4, 4, 1)
        self.bn3 = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.layer(x))
        y = self.bn2(torch.relu_(self.conv2(y)))  # in place: bn2 reads a changed tensor
        return self.head(self.bn3(self.conv3(y)).mean(dim=(2, 3)))


def wrapped() -> Wrapped:
    net = Wrapped().eval()
    for bn in (net.bn, net.bn2, net.bn3):
        bn.running_mean.fill_(0.3)
        bn.running_var.fill_(2.0)
    return net


def test_a_kept_layer_keeps_its_output_and_in_place_steps_are_not_folded() -> None:
    net, x = wrapped(), probe(16)
    kept_weight = net.layer[0].weight.clone()
    with torch.no_grad():
        inner, logits = net.layer(x), net(x)
    with folded_batch_norms(net, x, keep=(net.layer,)) as n, torch.no_grad():
        assert n == 1 and net.conv3.bias is not None  # only conv3 -> bn3
        assert torch.equal(net.layer[0].weight, kept_weight)
        assert torch.equal(net.layer(x), inner)
        torch.testing.assert_close(net(x), logits)
    with folded_batch_norms(net, x) as n:
        assert n == 2  # the wrapped convolution too, once nothing keeps it


def test_an_interruption_while_folding_leaves_the_network_as_it_was(monkeypatch) -> None:
    import assurexray.shortcuts.model_speed as speed

    net = trained_looking()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    calls = []
    real = speed.partial

    def interrupted(*args):
        calls.append(args)
        if len(calls) == 3:  # the third BatchNorm: its convolution is already changed
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(speed, "partial", interrupted)
    with pytest.raises(KeyboardInterrupt), folded_batch_norms(net, probe()):
        pass
    after = net.state_dict()
    assert len(calls) == 3 and after.keys() == before.keys()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert not any("forward" in vars(m) for m in net.modules())


def test_modules_with_hooks_or_their_own_forward_are_left_alone() -> None:
    net = trained_looking()
    own = net.bn1.forward
    net.bn1.forward = own  # an instance forward, as wrappers add
    seen = []
    net.conv_head.register_forward_hook(lambda *args: seen.append(1))
    with folded_batch_norms(net, probe()) as n:
        assert n > 0 and net.conv_stem.bias is None and net.conv_head.bias is None
    assert vars(net.bn1)["forward"] is own and seen
