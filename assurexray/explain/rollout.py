"""Attention rollout for vision transformers (Abnar & Zuidema 2020).

Rollout follows the attention from the class token down to the patches: at
every block the heads are fused into one matrix, the weakest attentions are
optionally discarded, the identity is added for the residual connection and
the rows are renormalised; the matrices are multiplied through the blocks and
the class-token row, over the patch tokens, is the heatmap.

:func:`attention_rollout` is the pure computation on a list of attention
tensors; :func:`rollout_heatmaps` captures those tensors from a timm ViT and
returns input-size heatmaps with the logits of the same forward pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from pytorch_grad_cam.utils.image import scale_cam_image
from torch import nn

from assurexray.core.errors import ExplainError

HEAD_FUSIONS = ("mean", "max", "min")
DEFAULT_HEAD_FUSION = "mean"
DEFAULT_DISCARD_RATIO = 0.9
"""The defaults of :class:`~assurexray.explain.explainer.Explainer` and ``explain.rollout``:
heads averaged, the lowest 90 % of each block's attentions dropped (as before the
package was split into folders, and as in Abnar & Zuidema's reference code's examples)."""


def check_rollout_options(head_fusion: str, discard_ratio: float) -> None:
    """Raise a one-line :class:`ExplainError` for an unknown fusion or a ratio outside [0, 1)."""
    if head_fusion not in HEAD_FUSIONS:
        raise ExplainError(
            f"rollout head fusion {head_fusion!r} is not one of {', '.join(HEAD_FUSIONS)}"
        )
    if not 0.0 <= discard_ratio < 1.0:
        raise ExplainError(f"rollout discard_ratio must be in [0, 1), got {discard_ratio}")


def rollout_matrix(
    attentions: Sequence[torch.Tensor],
    *,
    head_fusion: str = "mean",
    discard_ratio: float = 0.0,
    class_index: int | None = 0,
) -> torch.Tensor:
    """Multiply the fused, residual-corrected attention matrices through the blocks.

    Args:
        attentions: One ``B×heads×T×T`` tensor per block, in forward order.
        head_fusion: How heads are fused: ``mean``, ``max`` or ``min``.
        discard_ratio: Fraction of the fused attentions set to zero per image,
            lowest first. Entries in the class-token row and column are never
            discarded (and do not count towards the fraction).
        class_index: Position of the class token, or None if there is none.

    Returns:
        ``B×T×T`` float32 rollout, ``A_L ⋯ A_1`` with each ``A_l`` row-stochastic.

    Raises:
        ExplainError: No attentions, an unknown fusion, or a ratio outside [0, 1).
    """
    check_rollout_options(head_fusion, discard_ratio)
    if not attentions:
        raise ExplainError("attention rollout needs at least one attention matrix")
    batch, _, tokens, _ = attentions[0].shape
    eye = torch.eye(tokens, dtype=torch.float32, device=attentions[0].device)
    result = eye.expand(batch, tokens, tokens).clone()
    for attention in attentions:
        fused = _fuse_heads(attention.detach().float(), head_fusion)
        if discard_ratio > 0:
            fused = _discard_lowest(fused, discard_ratio, class_index)
        residual = (fused + eye) / 2
        residual = residual / residual.sum(dim=-1, keepdim=True)
        result = residual @ result
    return result


def attention_rollout(
    attentions: Sequence[torch.Tensor],
    *,
    head_fusion: str = "mean",
    discard_ratio: float = 0.0,
    num_prefix_tokens: int = 1,
    class_index: int | None = 0,
) -> torch.Tensor:
    """Rollout relevance of every patch token for the model's output.

    Args:
        attentions: One ``B×heads×T×T`` tensor per block, in forward order.
        head_fusion: ``mean``, ``max`` or ``min`` over heads.
        discard_ratio: Fraction of the lowest attentions dropped per block.
        num_prefix_tokens: Tokens before the patches (class and register tokens).
        class_index: Position of the class token; None (a model pooling the
            patch tokens) averages the rollout rows of the patches instead.

    Returns:
        ``B×P`` float32 relevance of the ``P = T - num_prefix_tokens`` patches.
    """
    result = rollout_matrix(
        attentions, head_fusion=head_fusion, discard_ratio=discard_ratio, class_index=class_index
    )
    if class_index is None:
        rows = result[:, num_prefix_tokens:, :].mean(dim=1)
    else:
        rows = result[:, class_index, :]
    return rows[:, num_prefix_tokens:]


def _fuse_heads(attention: torch.Tensor, head_fusion: str) -> torch.Tensor:
    if head_fusion == "mean":
        return attention.mean(dim=1)
    if head_fusion == "max":
        return attention.amax(dim=1)
    return attention.amin(dim=1)


def _discard_lowest(fused: torch.Tensor, ratio: float, class_index: int | None) -> torch.Tensor:
    """Zero the lowest ``ratio`` of each image's entries outside the class-token row/column."""
    batch, tokens, _ = fused.shape
    protected = torch.zeros(tokens, tokens, dtype=torch.bool, device=fused.device)
    if class_index is not None:
        protected[class_index, :] = True
        protected[:, class_index] = True
    count = int((tokens * tokens - int(protected.sum())) * ratio)
    if count == 0:
        return fused
    flat = fused.reshape(batch, -1).clone()
    candidates = flat.masked_fill(protected.reshape(1, -1), float("inf"))
    lowest = candidates.topk(count, dim=-1, largest=False).indices
    return flat.scatter(1, lowest, 0.0).reshape(batch, tokens, tokens)


