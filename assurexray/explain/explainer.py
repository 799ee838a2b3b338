"""Heatmaps of a classifier: CAM methods by name, run through pytorch-grad-cam.

The mathematics belongs to pytorch-grad-cam. This module chooses the method,
builds the reshape transform a transformer needs, resolves the class to explain
for every image, and returns heatmaps together with the logits of the same
forward pass. Target layers come from :mod:`assurexray.explain.target_layers`; where the
model allows it (checked once on the first batch by
:mod:`assurexray.explain.layer_probe`), Grad-CAM takes the exact forward-only path of
:mod:`assurexray.explain.fast_gradcam`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from assurexray.core.errors import ExplainError
from assurexray.explain.attributions import (
    LAYER_METHODS,
    AttributionOptions,
    attribution_heatmaps,
    check_attribution_layers,
    is_attribution,
)
from assurexray.explain.cam_methods import (
    AGGREGATIONS,
    ROLLOUT,
    available_methods,
    canonical_method,
    run_cam,
)
from assurexray.explain.explanation import Explanation as Explanation
from assurexray.explain.explanation import heatmaps_to_original as heatmaps_to_original
from assurexray.explain.fast_gradcam import fast_gradcam
from assurexray.explain.layer_probe import LAYOUT_FORMATS, probe_layers
from assurexray.explain.rollout import (
    DEFAULT_DISCARD_RATIO,
    DEFAULT_HEAD_FUSION,
    attention_modules,
    check_rollout_options,
    rollout_heatmaps,
)
from assurexray.explain.target_layers import (
    LayerSpec,
    eval_mode,
    feature_stages,
    has_timm_head,
    model_device,
    resolve_target_layers,
)

__all__ = [
    "Explainer",
    "Explanation",
    "available_methods",
    "canonical_method",
    "feature_stages",
    "heatmaps_to_original",
    "resolve_target_layers",
]

TargetSpec = int | str | Sequence[int | str | None] | np.ndarray | torch.Tensor | None


class Explainer:
    """Predict and explain batches of preprocessed images with one method.

    Example::

        explainer = Explainer(model, class_names=("Normal", "Benign", "Malignant"))
        result = explainer.explain(batch)            # predicted class of each image
        result = explainer.explain(batch, ["Malignant", None, 0])

    Attributes:
        fast_path_reason: After the first call, why the forward-only path is
            or is not used (None before).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        method: str = "gradcam",
        target_layers: LayerSpec = "auto",
        aggregation: str = "mean",
        fast_path: bool = True,
        class_names: Sequence[str] | None = None,
        device: str | torch.device | None = None,
        head_fusion: str = DEFAULT_HEAD_FUSION,
        discard_ratio: float = DEFAULT_DISCARD_RATIO,
        attribution: AttributionOptions | None = None,
    ) -> None:
        """Set up the explainer; the model is not run until the first call.

        Args:
            model: The classifier (a timm model for the fast path and ViTs).
            method: One of :func:`available_methods`.
            target_layers: See :func:`resolve_target_layers`.
            aggregation: How maps of several layers combine: ``mean`` (as
                pytorch-grad-cam), ``max``, or ``weighted``: ``Σ w_l M_l / Σ w_l``
                over the per-layer [0, 1] maps ``M_l``, each weighted by its
                mass (its mean).
            fast_path: Use the exact forward-only Grad-CAM where the model allows.
            class_names: Names for targets given as strings, in class order.
            device: Move the model there; default: where the model is.
            head_fusion: Rollout only: how attention heads are fused, ``mean``,
                ``max`` or ``min``.
            discard_ratio: Rollout only: the share of each block's lowest
                attentions dropped, in [0, 1).
            attribution: Captum methods only: steps, samples, window and seed.

        Raises:
            ExplainError: Unknown method, aggregation, layer or rollout option.
        """
        self.method = canonical_method(method)
        check_rollout_options(head_fusion, discard_ratio)
        self.head_fusion = head_fusion
        self.discard_ratio = float(discard_ratio)
        self.attribution = attribution or AttributionOptions()
        if aggregation not in AGGREGATIONS:
            raise ExplainError(
                f"unknown aggregation {aggregation!r}; valid: {', '.join(AGGREGATIONS)}"
            )
        if device is not None:
            model = model.to(device)
        self.model = model
        self.device = torch.device(device) if device is not None else model_device(model)
        self.class_names = tuple(class_names) if class_names is not None else None
        self.num_classes = _num_classes(model, self.class_names)
        self.aggregation = aggregation
        self.fast_path = fast_path
        if self.method == ROLLOUT:
            if not (target_layers is None or target_layers == "auto"):
                raise ExplainError(
                    "rollout uses every attention block; leave target_layers at 'auto'"
                )
            self.target_layers = attention_modules(model)
            if not self.target_layers:
                raise ExplainError(
                    f"rollout needs a timm vision transformer, not {type(model).__name__}"
                )
        elif is_attribution(self.method) and self.method not in LAYER_METHODS:
            self.target_layers = []  # attributions to the input pixels
        else:
            self.target_layers = resolve_target_layers(model, target_layers)
            check_attribution_layers(self.method, model, self.target_layers)
        self.fast_path_reason: str | None = None
        self._layout: str | None = None
        self._fast = False

    @property
    def target_layer_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.target_layers)

    def explain(self, batch: torch.Tensor | np.ndarray, targets: TargetSpec = None) -> Explanation:
        """Predict and explain a batch.

        Args:
            batch: ``N×C×H×W`` (or one ``C×H×W``) preprocessed input.
            targets: None for the predicted classes; one class (index or name)
                for every image; or one per image, None meaning predicted.

        Returns:
            The :class:`Explanation`.

        Raises:
            ExplainError: Unknown class, wrong number of targets, or a layer
                that is not a feature map.
        """
        x = torch.as_tensor(batch)
        x = x[None] if x.ndim == 3 else x
        if x.ndim != 4 or len(x) == 0:
            raise ExplainError(f"expected an N×C×H×W batch, got shape {tuple(x.shape)}")
        wanted = self._target_list(targets, len(x))
        x = x.to(self.device, dtype=torch.float32)
        with eval_mode(self.model):
            if self.method == ROLLOUT:
                maps, logits = rollout_heatmaps(
                    self.model, x, head_fusion=self.head_fusion, discard_ratio=self.discard_ratio
                )
                explained = _fill(wanted, logits)
            elif is_attribution(self.method):
                maps, logits, explained = self._attribution_maps(x, wanted)
            else:
                self._probe(x[:1])
                run = self._fast_maps if self._fast else self._cam_maps
                maps, logits, explained = run(x, wanted)
        logits = logits.detach().float().cpu()
        maps = np.clip(np.nan_to_num(maps), 0.0, 1.0).astype(np.float32)
        return Explanation(
            heatmaps=maps,
            logits=logits.numpy(),
            probabilities=torch.softmax(logits, dim=1).numpy(),
            predicted=logits.argmax(dim=1).numpy(),
            targets=np.asarray(explained, dtype=np.int64),
            empty=~(maps.reshape(len(maps), -1).max(axis=1) > 0),
            method=self.method,
            target_layers=self.target_layer_names,
            used_fast_path=self._fast,
            class_names=self.class_names,
        )

    def class_index(self, target: int | str) -> int:
        """A class given by name (any case) or index, checked against the model."""
        names = self.class_names or ()
        if isinstance(target, str):
            text = target.strip()
            lowered = [name.lower() for name in names]
            if text.lower() in lowered:
                return lowered.index(text.lower())
            if not text.isdigit():
                known = (
                    f"known classes: {', '.join(names)}" if names else "no class names are known"
                )
                raise ExplainError(f"unknown class {target!r}; {known}")
            target = int(text)
        if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
            raise ExplainError(f"a target class must be an index or a name, not {target!r}")
        if target < 0 or (self.num_classes is not None and target >= self.num_classes):
            limit = f"0–{self.num_classes - 1}" if self.num_classes else "non-negative"
            raise ExplainError(f"class index {target} is out of range ({limit})")
        return int(target)

    def _fast_maps(
        self, x: torch.Tensor, wanted: list[int | None]
    ) -> tuple[np.ndarray, torch.Tensor, list[int]]:
        assert self._layout is not None  # _probe has run
        return fast_gradcam(self.model, x, wanted, LAYOUT_FORMATS[self._layout])

    def _cam_maps(
        self, x: torch.Tensor, wanted: list[int | None]
    ) -> tuple[np.ndarray, torch.Tensor, list[int]]:
        assert self._layout is not None  # _probe has run
        return run_cam(
            self.model,
            self.method,
            self.target_layers,
            x,
            wanted,
            layout=self._layout,
            aggregation=self.aggregation,
        )

    def _attribution_maps(
        self, x: torch.Tensor, wanted: list[int | None]
    ) -> tuple[np.ndarray, torch.Tensor, list[int]]:
        layer = None
        if self.target_layers:
            self._probe(x[:1])
            if self._layout != "nchw":
                raise ExplainError(
                    f"{self.method} needs an N×C×H×W feature map; "
                    f"{self.target_layer_names[0]} is laid out {self._layout}"
                )
            layer = self.target_layers[0][1]
        return attribution_heatmaps(
            self.model, self.method, x, wanted, layer=layer, options=self.attribution
        )

    def _probe(self, sample: torch.Tensor) -> None:
        """Once: learn the layout of the target layers and whether the fast path is exact."""
        if self._layout is None:
            probed = probe_layers(
                self.model, self.target_layers, sample, method=self.method, fast_path=self.fast_path
            )
            self._layout, self._fast, self.fast_path_reason = probed

    def _target_list(self, targets: TargetSpec, n: int) -> list[int | None]:
        """One class index (or None = predicted) per image."""
        if isinstance(targets, (torch.Tensor, np.ndarray)):
            targets = targets.tolist()
        if targets is None or isinstance(targets, (str, int, np.integer)):
            single = None if targets is None else self.class_index(targets)
            return [single] * n
        items = list(targets)
        if len(items) != n:
            raise ExplainError(f"{len(items)} targets given for a batch of {n} images")
        return [None if t is None else self.class_index(t) for t in items]


def _fill(wanted: list[int | None], logits: torch.Tensor) -> list[int]:
    """Replace None by the predicted class."""
    predicted = logits.argmax(dim=1).tolist()
    return [p if t is None else t for t, p in zip(wanted, predicted, strict=True)]


def _num_classes(model: nn.Module, class_names: tuple[str, ...] | None) -> int | None:
    count = getattr(model, "num_classes", None)
    if isinstance(count, int) and count > 0:
        return count
    if class_names:
        return len(class_names)
    timm_model: Any = model  # timm's own methods are untyped
    classifier = timm_model.get_classifier() if has_timm_head(model) else None
    return getattr(classifier, "out_features", None)
