"""timm models: the Grad-CAM target layer and the device choice."""

from __future__ import annotations

import pytest
import torch

from assurexray.core.errors import ConfigError
from assurexray.models.model import build_model, resolve_device

ARCH = "test_efficientnet"


def test_efficientnet_exposes_bn2_as_target_layer() -> None:
    model = build_model(ARCH, num_classes=3)
    assert model.gradcam_target_layer is model.bn2
    assert model.gradcam_target_layer_name == "bn2"
    assert not any(k.startswith("gradcam") for k in model.state_dict())
    b0 = build_model("efficientnet_b0", num_classes=3)
    assert b0.gradcam_target_layer is b0.bn2


def test_unknown_arch_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown model architecture 'efficientnet_b99'"):
        build_model("efficientnet_b99")


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_device_auto_prefers_cuda_then_mps_then_cpu(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, expected: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert resolve_device("auto") == torch.device(expected)


def test_named_and_bad_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="not a valid torch device"):
        resolve_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")
