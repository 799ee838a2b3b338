"""Faster model passes for the shortcut job, undone afterwards.

The job runs every image through the network three times (the prediction, its artefacts
removed, the control), so the forward pass is most of its cost. Two changes make it
cheaper without changing what the network computes, and each is undone when the job ends
(also on an error or Ctrl-C):

* :func:`folded_batch_norms`: a BatchNorm in eval mode is an affine map per channel, so
  the convolution feeding it can absorb it (``torch.nn.utils.fusion.fuse_conv_bn_weights``)
  and the BatchNorm is skipped (``bench_shortcuts.py`` times a prediction with and
  without both changes);
* :func:`channels_last`: the ``Conv2d`` weights in the layout oneDNN's CPU kernels prefer.

Both change the network's outputs only by float rounding. The folding is checked on a
probe input before it is used (the output, and the Grad-CAM layer's, to
:data:`FOLD_TOLERANCE`) and undone when they disagree: on CUDA, where convolutions may
run in TF32, that can leave the network unfolded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from assurexray.engine.model_opening import OpenedModel

#: What the report says about the model passes.
SPEED_NOTE = (
    "during the job, where the network allows, BatchNorms are folded into the convolution "
    "before them and convolution weights are in channels_last (both undone afterwards); "
    "on a probe input the folded network's output and its Grad-CAM layer's agree with the "
    "unchanged network's to 1e-4 of their largest value, else nothing is folded"
)
#: Largest difference allowed between the folded and unfolded network's outputs on the
#: probe, relative to the outputs' largest magnitude (float rounding is about 1e-6).
FOLD_TOLERANCE = 1e-4


@contextmanager
def folded_batch_norms(
    net: nn.Module, probe: torch.Tensor, keep: tuple[nn.Module, ...] = ()
) -> Iterator[int]:
    """Fold each eval-mode BatchNorm that reads a convolution's output into it, meanwhile.

    Pairs are found by running ``probe`` through the network: a ``BatchNorm2d`` (or timm's
    ``BatchNormAct2d``) in eval mode that is called right after a ``Conv2d`` on the very
    tensor it returned, unchanged. Left alone: a pair that would change the output of a
    layer in ``keep`` (the Grad-CAM layers: a convolution inside one whose BatchNorm lies
    outside it), modules called twice, shared weights, and modules carrying hooks or a
    forward of their own. The folded network's output, and each kept layer's, must match
    the unfolded one's on ``probe`` to :data:`FOLD_TOLERANCE` of their largest magnitude,
    else nothing is folded (a convolution whose output is also read elsewhere, say).

    Yields:
        The number of BatchNorms folded (0: the network runs unchanged).
    """
    pairs = _conv_norm_pairs(net, probe, keep)
    undo: list[Callable[[], None]] = []
    try:
        if pairs:
            before = _outputs(net, probe, keep)
            for conv, norm in pairs:
                _fold(conv, norm, undo)
            if not all(map(_agree, before, _outputs(net, probe, keep))):
                _undo(undo)
                pairs = []
        yield len(pairs)
    finally:
        _undo(undo)


def _outputs(net: nn.Module, probe: torch.Tensor, keep: tuple[nn.Module, ...]) -> list[Any]:
    """The network's output on ``probe`` and each kept layer's."""
    seen: list[Any] = [None] * len(keep)

    def hook(index: int) -> Callable[..., None]:
        return lambda module, args, output: seen.__setitem__(index, output)

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(keep)]
    try:
        with torch.no_grad():
            return [net(probe), *seen]
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def faster_passes(model: OpenedModel) -> Iterator[dict[str, Any]]:
    """The job's passes: :func:`folded_batch_norms` (probed on one seeded random input of
    the network's size, the explainer's layers kept), then :func:`channels_last`; yields
    what was done, for the report."""
    net, config = model.checkpoint.model, model.preprocess
    keep = tuple(layer for _, layer in model.explainer.target_layers)
    weight = next(net.parameters(), torch.zeros(0))
    generator = torch.Generator().manual_seed(0)
    size = (1, config.channels, config.image_size, config.image_size)
    probe = torch.randn(size, generator=generator).to(device=weight.device, dtype=weight.dtype)
    with folded_batch_norms(net, probe, keep) as folded, channels_last(net) as converted:
        yield {"batch_norms_folded": folded, "channels_last": converted}


@contextmanager
def channels_last(net: nn.Module) -> Iterator[bool]:
    """A convolutional network's ``Conv2d`` weights in ``channels_last`` meanwhile.

    Each converted weight gets its own tensor back afterwards (also on an error or
    Ctrl-C), so nothing else about the model changes. ``bench_shortcuts.py`` times an
    EfficientNet-B0's prediction so; the maps and probabilities agree with the usual
    layout's to float rounding (tested). A network that is not mostly ``Conv2d`` weights
    (a ViT), and weights on a device other than the CPU or CUDA, are left as they are.

    Yields:
        Whether any weight was converted.
    """
    weights = {
        id(m.weight): m.weight
        for m in net.modules()
        if isinstance(m, nn.Conv2d) and not nn.parameter.is_lazy(m.weight)
    }
    total = sum(p.numel() for p in net.parameters() if not nn.parameter.is_lazy(p))
    chosen = []
    if 2 * sum(w.numel() for w in weights.values()) > total:
        chosen = [w for w in weights.values() if w.device.type in ("cpu", "cuda")]
    converted: list[tuple[torch.Tensor, torch.Tensor]] = []  # (weight, its own tensor)
    try:
        for w in chosen:
            converted.append((w, w.data))
            w.data = w.data.contiguous(memory_format=torch.channels_last)
        yield bool(converted)
    finally:
        for w, own in converted:
            w.data = own


def _undo(undo: list[Callable[[], None]]) -> None:
    while undo:
        undo.pop()()


def _agree(before: Any, after: Any) -> bool:
    """Same shape and values to :data:`FOLD_TOLERANCE` of the largest magnitude (a layer
    that returned no tensor must return none again)."""
    if not (isinstance(before, torch.Tensor) and isinstance(after, torch.Tensor)):
        return before is None and after is None
    if before.shape != after.shape or not torch.isfinite(after).all():
        return False
    scale = float(before.abs().max()) if before.numel() else 0.0
    return bool((before - after).abs().max() <= FOLD_TOLERANCE * max(scale, 1.0))


def _untouched(module: nn.Module) -> bool:
    """No hooks and no forward of its own: nothing else watches or replaces its pass."""
    return not (module._forward_hooks or module._forward_pre_hooks or "forward" in vars(module))


def _foldable_norm(module: nn.Module) -> bool:
    """A BatchNorm in eval mode with running statistics, whose forward we can replace."""
    from timm.layers import BatchNormAct2d

    return (
        type(module) in (nn.BatchNorm2d, BatchNormAct2d)
        and not module.training
        and getattr(module, "running_mean", None) is not None
        and getattr(module, "running_var", None) is not None
        and _untouched(module)
    )


def _conv_norm_pairs(
    net: nn.Module, probe: torch.Tensor, keep: tuple[nn.Module, ...]
) -> list[tuple[nn.Conv2d, nn.Module]]:
    """``(conv, norm)`` pairs: the norm, called next, reads the conv's output unchanged."""
    norms = [m for m in net.modules() if _foldable_norm(m)]
    convs = [
        m
        for m in net.modules()
        if type(m) is nn.Conv2d and not nn.parameter.is_lazy(m.weight) and _untouched(m)
    ]
    if not norms or not convs:
        return []
    last: list[Any] = [None, None, -1]  # the latest Conv2d, its output and its version
    found: list[tuple[nn.Conv2d, nn.Module]] = []
    calls: dict[nn.Module, int] = {}

    def on_conv(module: nn.Module, _: Any, output: Any) -> None:
        calls[module] = calls.get(module, 0) + 1
        version = output._version if isinstance(output, torch.Tensor) else -1
        last[:] = [module, output, version]

    def on_norm(module: nn.Module, args: tuple[Any, ...]) -> None:
        calls[module] = calls.get(module, 0) + 1
        x = args[0] if args else None
        if x is not None and x is last[1] and x._version == last[2]:  # no in-place op between
            found.append((last[0], module))
        last[:] = [None, None, -1]

    handles = [c.register_forward_hook(on_conv) for c in convs]
    handles += [n.register_forward_pre_hook(on_norm) for n in norms]
    try:
        with torch.no_grad():  # not inference mode: in-place changes must count versions
            net(probe)
    except RuntimeError:  # the job's own passes will say what is wrong with the network
        found.clear()
    finally:
        for handle in handles:
            handle.remove()
    weights = [id(c.weight) for c in convs]
    return [
        (conv, norm)
        for conv, norm in found
        if calls[conv] == calls[norm] == 1  # one call each: one fold, one meaning
        and weights.count(id(conv.weight)) == 1
        and not any(_changes(k, conv, norm) for k in keep)
    ]


