"""CAM methods by name, run through pytorch-grad-cam.

The registry maps canonical names to pytorch-grad-cam classes; :func:`run_cam`
runs one method on a batch with the reshape transform a transformer or a
channels-last model needs, combines several target layers, and always releases
the hooks it set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np
import pytorch_grad_cam as pgc
import torch
from pytorch_grad_cam.ablation_layer import AblationLayer, AblationLayerVit
from pytorch_grad_cam.base_cam import BaseCAM
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from timm.layers import Format
from torch import nn

from assurexray.core.errors import ExplainError
from assurexray.explain.attributions import ATTRIBUTION_METHODS
from assurexray.explain.fast_gradcam import channels_first
from assurexray.explain.rollout import token_layout

ROLLOUT = "rollout"
AGGREGATIONS = ("mean", "max", "weighted")
CAM_METHODS: dict[str, type[BaseCAM]] = {
    "gradcam": pgc.GradCAM,
    "gradcam++": pgc.GradCAMPlusPlus,
    "hirescam": pgc.HiResCAM,
    "xgradcam": pgc.XGradCAM,
    "layercam": pgc.LayerCAM,
    "eigencam": pgc.EigenCAM,
    "eigengradcam": pgc.EigenGradCAM,
    "gradcamelementwise": pgc.GradCAMElementWise,
    "scorecam": pgc.ScoreCAM,
    "ablationcam": pgc.AblationCAM,
}
_ALIASES = {
    "gradcampp": "gradcam++",
    "gradcamplusplus": "gradcam++",
    "ig": "integrated_gradients",
    **{m.replace("_", ""): m for m in ATTRIBUTION_METHODS},
}


def available_methods() -> list[str]:
    """Names accepted as ``method``: the CAMs, ``rollout`` (vision transformers only) and
    the Captum attributions (:data:`~assurexray.explain.attributions.ATTRIBUTION_METHODS`)."""
    return [*CAM_METHODS, ROLLOUT, *ATTRIBUTION_METHODS]


def canonical_method(name: str) -> str:
    """Normalise a method name (case, dashes, aliases such as ``gradcampp``).

    Raises:
        ExplainError: Unknown method; the message lists the valid ones.
    """
    key = name.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    key = _ALIASES.get(key, key)
    if key not in available_methods():
        raise ExplainError(
            f"unknown heatmap method {name!r}; valid methods: {', '.join(available_methods())}"
        )
    return key


def run_cam(
    model: nn.Module,
    method: str,
    target_layers: list[tuple[str, nn.Module]],
    x: torch.Tensor,
    wanted: Sequence[int | None],
    *,
    layout: str,
    aggregation: str = "mean",
) -> tuple[np.ndarray, torch.Tensor, list[int]]:
    """One pytorch-grad-cam method on a batch; hooks released afterwards.

    Args:
        model: The classifier, in eval mode.
        method: A canonical name from :data:`CAM_METHODS`.
        target_layers: ``(name, module)`` pairs.
        x: ``N×C×H×W`` input.
        wanted: Class per image, ``None`` meaning the predicted class.
        layout: ``nchw``, ``nhwc`` (Swin-style) or ``tokens`` (ViT) at the layers.
        aggregation: ``mean``, ``max`` or ``weighted`` over several layers.

    Returns:
        ``N×H×W`` maps in [0, 1], the logits, and the explained classes.
    """
    cam_class = CAM_METHODS[method]
    options: dict[str, Any] = {}
    if cam_class is pgc.AblationCAM:
        options["ablation_layer"] = AblationLayerVit() if layout == "tokens" else AblationLayer()
    cam = cam_class(
        model,
        [module for _, module in target_layers],
        reshape_transform=_reshape_transform(model, layout, x.shape[-2:]),
        **options,
    )
    cam.aggregate_multi_layers = partial(combine_layers, how=aggregation)
    with _released(cam, model, target_layers):
        if all(t is None for t in wanted):
            maps = cam(x, None)  # pytorch-grad-cam explains the argmax of this pass
            logits = cam.outputs.detach()
            return maps, logits, logits.argmax(dim=1).tolist()
        classes = [t for t in wanted if t is not None]
        if len(classes) < len(wanted):
            with torch.no_grad():
                predicted = model(x).argmax(dim=1).tolist()
            classes = [p if t is None else t for t, p in zip(wanted, predicted, strict=True)]
        maps = cam(x, [ClassifierOutputTarget(int(t)) for t in classes])
        return maps, cam.outputs.detach(), [int(t) for t in classes]


def combine_layers(cam_per_layer: list[np.ndarray], how: str = "mean") -> np.ndarray:
    """Combine ``N×1×H×W`` per-layer maps and min–max scale (``mean`` = pytorch-grad-cam).

    Stands in for pytorch-grad-cam's ``aggregate_multi_layers``. ``weighted``
    is ``Σ w_l M_l`` with ``w_l`` each map's share of the total mass (its mean).
    """
    stack = np.maximum(np.concatenate(cam_per_layer, axis=1), 0)
    if how == "max":
        combined = stack.max(axis=1)
    elif how == "weighted":
        mass = stack.mean(axis=(2, 3))
        total = mass.sum(axis=1, keepdims=True)
        uniform = np.full_like(mass, 1.0 / mass.shape[1])
        weights = np.divide(mass, total, out=uniform, where=total > 0)
        combined = (stack * weights[:, :, None, None]).sum(axis=1)
    else:
        combined = np.mean(stack, axis=1)
    return scale_cam_image(combined)


def _reshape_transform(model: nn.Module, layout: str, input_hw: Sequence[int]) -> Callable | None:
    if layout == "nhwc":
        return partial(channels_first, fmt=Format.NHWC)
    if layout == "tokens":
        prefix, grid = token_layout(model, (int(input_hw[0]), int(input_hw[1])))
        return partial(_tokens_to_map, prefix=prefix, grid=grid)
    return None


def _tokens_to_map(tokens: torch.Tensor, *, prefix: int, grid: tuple[int, int]) -> torch.Tensor:
    """ViT tokens ``N×T×C`` to an ``N×C×h×w`` map, dropping class/register tokens."""
    patches = tokens.shape[1] - prefix
    if patches != grid[0] * grid[1]:
        raise ExplainError(
            f"{tokens.shape[1]} tokens do not fit {prefix} prefix tokens and a "
            f"{grid[0]}×{grid[1]} patch grid"
        )
    nhwc = tokens[:, prefix:, :].reshape(tokens.shape[0], *grid, tokens.shape[2])
    return channels_first(nhwc, Format.NHWC)


@contextmanager
def _released(
    cam: BaseCAM, model: nn.Module, layers: list[tuple[str, nn.Module]]
) -> Iterator[None]:
    """Release the CAM's hooks (and undo AblationCAM's layer swap) even on error.

    Not ``with cam:``: BaseCAM's ``__exit__`` prints and swallows IndexError.
    """
    try:
        yield
    finally:
        cam.activations_and_grads.release()
        for name, layer in layers:
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            if parent._modules.get(child) is not layer:
                parent._modules[child] = layer
