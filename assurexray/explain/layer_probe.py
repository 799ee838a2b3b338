"""The explainer's first look at a model: the target layers' layout and the fast path.

On the first batch, one forward pass with hooks on the target layers tells
whether they are spatial maps (NCHW or NHWC, as timm reports) or ViT token
sequences, and whether the exact forward-only Grad-CAM of
:mod:`assurexray.explain.fast_gradcam` gives the same maps as pytorch-grad-cam.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from timm.layers import Format
from torch import nn

from assurexray.core.errors import ExplainError
from assurexray.explain.fast_gradcam import check_fast_path
from assurexray.explain.target_layers import has_timm_head, output_format

LAYOUT_FORMATS = {"nchw": Format.NCHW, "nhwc": Format.NHWC}
"""timm's format of each spatial layout (``tokens`` has none)."""


def probe_layers(
    model: nn.Module,
    target_layers: list[tuple[str, nn.Module]],
    sample: torch.Tensor,
    *,
    method: str,
    fast_path: bool,
) -> tuple[str, bool, str]:
    """Run ``sample`` once and read the target layers' outputs.

    Returns:
        The layout (``nchw``, ``nhwc`` or ``tokens``), whether the forward-only
        path is used, and why (or why not).

    Raises:
        ExplainError: a target layer did not run, is not a feature map, or the
            layers mix layouts.
    """
    outputs: dict[str, Any] = {}
    handles = [
        module.register_forward_hook(partial(_store_output, outputs, name))
        for name, module in target_layers
    ]
    features = None
    try:
        with torch.no_grad():
            timm_model: Any = model  # timm's own methods are untyped
            if has_timm_head(timm_model):
                features = timm_model.forward_features(sample)
                logits = timm_model.forward_head(features)
            else:
                logits = model(sample)
    finally:
        for handle in handles:
            handle.remove()
    layouts = {_layout_of(model, name, outputs) for name, _ in target_layers}
    if len(layouts) > 1:
        raise ExplainError(
            f"target layers {', '.join(name for name, _ in target_layers)} mix feature layouts "
            f"({', '.join(sorted(layouts))}); choose layers of one kind"
        )
    layout = layouts.pop()
    if not fast_path:
        return layout, False, "disabled (fast_path=False)"
    if method != "gradcam":
        return layout, False, f"{method} has no forward-only form"
    if len(target_layers) != 1:
        return layout, False, "several target layers"
    name = target_layers[0][0]
    fast, reason = check_fast_path(
        model, sample, features, logits, LAYOUT_FORMATS.get(layout), target=(name, outputs[name])
    )
    return layout, fast, reason


def _layout_of(model: nn.Module, name: str, outputs: dict[str, Any]) -> str:
    if name not in outputs:
        raise ExplainError(f"target layer {name!r} did not run in the forward pass")
    output = outputs[name]
    shape = tuple(getattr(output, "shape", ()))
    if isinstance(output, torch.Tensor) and output.ndim == 4:
        return output_format(model).value.lower()
    if isinstance(output, torch.Tensor) and output.ndim == 3 and hasattr(model, "patch_embed"):
        return "tokens"
    raise ExplainError(
        f"target layer {name!r} outputs {type(output).__name__} of shape {shape}, "
        "not a spatial feature map or a ViT token sequence"
    )


def _store_output(
    store: dict[str, Any], name: str, _module: nn.Module, _inputs: Any, output: Any
) -> None:
    store[name] = output
