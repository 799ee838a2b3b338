"""Find a model's feature maps: target layers for heatmaps, and its stages.

A target layer is given by name (``layer4``, ``blocks.-1.norm1``), several
names, a module, or ``auto``: the model's ``gradcam_target_layer`` if set,
the last block's ``norm1`` of a timm ViT, otherwise the module producing the
final spatial feature map, found with one forward pass of zeros.
:func:`feature_stages` lists the spatial maps at every resolution.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
from timm.layers import Format, get_spatial_dim
from torch import nn

from assurexray.core.errors import ExplainError

LayerSpec = str | nn.Module | Sequence[str | nn.Module] | None
# Modules that only pass their input on: never chosen as an automatic target.
_PASS_THROUGH = (nn.Identity, nn.Dropout, nn.Dropout2d)
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


class FeatureStage(NamedTuple):
    """The last module producing a spatial map at one resolution.

    Attributes:
        name: Dotted module name, usable as a target layer.
        size: ``(h, w)`` of its output for the probed input size.
        stride: Input height divided by ``h``, rounded.
    """

    name: str
    size: tuple[int, int]
    stride: int


def resolve_target_layers(
    model: nn.Module, spec: LayerSpec = "auto", *, input_size: tuple[int, int, int] | None = None
) -> list[tuple[str, nn.Module]]:
    """Find the layers whose activations the heatmaps are computed from.

    Args:
        model: The classifier.
        spec: ``auto``; a dotted module name; several names separated by
            commas; a module; or a list of these (see the module docstring).
        input_size: ``(C, H, W)`` of the probing forward pass; default from the model.

    Returns:
        ``(name, module)`` pairs, without duplicates.

    Raises:
        ExplainError: A name matches no module (close names are suggested), or
            ``auto`` finds no spatial map.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "auto"):
        return [_auto_target_layer(model, input_size)]
    if isinstance(spec, str):
        items: list[str | nn.Module] = [part for part in spec.split(",") if part.strip()]
    elif isinstance(spec, nn.Module):
        items = [spec]
    else:
        items = list(spec)
    if not items:
        raise ExplainError("no target layers given")
    names = _module_names(model)
    resolved: dict[str, nn.Module] = {}
    for item in items:
        module = item if isinstance(item, nn.Module) else _get_layer(model, item.strip())
        if id(module) not in names:
            raise ExplainError(f"target layer {type(module).__name__} is not part of the model")
        resolved.setdefault(names[id(module)], module)
    return list(resolved.items())


def feature_stages(
    model: nn.Module, input_size: tuple[int, int, int] | None = None
) -> list[FeatureStage]:
    """The model's spatial feature maps, one per resolution, from fine to coarse.

    For each output size ``(h, w)`` with ``h, w > 1`` the stage is the last
    module to finish with that size, leaving out modules inside a block whose
    own output has another size (the first layers of a downsampling block).
    Plain ``nn.Sequential``/``ModuleList``/``ModuleDict`` containers do not
    count as blocks. The last stage is the automatic target layer (the final
    feature map), so ``stages[-3:]`` are the final map and the two stages
    before it.

    Args:
        model: A CNN (or Swin-style channels-last model).
        input_size: ``(C, H, W)`` of the probing pass; default from the model.

    Raises:
        ExplainError: If the model has no spatial feature map.
    """
    input_size = input_size or default_input_size(model)
    records = _spatial_outputs(model, input_size)
    # Plain containers only chain their children; any other module is a block.
    sizes = {r.name: r.size for r in records if type(r.module) not in _CONTAINERS}

    def inside_other_size(name: str, size: tuple[int, int]) -> bool:
        parts = name.split(".")
        parents = (".".join(parts[:i]) for i in range(1, len(parts)))
        return any(sizes.get(parent, size) != size for parent in parents)

    last: dict[tuple[int, int], str] = {}
    for name, _, size, _ in records:
        if not inside_other_size(name, size):
            last.pop(size, None)  # re-insert: dict order becomes order of finishing
            last[size] = name
    if not last:
        raise ExplainError(f"found no spatial feature map in {type(model).__name__}")
    final_name, _ = _auto_target_layer(model, input_size)
    if final_name in sizes:
        last.pop(sizes[final_name], None)
        last[sizes[final_name]] = final_name
    return [FeatureStage(name, size, round(input_size[1] / size[0])) for size, name in last.items()]


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode inside the block; each module's own mode restored afterwards."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def has_timm_head(model: nn.Module) -> bool:
    """Whether the model has timm's ``forward_features``/``forward_head``/``get_classifier``."""
    return all(
        callable(getattr(model, attr, None))
        for attr in ("forward_features", "forward_head", "get_classifier")
    )


