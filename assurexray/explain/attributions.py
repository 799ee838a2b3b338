"""Captum attributions as heatmap methods: Captum does the maths, this module draws the map.

Each method's attribution (``N×C×H×W``, one value per input pixel and channel)
becomes a heatmap the rest of the tool understands (``N×H×W`` in [0, 1], the
network input's size) by one documented choice per method
(:data:`HEATMAP_RULES`):

================  ==================  ==========  ====================================
method            channels            sign        smoothing (Gaussian σ, share of side)
================  ==================  ==========  ====================================
integrated_grad.  sum (completeness)  positive    0.02
smoothgrad        max of |grad|       absolute    0.02
gradient_shap     sum                 positive    0.02
occlusion         mean (equal)        positive    none (the window already smooths)
guided_gradcam    sum                 positive    0.02
================  ==================  ==========  ====================================

*positive* keeps evidence for the explained class (as CAMs do after their
ReLU); *absolute* is used for SmoothGrad, whose gradient sign says which way a
pixel would move the score, not whether it supports the class. Pixel-level
attributions are speckled, so they are blurred to a region scale before being
scored against tumour outlines; the map is then min–max scaled per image (all
zero stays zero). Baselines: zero in normalised units, i.e. the training mean
grey (integrated gradients, occlusion); the mean grey and black (GradientSHAP).
Random draws (SmoothGrad noise, GradientSHAP samples) are seeded and do not
touch the global random state. Captum is imported only when a method runs.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from assurexray.core.errors import ExplainError

ATTRIBUTION_METHODS = (
    "integrated_gradients",
    "smoothgrad",
    "gradient_shap",
    "occlusion",
    "guided_gradcam",
)
"""Captum methods by name; only ``guided_gradcam`` has a target layer."""
LAYER_METHODS = frozenset({"guided_gradcam"})


@dataclass(frozen=True)
class HeatmapRule:
    """How one method's attribution becomes a heatmap.

    Attributes:
        channels: ``sum``, ``mean`` or ``absmax`` (max of absolute values) over channels.
        sign: ``positive`` (keep values > 0) or ``absolute``.
        smoothing: Gaussian σ as a share of the image side; 0: none.
    """

    channels: str
    sign: str
    smoothing: float


HEATMAP_RULES = {
    "integrated_gradients": HeatmapRule("sum", "positive", 0.02),
    "smoothgrad": HeatmapRule("absmax", "absolute", 0.02),
    "gradient_shap": HeatmapRule("sum", "positive", 0.02),
    "occlusion": HeatmapRule("mean", "positive", 0.0),
    "guided_gradcam": HeatmapRule("sum", "positive", 0.02),
}


@dataclass(frozen=True)
class AttributionOptions:
    """Captum settings (``explain.attributions`` in the config).

    Attributes:
        n_steps: Integrated gradients: steps of the path integral.
        n_samples: SmoothGrad and GradientSHAP: noisy samples per image.
        noise: SmoothGrad and GradientSHAP: noise σ as a share of the batch's value range.
        window: Occlusion: window side as a share of the image side.
        stride: Occlusion: stride as a share of the window side.
        internal_batch_size: Images (or perturbed copies) per forward pass inside Captum.
        seed: Seed of the random draws.
    """

    n_steps: int = 16
    n_samples: int = 8
    noise: float = 0.1
    window: float = 0.125
    stride: float = 0.5
    internal_batch_size: int = 32
    seed: int = 0

    def occlusion_window(self, side: int) -> tuple[int, int]:
        """``(window, stride)`` in pixels for an image side."""
        window = max(1, round(side * self.window))
        return window, max(1, round(window * self.stride))


def is_attribution(method: str) -> bool:
    """True for a Captum method name (canonical form, see :data:`ATTRIBUTION_METHODS`)."""
    return method in ATTRIBUTION_METHODS


def raw_attributions(
    model: nn.Module,
    method: str,
    x: torch.Tensor,
    targets: Sequence[int],
    *,
    layer: nn.Module | None = None,
    options: AttributionOptions = AttributionOptions(),
) -> torch.Tensor:
    """Captum's attribution of ``targets`` for a batch, ``N×C×H×W``.

    Raises:
        ExplainError: unknown method, or ``guided_gradcam`` without a layer.
    """
    import captum.attr as ca

    target = [int(t) for t in targets]
    inputs = x.detach().clone().requires_grad_(True)
    spread = float(x.max() - x.min()) or 1.0
    with _seeded(options.seed):
        if method == "integrated_gradients":
            result = ca.IntegratedGradients(model).attribute(
                inputs,
                baselines=torch.zeros_like(x),
                target=target,
                n_steps=options.n_steps,
                internal_batch_size=options.internal_batch_size,
            )
        elif method == "smoothgrad":
            result = ca.NoiseTunnel(ca.Saliency(model)).attribute(
                inputs,
                nt_type="smoothgrad",
                nt_samples=options.n_samples,
                nt_samples_batch_size=options.internal_batch_size,
                stdevs=options.noise * spread,
                target=target,
            )
        elif method == "gradient_shap":
            baselines = torch.stack([torch.zeros_like(x[0]), torch.full_like(x[0], float(x.min()))])
            result = ca.GradientShap(model).attribute(
                inputs,
                baselines=baselines,
                n_samples=options.n_samples,
                stdevs=options.noise * spread,
                target=target,
            )
        elif method == "occlusion":
            window, stride = options.occlusion_window(int(x.shape[-1]))
            channels = int(x.shape[1])
            result = ca.Occlusion(model).attribute(
                inputs,
                sliding_window_shapes=(channels, window, window),
                strides=(channels, stride, stride),
                baselines=0.0,
                target=target,
                perturbations_per_eval=max(1, options.internal_batch_size // len(x)),
            )
        elif method == "guided_gradcam":
            if layer is None:
                raise ExplainError("guided_gradcam needs a target layer")
            with warnings.catch_warnings():  # Captum notes that it hooks the ReLUs (and unhooks)
                warnings.filterwarnings("ignore", "Setting backward hooks on ReLU")
                result = ca.GuidedGradCam(model, layer).attribute(inputs, target=target)
        else:
            raise ExplainError(
                f"unknown attribution method {method!r}; valid: {', '.join(ATTRIBUTION_METHODS)}"
            )
    model.zero_grad(set_to_none=True)
    return result.detach()


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's and NumPy's global generators (GradientSHAP draws from NumPy's) for the
    block, and put both states back afterwards."""
    numpy_state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            np.random.seed(seed)
            yield
    finally:
        np.random.set_state(numpy_state)