def _changes(layer: nn.Module, conv: nn.Module, norm: nn.Module) -> bool:
    """Folding would change ``layer``'s output: the conv is in it, the norm is not."""
    inside = set(map(id, layer.modules()))
    return id(conv) in inside and id(norm) not in inside


def _fold(conv: nn.Conv2d, norm: Any, undo: list[Callable[[], None]]) -> None:
    """Fold ``norm`` into ``conv`` and skip it; what undoes both goes on ``undo`` first, so
    an interruption halfway leaves nothing changed behind."""
    weight, bias = conv.weight.data, conv.bias
    own_bias = None if bias is None else bias.data

    def restore() -> None:
        vars(norm).pop("forward", None)
        conv.weight.data = weight
        if bias is None or own_bias is None:
            conv.bias = None
        else:
            bias.data = own_bias

    undo.append(restore)
    with torch.no_grad():
        fused_w, fused_b = fuse_conv_bn_weights(
            weight, own_bias, norm.running_mean, norm.running_var, norm.eps, norm.weight,
            norm.bias,
        )  # fmt: skip
    conv.weight.data = fused_w.data
    if bias is None:
        conv.bias = nn.Parameter(fused_b.data, requires_grad=conv.weight.requires_grad)
    else:
        bias.data = fused_b.data
    # timm's BatchNormAct2d normalises, then drops and activates: those two stay
    plain = type(norm) is nn.BatchNorm2d
    vars(norm)["forward"] = _identity if plain else partial(_then, norm.drop, norm.act)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _then(first: nn.Module, second: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return second(first(x))