def output_format(model: nn.Module) -> Format:
    """The layout of the model's feature maps: timm marks Swin-style NHWC by ``output_fmt``."""
    fmt = getattr(model, "output_fmt", "NCHW")
    return Format(str(getattr(fmt, "value", fmt)).upper())


def model_device(model: nn.Module) -> torch.device:
    """Where the model's parameters are (CPU for a model without parameters)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def default_input_size(model: nn.Module) -> tuple[int, int, int]:
    """``(C, H, W)`` the model expects: from a ViT's patch embedding or timm's config."""
    size = getattr(getattr(model, "patch_embed", None), "img_size", None)
    if size is None:
        config = getattr(model, "pretrained_cfg", None) or {}
        size = tuple(config.get("input_size", (3, 224, 224)))[1:]
    channels = next((m.in_channels for m in model.modules() if isinstance(m, nn.Conv2d)), 3)
    return channels, int(size[0]), int(size[1])


def _module_names(model: nn.Module) -> dict[int, str]:
    return {id(module): name for name, module in model.named_modules() if name}


def _get_layer(model: nn.Module, name: str) -> nn.Module:
    """``model.get_submodule`` that also takes negative indices (``blocks.-1``)."""
    module = model
    for part in name.split("."):
        child = module._modules.get(part)
        if (
            child is None
            and part.lstrip("-").isdigit()
            and isinstance(module, (nn.Sequential, nn.ModuleList))
        ):
            try:
                child = module[int(part)]
            except IndexError:
                child = None
        if child is None:
            raise ExplainError(_missing_layer_message(model, name))
        module = child
    if module is model:
        raise ExplainError("a target layer name is empty")
    return module


def _missing_layer_message(model: nn.Module, name: str) -> str:
    names = [n for n, _ in model.named_modules() if n]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else f"top-level modules: {', '.join(list(model._modules)[:10])}"
    )
    return f"target layer {name!r} not found in {type(model).__name__}; {hint}"


def _auto_target_layer(
    model: nn.Module, input_size: tuple[int, int, int] | None
) -> tuple[str, nn.Module]:
    layer = getattr(model, "gradcam_target_layer", None)
    if isinstance(layer, nn.Module):
        names = _module_names(model)
        if id(layer) in names:
            return names[id(layer)], layer
    blocks = getattr(model, "blocks", None)
    is_vit = hasattr(model, "patch_embed") and hasattr(model, "num_prefix_tokens")
    if is_vit and isinstance(blocks, (nn.Sequential, nn.ModuleList)) and len(blocks):
        # The class token alone carries the gradient after the last block:
        # take the input norm of the last block (as pytorch-grad-cam advises).
        suffix = ".norm1" if hasattr(blocks[-1], "norm1") else ""
        name = f"blocks.{len(blocks) - 1}{suffix}"
        return name, model.get_submodule(name)
    records = _spatial_outputs(model, input_size or default_input_size(model))
    producing_final = [(r.name, r.module) for r in records if r.is_final]
    if producing_final:
        return producing_final[-1]
    if records:
        return records[-1].name, records[-1].module
    raise ExplainError(
        f"found no spatial feature map in {type(model).__name__}; name target_layers explicitly"
    )


class _SpatialOutput(NamedTuple):
    name: str
    module: nn.Module
    size: tuple[int, int]
    is_final: bool  # the output is the model's final feature map itself


def _spatial_outputs(model: nn.Module, input_size: tuple[int, int, int]) -> list[_SpatialOutput]:
    """Every module with a spatial output (``h, w > 1``), in order of finishing.

    Found with one forward pass of zeros (``forward_features`` for a timm model).
    """
    dims = get_spatial_dim(output_format(model))
    outputs: list[tuple[str, nn.Module, Any]] = []
    handles = [
        module.register_forward_hook(lambda m, _i, out, name=name: outputs.append((name, m, out)))
        for name, module in model.named_modules()
        if name and not isinstance(module, _PASS_THROUGH)
    ]
    try:
        with torch.no_grad(), eval_mode(model):
            x = torch.zeros(1, *input_size, device=model_device(model))
            timm_model: Any = model  # timm's own methods are untyped
            final = timm_model.forward_features(x) if has_timm_head(model) else model(x)
    finally:
        for handle in handles:
            handle.remove()
    records = []
    for name, module, out in outputs:
        if isinstance(out, torch.Tensor) and out.ndim == 4:
            size = (int(out.shape[dims[0]]), int(out.shape[dims[1]]))
            if min(size) > 1:
                records.append(_SpatialOutput(name, module, size, out is final))
    return records