def attribution_to_heatmaps(attribution: torch.Tensor | np.ndarray, method: str) -> np.ndarray:
    """Apply the method's :class:`HeatmapRule`: ``N×C×H×W`` → ``N×H×W`` float32 in [0, 1]."""
    import cv2

    rule = HEATMAP_RULES[method]
    values = np.asarray(
        attribution.detach().cpu().numpy()
        if isinstance(attribution, torch.Tensor)
        else attribution,
        dtype=np.float32,
    )
    if rule.channels == "sum":
        maps = values.sum(axis=1)
    elif rule.channels == "mean":
        maps = values.mean(axis=1)
    else:
        maps = np.abs(values).max(axis=1)
    maps = np.maximum(maps, 0.0) if rule.sign == "positive" else np.abs(maps)
    out = np.zeros_like(maps)
    for n, heatmap in enumerate(maps):
        if rule.smoothing > 0:
            sigma = rule.smoothing * max(heatmap.shape)
            heatmap = cv2.GaussianBlur(heatmap, (0, 0), sigmaX=sigma, sigmaY=sigma)
        low, high = float(heatmap.min()), float(heatmap.max())
        if high > low:
            out[n] = (heatmap - low) / (high - low)
    return np.nan_to_num(out).astype(np.float32)


def attribution_heatmaps(
    model: nn.Module,
    method: str,
    x: torch.Tensor,
    wanted: Sequence[int | None],
    *,
    layer: nn.Module | None = None,
    options: AttributionOptions = AttributionOptions(),
) -> tuple[np.ndarray, torch.Tensor, list[int]]:
    """Heatmaps of a batch by a Captum method, with the logits of a clean forward pass.

    Args:
        model: The classifier, in eval mode.
        method: One of :data:`ATTRIBUTION_METHODS`.
        x: ``N×C×H×W`` network input.
        wanted: Class per image, None meaning the predicted class.
        layer: The target layer (``guided_gradcam`` only).
        options: Captum settings.

    Returns:
        ``N×H×W`` maps in [0, 1], the logits, and the explained classes.
    """
    with torch.no_grad():
        logits = model(x).detach()
    predicted = logits.argmax(dim=1).tolist()
    classes = [int(p if t is None else t) for t, p in zip(wanted, predicted, strict=True)]
    raw = raw_attributions(model, method, x, classes, layer=layer, options=options)
    return attribution_to_heatmaps(raw, method), logits, classes


def check_attribution_layers(method: str, model: nn.Module, layers: list[tuple[str, Any]]) -> None:
    """Raise (one line) where a method cannot work on this model or these layers."""
    if method not in LAYER_METHODS:
        return
    if getattr(model, "patch_embed", None) is not None:
        raise ExplainError(
            f"{method} needs a convolutional feature map; {type(model).__name__} is a vision "
            "transformer (use integrated_gradients, smoothgrad, gradient_shap, occlusion or "
            "rollout)"
        )
    if len(layers) != 1:
        raise ExplainError(f"{method} takes one target layer, not {len(layers)}")
