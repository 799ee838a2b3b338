"""Exact Grad-CAM from the forward pass alone, and the probe that allows it.

For a timm model whose head is global average pooling followed by one linear
layer, Grad-CAM at the final feature map ``A`` (``K×h×w``) is

    ReLU(Σ_k α_ck A_k)  with  α_ck = mean_ij ∂y_c/∂A_k(i, j) = w_ck / (h·w),

because ``y_c = Σ_k w_ck · mean_ij A_k(i, j) + b_c``. So the maps of every class
come out of the prediction's own forward pass with no backward pass. They are
normalised and upsampled with pytorch-grad-cam's own ``scale_cam_image``, step
for step as ``GradCAM.__call__`` does, so both paths give the same numbers.
:func:`check_fast_path` verifies the head on a real input instead of trusting
the architecture's name; everything else falls back to pytorch-grad-cam.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from pytorch_grad_cam.utils.image import scale_cam_image
from timm.layers import Format, nhwc_to
from torch import nn

_TOLERANCE: dict[str, Any] = {"rtol": 1e-4, "atol": 1e-5}


def check_fast_path(
    model: nn.Module,
    sample: torch.Tensor,
    features: torch.Tensor | None,
    logits: torch.Tensor,
    fmt: Format | None,
    *,
    target: tuple[str, Any],
) -> tuple[bool, str]:
    """Whether Grad-CAM at the target layer is exactly ``ReLU(Σ w_ck A_k)``: checked, not assumed.

    Args:
        model: The classifier.
        sample: One input image, ``1×C×H×W``.
        features: ``model.forward_features(sample)``, or ``None`` for a model
            without timm's ``forward_features``/``forward_head``.
        logits: The logits of ``sample``.
        fmt: Layout of the target layer's output (NCHW, or NHWC for Swin-style
            models); ``None`` for anything else (e.g. ViT tokens).
        target: ``(name, output)`` of the one target layer for ``sample``.

    Returns:
        ``(exact, reason)``, the reason in words for a log line.
    """
    name, output = target
    if features is None:
        return False, "the model has no timm forward_features/forward_head"
    if fmt is None or output is not features:
        return False, f"target layer {name!r} is not the final feature map"
    timm_model: Any = model  # timm's own methods are untyped
    classifier = timm_model.get_classifier()
    if not isinstance(classifier, nn.Linear):
        return False, f"the classifier is a {type(classifier).__name__}, not one nn.Linear"
    with torch.no_grad():
        try:
            pooled = timm_model.forward_head(features, pre_logits=True)
        except TypeError:
            return False, "forward_head has no pre_logits option"
        average = channels_first(features, fmt).mean(dim=(2, 3))
        if pooled.shape != average.shape or not torch.allclose(pooled, average, **_TOLERANCE):
            return False, "the head does not start with global average pooling alone"
        if not torch.allclose(classifier(pooled), logits, **_TOLERANCE):
            return False, "the head is more than one linear layer after the pooling"
        if not torch.allclose(model(sample), logits, **_TOLERANCE):
            return False, "model(x) differs from forward_head(forward_features(x))"
    return True, f"global average pooling and one linear layer after {name!r}"


def fast_gradcam(
    model: nn.Module, x: torch.Tensor, wanted: Sequence[int | None], fmt: Format
) -> tuple[np.ndarray, torch.Tensor, list[int]]:
    """Grad-CAM maps of a batch from its forward pass (see the module docstring).

    Args:
        model: A model for which :func:`check_fast_path` returned True.
        x: ``N×C×H×W`` input.
        wanted: Class per image, ``None`` meaning the predicted class.
        fmt: Layout of the model's feature maps.

    Returns:
        ``N×H×W`` maps in [0, 1], the logits, and the explained classes.
    """
    timm_model: Any = model  # timm's own methods are untyped
    weight = timm_model.get_classifier().weight
    with torch.inference_mode():
        features = timm_model.forward_features(x)
        logits = timm_model.forward_head(features)
        features = channels_first(features, fmt)
        predicted = logits.argmax(dim=1).tolist()
        targets = [p if t is None else t for t, p in zip(wanted, predicted, strict=True)]
        # ∂y_c/∂A_k(i, j) = w_ck / (h·w): the same map as pytorch-grad-cam,
        # including the scale its epsilon sees.
        scale = 1.0 / (features.shape[-2] * features.shape[-1])
        chosen = weight[torch.as_tensor(targets, device=weight.device)]
        cams = torch.einsum("nk,nkhw->nhw", chosen, features) * scale
    size = (x.shape[-1], x.shape[-2])
    return finalise(cams.float().cpu().numpy(), size), logits, targets


def finalise(cams: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Raw ``N×h×w`` maps to ``N×H×W`` in [0, 1], step for step as pytorch-grad-cam.

    ``GradCAM`` scales each layer's ReLU'd map to the input ``size = (W, H)``,
    then averages the layers and scales again.
    """
    scaled = scale_cam_image(np.maximum(cams, 0), size)
    return scale_cam_image(np.mean(np.maximum(scaled[:, None], 0), axis=1))


def channels_first(tensor: torch.Tensor, fmt: Format) -> torch.Tensor:
    """A feature map in NCHW, converted with timm's own format helper if it is NHWC."""
    return nhwc_to(tensor, Format.NCHW) if fmt == Format.NHWC else tensor
