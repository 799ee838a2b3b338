"""What the shortcut analysis takes from the model's own forward pass, and re-predictions.

:class:`ModelTap` hooks the classifier's input (the pooled features, timm's
``forward_head(x, pre_logits=True)``, for the site probe) and, for Grad-CAM at one layer,
that layer's output, during the explainer's forward pass: no second pass.

Heatmap scale. pytorch-grad-cam (and the forward-only path, which copies it) returns each
map min-max scaled: ``(L - min L) / max``. Mass fractions are invariant to a positive
scale but not to subtracting a minimum, so for Grad-CAM at a layer whose spatial mean is
the pooled feature vector (checked on every batch) the tap rebuilds the raw map
``L_c = ReLU(sum_k w_ck A_k) / (h w)`` (the exact Grad-CAM map before scaling, see
``docs/architecture.md``) and the attention is measured on it. Any other method or layer
falls back to the explainer's scaled maps, and the report says so (``heatmap_scale``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from assurexray.engine.jobs import StreamOptions
from assurexray.engine.model_opening import OpenedModel
from assurexray.engine.streaming import batched
from assurexray.imaging.preprocess import Geometry

_TOLERANCE: dict[str, Any] = {"rtol": 1e-4, "atol": 1e-5}
RAW = "raw ReLU Grad-CAM map (exact, before pytorch-grad-cam's min-max scaling)"
SCALED = "the explainer's map, min-max scaled per image by pytorch-grad-cam"


@dataclass(frozen=True)
class BatchTap:
    """What one forward pass left behind: pooled features and raw maps (or None)."""

    pooled: np.ndarray | None  # N x K
    raw_maps: np.ndarray | None  # N x h x w, ReLU'd, unscaled


class ModelTap:
    """Forward hooks on the classifier input and the Grad-CAM layer; a context manager."""

    def __init__(self, model: OpenedModel) -> None:
        net: Any = model.checkpoint.model
        explainer = model.explainer
        self.classifier: nn.Module | None = None
        if hasattr(net, "get_classifier") and isinstance(net.get_classifier(), nn.Linear):
            self.classifier = net.get_classifier()
        layers = explainer.target_layers
        self.layer: nn.Module | None = None
        if explainer.method == "gradcam" and len(layers) == 1 and self.classifier is not None:
            self.layer = layers[0][1]
        self.active = True
        self._pooled: list[torch.Tensor] = []
        self._features: list[torch.Tensor] = []
        self._handles: list[Any] = []
        self.scale_note = SCALED
        self.cells: tuple[int, int] | None = None

    def __enter__(self) -> ModelTap:
        if self.classifier is not None:
            self._handles.append(self.classifier.register_forward_pre_hook(self._on_pooled))
        if self.layer is not None:
            self._handles.append(self.layer.register_forward_hook(self._on_features))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _on_pooled(self, module: nn.Module, inputs: tuple[Any, ...]) -> None:
        if self.active and inputs and isinstance(inputs[0], torch.Tensor):
            self._pooled.append(inputs[0].detach().float().cpu())

    def _on_features(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if self.active and isinstance(output, torch.Tensor) and output.ndim == 4:
            self._features.append(output.detach().float().cpu())

    def take(self, n: int, targets: Sequence[int]) -> BatchTap:
        """The batch's features and raw maps: the first capture of ``n`` rows (a probe of one
        image, or a CAM method's extra passes, may add others); then forget them all."""
        pooled = next((p for p in self._pooled if p.ndim == 2 and len(p) == n), None)
        features = next((f for f in self._features if len(f) == n), None)
        self._pooled.clear()
        self._features.clear()
        raw = None
        if pooled is not None and features is not None and self.classifier is not None:
            raw = self._raw_maps(features, pooled, targets)
        return BatchTap(None if pooled is None else pooled.numpy(), raw)

    def _raw_maps(
        self, features: torch.Tensor, pooled: torch.Tensor, targets: Sequence[int]
    ) -> np.ndarray | None:
        """``ReLU(sum_k w_ck A_k) / (h w)`` when the layer's spatial mean is the pooled vector."""
        if _same(features.mean(dim=(2, 3)), pooled):
            nchw = features
        elif _same(features.mean(dim=(1, 2)), pooled):
            nchw = features.permute(0, 3, 1, 2)
        else:
            self.scale_note = SCALED
            return None
        assert isinstance(self.classifier, nn.Linear)
        weight = self.classifier.weight.detach().float().cpu()[torch.as_tensor(list(targets))]
        h, w = nchw.shape[-2:]
        cams = torch.einsum("nk,nkhw->nhw", weight, nchw) / (h * w)
        self.scale_note = RAW
        self.cells = (int(h), int(w))
        return np.maximum(cams.numpy(), 0.0).astype(np.float32)


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal shapes and values (a head that normalises after pooling, e.g. ConvNeXt's, is not)."""
    return a.shape == b.shape and torch.allclose(a, b, **_TOLERANCE)


def to_frame(network_map: np.ndarray, geometry: Geometry, size: tuple[int, int]) -> np.ndarray:
    """A heatmap at the network input (``S x S``) or at feature resolution (``h x w``) in
    the image's frame at ``size = (H, W)``: padding cropped, bilinear, NOT rescaled."""
    s = geometry.network_size
    m: np.ndarray = np.ascontiguousarray(network_map, dtype=np.float32)
    if m.shape != (s, s):
        m = cv2.resize(m, (s, s), interpolation=cv2.INTER_LINEAR)  # as scale_cam_image
    left, top, right, bottom = geometry.content_box
    crop = np.ascontiguousarray(m[top:bottom, left:right])
    out = cv2.resize(crop, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return np.maximum(out, 0.0)


def predict_arrays(
    model: OpenedModel, tensors: Sequence[np.ndarray], stream: StreamOptions, tap: ModelTap
) -> np.ndarray:
    """Softmax probabilities of preprocessed inputs, in batches (the tap is paused)."""
    net = model.checkpoint.model
    out = []
    tap.active = False
    try:
        with torch.inference_mode():
            for chunk in batched(tensors, stream.batch_size):
                x = torch.from_numpy(np.stack(chunk)).to(stream.torch_device)
                out.append(torch.softmax(net(x).float(), dim=1).cpu().numpy())
    finally:
        tap.active = True
    n_classes = len(model.class_names)
    return np.concatenate(out) if out else np.zeros((0, n_classes), np.float32)