def token_layout(model: nn.Module, input_hw: tuple[int, int]) -> tuple[int, tuple[int, int]]:
    """Number of prefix tokens and the patch grid of a timm ViT for an input size.

    Args:
        model: A timm vision transformer (it has ``patch_embed``).
        input_hw: ``(H, W)`` of the network input.

    Returns:
        ``(num_prefix_tokens, (grid_h, grid_w))``; prefix tokens are the class
        token and any register/distillation tokens.

    Raises:
        ExplainError: The model has no patch embedding.
    """
    embed = getattr(model, "patch_embed", None)
    if embed is None:
        raise ExplainError(f"{type(model).__name__} has no patch_embed: not a vision transformer")
    default_prefix = 1 if getattr(model, "cls_token", None) is not None else 0
    prefix = int(getattr(model, "num_prefix_tokens", default_prefix))
    if hasattr(embed, "dynamic_feat_size"):
        grid = tuple(int(g) for g in embed.dynamic_feat_size(tuple(input_hw)))
    elif getattr(embed, "patch_size", None) is not None:
        patch = embed.patch_size
        patch = (patch, patch) if isinstance(patch, int) else patch
        grid = (input_hw[0] // patch[0], input_hw[1] // patch[1])
    else:
        grid = tuple(int(g) for g in embed.grid_size)
    return prefix, (grid[0], grid[1])


def class_token_index(model: nn.Module) -> int | None:
    """0 when the model has a class token (timm puts it first), else None."""
    return 0 if getattr(model, "cls_token", None) is not None else None


def attention_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """timm attention modules (they have ``fused_attn`` and ``attn_drop``), in order."""
    return [
        (name, module)
        for name, module in model.named_modules()
        if hasattr(module, "fused_attn")
        and isinstance(getattr(module, "attn_drop", None), nn.Module)
    ]


@contextmanager
def captured_attention(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Record every block's attention matrix during the forward passes inside the block.

    Fused attention (``F.scaled_dot_product_attention``) never materialises
    the matrix, so it is switched off for the capture; the ``fused_attn``
    flags and the hooks are restored even if the forward pass fails.

    Yields:
        A list that fills with one ``B×heads×T×T`` tensor per block.

    Raises:
        ExplainError: The model has no timm attention modules.
    """
    modules: list[Any] = [module for _, module in attention_modules(model)]  # timm: untyped
    if not modules:
        raise ExplainError(
            f"{type(model).__name__} has no timm attention modules: rollout needs a ViT"
        )
    captured: list[torch.Tensor] = []
    saved = [module.fused_attn for module in modules]
    handles = []
    try:
        for module in modules:
            module.fused_attn = False
            handles.append(
                module.attn_drop.register_forward_hook(
                    lambda _m, _i, out: captured.append(out.detach())
                )
            )
        yield captured
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in zip(modules, saved, strict=True):
            module.fused_attn = flag


def rollout_heatmaps(
    model: nn.Module,
    batch: torch.Tensor,
    *,
    head_fusion: str = DEFAULT_HEAD_FUSION,
    discard_ratio: float = DEFAULT_DISCARD_RATIO,
) -> tuple[np.ndarray, torch.Tensor]:
    """Attention-rollout heatmaps of a timm ViT, with the logits of the same pass.

    Args:
        model: A timm vision transformer, in eval mode.
        batch: ``N×C×H×W`` network input.
        head_fusion: ``mean``, ``max`` or ``min``.
        discard_ratio: Fraction of the lowest attentions dropped per block.

    Returns:
        ``(heatmaps, logits)``: float32 ``N×H×W`` maps min–max scaled to
        [0, 1] (all zero if flat), and the ``N×classes`` logits.

    Raises:
        ExplainError: Not a ViT, or the token count does not fit the patch grid.
    """
    height, width = batch.shape[-2:]
    prefix, grid = token_layout(model, (height, width))
    with captured_attention(model) as attentions, torch.no_grad():
        logits = model(batch)
    tokens = attentions[0].shape[-1]
    if tokens - prefix != grid[0] * grid[1]:
        raise ExplainError(
            f"{tokens} tokens do not fit {prefix} prefix tokens and a {grid[0]}×{grid[1]} grid"
        )
    relevance = attention_rollout(
        attentions,
        head_fusion=head_fusion,
        discard_ratio=discard_ratio,
        num_prefix_tokens=prefix,
        class_index=class_token_index(model),
    )
    maps = relevance.reshape(-1, *grid).cpu().numpy()
    heatmaps = scale_cam_image(scale_cam_image(maps, (width, height)))
    return np.nan_to_num(heatmaps).astype(np.float32), logits
