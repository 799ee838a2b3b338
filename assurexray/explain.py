"""Heatmaps of a classifier: CAM methods by name, target layers, an exact fast path.

The mathematics belongs to pytorch-grad-cam. This module chooses the method
and the target layers, builds the reshape transform a transformer needs,
resolves the class to explain for every image, and returns heatmaps together
with the logits of the same forward pass.

For a timm model whose head is global average pooling followed by one linear
layer, Grad-CAM at the final feature map is exactly ``ReLU(Σ_k w_ck A_k)/(h·w)``
(the gradient of logit c with respect to ``A_k(i, j)`` is ``w_ck/(h·w)``), so
the maps of every class come out of the prediction's own forward pass with no
backward pass. They are then normalised and upsampled with pytorch-grad-cam's
own ``scale_cam_image``, so both paths give the same numbers.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from functools import partial
from typing import Any

import numpy as np
import pytorch_grad_cam as pgc
import torch
from pytorch_grad_cam.ablation_layer import AblationLayer, AblationLayerVit
from pytorch_grad_cam.base_cam import BaseCAM
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from assurexray.errors import ExplainError
from assurexray.rollout import HEAD_FUSIONS, attention_modules, rollout_heatmaps, token_layout

ROLLOUT = "rollout"
AGGREGATIONS = ("mean", "max", "weighted")
_CAM_METHODS: dict[str, type[BaseCAM]] = {
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
_ALIASES = {"gradcampp": "gradcam++", "gradcamplusplus": "gradcam++"}
# Modules that only pass their input on: never chosen as an automatic target.
_PASS_THROUGH = (nn.Identity, nn.Dropout, nn.Dropout2d)
_TOLERANCE: dict[str, Any] = {"rtol": 1e-4, "atol": 1e-5}

LayerSpec = str | nn.Module | Sequence[str | nn.Module] | None
TargetSpec = int | str | Sequence[int | str | None] | np.ndarray | torch.Tensor | None
# (heatmaps, heatmaps of every class or None, logits, explained classes) of one chunk.
_Maps = tuple[np.ndarray, np.ndarray | None, torch.Tensor, list[int]]


@dataclass(frozen=True)
class Explanation:
    """Heatmaps of a batch and the prediction of the same forward pass.

    Attributes:
        heatmaps: ``N×H×W`` float32 in [0, 1] at the network input size, for
            the explained class of each image; never NaN.
        logits: ``N×C`` float32.
        probabilities: ``N×C`` float32 softmax of the logits.
        predicted: ``N`` predicted class indices.
        targets: ``N`` explained class indices.
        empty: ``N`` booleans, True where the heatmap is all zero (no positive
            evidence for the class at the target layer).
        method: Canonical method name, e.g. ``gradcam``.
        target_layers: Names of the layers the maps come from.
        used_fast_path: The maps came from the forward-only path.
        class_heatmaps: ``N×C×H×W`` maps of every class (``all_classes=True``).
        class_names: Names of the classes, if known.
    """

    heatmaps: np.ndarray
    logits: np.ndarray
    probabilities: np.ndarray
    predicted: np.ndarray
    targets: np.ndarray
    empty: np.ndarray
    method: str
    target_layers: tuple[str, ...]
    used_fast_path: bool
    class_heatmaps: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.heatmaps)


def available_methods() -> list[str]:
    """Names accepted as ``method`` (``rollout`` needs a vision transformer)."""
    return [*_CAM_METHODS, ROLLOUT]


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


def resolve_target_layers(
    model: nn.Module, spec: LayerSpec = "auto", *, input_size: tuple[int, int, int] | None = None
) -> list[tuple[str, nn.Module]]:
    """Find the layers whose activations the heatmaps are computed from.

    Args:
        model: The classifier.
        spec: ``auto``; a dotted module name (``layer4``, ``blocks.-1.norm1``);
            several names separated by commas; a module; or a list of these.
            ``auto`` takes the model's ``gradcam_target_layer`` if set, the
            last block's ``norm1`` for a timm ViT, and otherwise the last
            module whose output is still a spatial map with ``h, w > 1``,
            found with one forward pass of zeros.
        input_size: ``(C, H, W)`` of that forward pass; default from the model.

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


def heatmaps_to_original(
    heatmaps: np.ndarray | Sequence[np.ndarray], geometries: Sequence
) -> list[np.ndarray]:
    """Map network-size heatmaps back to each image's original frame.

    Args:
        heatmaps: ``N×S×S`` maps (or a list of ``S×S`` maps).
        geometries: One :class:`assurexray.preprocess.Geometry` per map.

    Returns:
        One float32 ``H×W`` map in [0, 1] per image.
    """
    if len(heatmaps) != len(geometries):
        raise ExplainError(f"{len(heatmaps)} heatmaps but {len(geometries)} geometries")
    return [
        geometry.heatmap_to_original(np.asarray(h))
        for h, geometry in zip(heatmaps, geometries, strict=True)
    ]


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
        layer_weights: Sequence[float] | None = None,
        fast_path: bool = True,
        class_names: Sequence[str] | None = None,
        device: str | torch.device | None = None,
        batch_size: int | None = None,
        head_fusion: str = "mean",
        discard_ratio: float = 0.9,
    ) -> None:
        """Set up the explainer; the model is not run until the first call.

        Args:
            model: The classifier (a timm model for the fast path and ViTs).
            method: One of :func:`available_methods`.
            target_layers: See :func:`resolve_target_layers`.
            aggregation: How maps of several layers combine: ``mean`` (as
                pytorch-grad-cam), ``max``, or ``weighted``: ``Σ w_l M_l / Σ w_l``
                over the per-layer [0, 1] maps ``M_l``, with ``w_l`` from
                ``layer_weights`` or, if not given, each map's mass (its mean).
            layer_weights: Non-negative weight per target layer for ``weighted``.
            fast_path: Use the exact forward-only Grad-CAM where the model allows.
            class_names: Names for targets given as strings, in class order.
            device: Move the model there; default: where the model is.
            batch_size: Split larger inputs into chunks of this many images.
            head_fusion: Rollout only: ``mean``, ``max`` or ``min`` over heads.
            discard_ratio: Rollout only: fraction of lowest attentions dropped.

        Raises:
            ExplainError: Unknown method, aggregation or layer; bad weights.
        """
        self.method = canonical_method(method)
        if aggregation not in AGGREGATIONS:
            raise ExplainError(
                f"unknown aggregation {aggregation!r}; valid: {', '.join(AGGREGATIONS)}"
            )
        if head_fusion not in HEAD_FUSIONS:
            raise ExplainError(
                f"head fusion {head_fusion!r} is not one of {', '.join(HEAD_FUSIONS)}"
            )
        if device is not None:
            model = model.to(device)
        self.model = model
        self.device = torch.device(device) if device is not None else _model_device(model)
        self.class_names = tuple(class_names) if class_names is not None else None
        self.num_classes = _num_classes(model, self.class_names)
        self.aggregation = aggregation
        self.fast_path = fast_path
        self.batch_size = batch_size
        self.head_fusion = head_fusion
        self.discard_ratio = discard_ratio
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
        else:
            self.target_layers = resolve_target_layers(model, target_layers)
        if layer_weights is not None and aggregation != "weighted":
            raise ExplainError("layer_weights only apply to aggregation='weighted'")
        self.layer_weights = _check_layer_weights(layer_weights, len(self.target_layers))
        self.fast_path_reason: str | None = None
        self._layout: str | None = None
        self._fast = False

    @property
    def target_layer_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.target_layers)

    def explain(
        self,
        batch: torch.Tensor | np.ndarray,
        targets: TargetSpec = None,
        *,
        all_classes: bool = False,
    ) -> Explanation:
        """Predict and explain a batch.

        Args:
            batch: ``N×C×H×W`` (or one ``C×H×W``) preprocessed input.
            targets: None for the predicted classes; one class (index or name)
                for every image; or one per image, None meaning predicted.
            all_classes: Also return the maps of every class.

        Returns:
            The :class:`Explanation`.

        Raises:
            ExplainError: Unknown class, wrong number of targets, a layer that
                is not a feature map, or ``all_classes`` with rollout.
        """
        x = torch.as_tensor(batch)
        x = x[None] if x.ndim == 3 else x
        if x.ndim != 4 or len(x) == 0:
            raise ExplainError(f"expected an N×C×H×W batch, got shape {tuple(x.shape)}")
        if all_classes and self.method == ROLLOUT:
            raise ExplainError("rollout is class-agnostic: all_classes is not available")
        wanted = self._target_list(targets, len(x))
        step = self.batch_size or len(x)
        parts = []
        with _eval_mode(self.model):
            for start in range(0, len(x), step):
                chunk = x[start : start + step].to(self.device, dtype=torch.float32)
                parts.append(self._explain_chunk(chunk, wanted[start : start + step], all_classes))
        return parts[0] if len(parts) == 1 else _concatenate(parts)

    # -- one chunk ---------------------------------------------------------

    def _explain_chunk(
        self, x: torch.Tensor, wanted: list[int | None], all_classes: bool
    ) -> Explanation:
        class_maps = None
        if self.method == ROLLOUT:
            maps, logits = rollout_heatmaps(
                self.model, x, head_fusion=self.head_fusion, discard_ratio=self.discard_ratio
            )
            targets = _fill(wanted, logits)
        else:
            self._probe(x[:1])
            run = self._fast_maps if self._fast else self._cam_maps
            maps, class_maps, logits, targets = run(x, wanted, all_classes)
        logits = logits.detach().float().cpu()
        maps = np.clip(np.nan_to_num(maps), 0.0, 1.0).astype(np.float32)
        if class_maps is not None:
            class_maps = np.clip(np.nan_to_num(class_maps), 0.0, 1.0).astype(np.float32)
        return Explanation(
            heatmaps=maps,
            logits=logits.numpy(),
            probabilities=torch.softmax(logits, dim=1).numpy(),
            predicted=logits.argmax(dim=1).numpy(),
            targets=np.asarray(targets, dtype=np.int64),
            empty=~(maps.reshape(len(maps), -1).max(axis=1) > 0),
            method=self.method,
            target_layers=self.target_layer_names,
            used_fast_path=self._fast,
            class_heatmaps=class_maps,
            class_names=self.class_names,
        )

    def _fast_maps(self, x: torch.Tensor, wanted: list[int | None], all_classes: bool) -> _Maps:
        """Grad-CAM of a GAP + linear head at the final map, from the forward pass alone."""
        timm_model: Any = self.model  # timm's own methods are untyped
        weight = timm_model.get_classifier().weight
        with torch.inference_mode():
            features = timm_model.forward_features(x)
            logits = timm_model.forward_head(features)
            features = _to_channels_first(features) if self._layout == "nhwc" else features
            targets = _fill(wanted, logits)
            # The gradient of logit c w.r.t. A_k(i, j) is w_ck / (h·w): the same
            # map as pytorch-grad-cam, including the scale its epsilon sees.
            scale = 1.0 / (features.shape[-2] * features.shape[-1])
            if all_classes:
                cams = torch.einsum("ck,nkhw->nchw", weight, features) * scale
            else:
                chosen = weight[torch.as_tensor(targets, device=weight.device)]
                cams = torch.einsum("nk,nkhw->nhw", chosen, features) * scale
        size = (x.shape[-1], x.shape[-2])
        raw = cams.float().cpu().numpy()
        if not all_classes:
            return _finalise(raw, size), None, logits, targets
        n, c, h, w = raw.shape
        class_maps = _finalise(raw.reshape(n * c, h, w), size).reshape(n, c, *size[::-1])
        return class_maps[np.arange(n), targets], class_maps, logits, targets

    def _cam_maps(self, x: torch.Tensor, wanted: list[int | None], all_classes: bool) -> _Maps:
        """Any method through pytorch-grad-cam, hooks released afterwards."""
        cam_class = _CAM_METHODS[self.method]
        options: dict[str, Any] = {}
        if cam_class is pgc.AblationCAM:
            options["ablation_layer"] = (
                AblationLayerVit() if self._layout == "tokens" else AblationLayer()
            )
        cam = cam_class(
            self.model,
            [module for _, module in self.target_layers],
            reshape_transform=self._reshape_transform(x.shape[-2:]),
            **options,
        )
        cam.aggregate_multi_layers = self._aggregate
        with _released(cam, self.model, self.target_layers):
            if all_classes:
                per_class = [cam(x, _class_targets([0] * len(x)))]
                logits = cam.outputs.detach()
                for c in range(1, logits.shape[1]):
                    per_class.append(cam(x, _class_targets([c] * len(x))))
                class_maps = np.stack(per_class, axis=1)
                targets = _fill(wanted, logits)
                return class_maps[np.arange(len(x)), targets], class_maps, logits, targets
            if all(t is None for t in wanted):
                maps = cam(x, None)  # pytorch-grad-cam explains the argmax of this pass
                logits = cam.outputs.detach()
                return maps, None, logits, _fill(wanted, logits)
            classes = [t for t in wanted if t is not None]
            if len(classes) < len(wanted):
                with torch.no_grad():
                    classes = _fill(wanted, self.model(x))
            maps = cam(x, _class_targets(classes))
            return maps, None, cam.outputs.detach(), classes

    # -- set-up helpers ------------------------------------------------------

    def _probe(self, sample: torch.Tensor) -> None:
        """Once: learn the layout of the target layers and whether the fast path is exact."""
        if self._layout is not None:
            return
        outputs: dict[str, Any] = {}
        handles = [
            module.register_forward_hook(partial(_store_output, outputs, name))
            for name, module in self.target_layers
        ]
        features = None
        try:
            with torch.no_grad():
                timm_model: Any = self.model  # timm's own methods are untyped
                if _has_timm_head(timm_model):
                    features = timm_model.forward_features(sample)
                    logits = timm_model.forward_head(features)
                else:
                    logits = self.model(sample)
        finally:
            for handle in handles:
                handle.remove()
        layouts = {self._layout_of(name, outputs) for name, _ in self.target_layers}
        if len(layouts) > 1:
            raise ExplainError(
                f"target layers {', '.join(self.target_layer_names)} mix feature layouts "
                f"({', '.join(sorted(layouts))}); choose layers of one kind"
            )
        self._layout = layouts.pop()
        self._fast, self.fast_path_reason = self._check_fast_path(sample, features, logits, outputs)

    def _layout_of(self, name: str, outputs: dict[str, Any]) -> str:
        if name not in outputs:
            raise ExplainError(f"target layer {name!r} did not run in the forward pass")
        output = outputs[name]
        shape = tuple(getattr(output, "shape", ()))
        if isinstance(output, torch.Tensor) and output.ndim == 4:
            return "nhwc" if _channels_last(self.model) else "nchw"
        if (
            isinstance(output, torch.Tensor)
            and output.ndim == 3
            and hasattr(self.model, "patch_embed")
        ):
            return "tokens"
        raise ExplainError(
            f"target layer {name!r} outputs {type(output).__name__} of shape {shape}, "
            "not a spatial feature map or a ViT token sequence"
        )

    def _check_fast_path(
        self,
        sample: torch.Tensor,
        features: torch.Tensor | None,
        logits: torch.Tensor,
        outputs: dict[str, Any],
    ) -> tuple[bool, str]:
        """Whether Grad-CAM here is exactly ReLU(Σ w_ck A_k): checked, not assumed."""
        if not self.fast_path:
            return False, "disabled (fast_path=False)"
        if self.method != "gradcam":
            return False, f"method {self.method} has no forward-only form"
        if len(self.target_layers) != 1:
            return False, "several target layers"
        if features is None:
            return False, "the model has no timm forward_features/forward_head"
        name = self.target_layers[0][0]
        if self._layout not in ("nchw", "nhwc") or outputs[name] is not features:
            return False, f"target layer {name!r} is not the final feature map"
        timm_model: Any = self.model  # timm's own methods are untyped
        classifier = timm_model.get_classifier()
        if not isinstance(classifier, nn.Linear):
            return False, f"the classifier is a {type(classifier).__name__}, not one nn.Linear"
        with torch.no_grad():
            try:
                pooled = timm_model.forward_head(features, pre_logits=True)
            except TypeError:
                return False, "forward_head has no pre_logits option"
            spatial = _to_channels_first(features) if self._layout == "nhwc" else features
            average = spatial.mean(dim=(2, 3))
            if pooled.shape != average.shape or not torch.allclose(pooled, average, **_TOLERANCE):
                return False, "the head does not start with global average pooling alone"
            if not torch.allclose(classifier(pooled), logits, **_TOLERANCE):
                return False, "the head is more than one linear layer after the pooling"
            if not torch.allclose(self.model(sample), logits, **_TOLERANCE):
                return False, "model(x) differs from forward_head(forward_features(x))"
        return True, f"global average pooling and one linear layer after {name!r}"

    def _reshape_transform(self, input_hw: Sequence[int]) -> Callable | None:
        if self._layout == "nhwc":
            return _to_channels_first
        if self._layout == "tokens":
            prefix, grid = token_layout(self.model, (int(input_hw[0]), int(input_hw[1])))
            return partial(_tokens_to_map, prefix=prefix, grid=grid)
        return None

    def _aggregate(self, cam_per_layer: list[np.ndarray]) -> np.ndarray:
        """Stands in for pytorch-grad-cam's ``aggregate_multi_layers``."""
        return _combine_layers(cam_per_layer, self.aggregation, self.layer_weights)

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


# -- maps --------------------------------------------------------------------


def _combine_layers(
    cam_per_layer: list[np.ndarray], how: str, weights: np.ndarray | None = None
) -> np.ndarray:
    """Combine ``N×1×H×W`` per-layer maps and min–max scale (``mean`` = pytorch-grad-cam)."""
    stack = np.maximum(np.concatenate(cam_per_layer, axis=1), 0)
    if how == "max":
        combined = stack.max(axis=1)
    elif how == "weighted":
        if weights is None:  # each map's mass, per image
            mass = stack.mean(axis=(2, 3))
            total = mass.sum(axis=1, keepdims=True)
            uniform = np.full_like(mass, 1.0 / mass.shape[1])
            weights = np.divide(mass, total, out=uniform, where=total > 0)
        else:
            weights = np.broadcast_to(weights, stack.shape[:2])
        combined = (stack * weights[:, :, None, None]).sum(axis=1)
    else:
        combined = np.mean(stack, axis=1)
    return scale_cam_image(combined)


def _finalise(cams: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Raw ``N×h×w`` maps to ``N×H×W`` in [0, 1], step for step as pytorch-grad-cam."""
    scaled = scale_cam_image(np.maximum(cams, 0), size)
    return _combine_layers([scaled[:, None]], "mean")


def _to_channels_first(tensor: torch.Tensor) -> torch.Tensor:
    """``N×h×w×C`` (Swin-style) to ``N×C×h×w``."""
    return tensor.permute(0, 3, 1, 2)


def _tokens_to_map(tokens: torch.Tensor, *, prefix: int, grid: tuple[int, int]) -> torch.Tensor:
    """ViT tokens ``N×T×C`` to an ``N×C×h×w`` map, dropping class/register tokens."""
    patches = tokens.shape[1] - prefix
    if patches != grid[0] * grid[1]:
        raise ExplainError(
            f"{tokens.shape[1]} tokens do not fit {prefix} prefix tokens and a "
            f"{grid[0]}×{grid[1]} patch grid"
        )
    return (
        tokens[:, prefix:, :].reshape(tokens.shape[0], *grid, tokens.shape[2]).permute(0, 3, 1, 2)
    )


def _class_targets(indices: Sequence[int]) -> list[ClassifierOutputTarget]:
    return [ClassifierOutputTarget(int(i)) for i in indices]


def _fill(wanted: list[int | None], logits: torch.Tensor) -> list[int]:
    """Replace None by the predicted class."""
    predicted = logits.argmax(dim=1).tolist()
    return [p if t is None else t for t, p in zip(wanted, predicted, strict=True)]


def _concatenate(parts: list[Explanation]) -> Explanation:
    joined: dict[str, Any] = {}
    for field in fields(Explanation):
        values = [getattr(part, field.name) for part in parts]
        if isinstance(values[0], np.ndarray):
            joined[field.name] = np.concatenate(values)
    return replace(parts[0], **joined)


# -- model helpers -------------------------------------------------------------


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode inside the block; each module's own mode restored afterwards."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


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


def _store_output(
    store: dict[str, Any], name: str, _module: nn.Module, _inputs: Any, output: Any
) -> None:
    store[name] = output


def _has_timm_head(model: nn.Module) -> bool:
    return all(
        callable(getattr(model, attr, None))
        for attr in ("forward_features", "forward_head", "get_classifier")
    )


def _channels_last(model: nn.Module) -> bool:
    """timm marks models with ``N×h×w×C`` feature maps (Swin) by ``output_fmt``."""
    fmt = getattr(model, "output_fmt", "NCHW")
    return str(getattr(fmt, "value", fmt)).upper() == "NHWC"


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _num_classes(model: nn.Module, class_names: tuple[str, ...] | None) -> int | None:
    count = getattr(model, "num_classes", None)
    if isinstance(count, int) and count > 0:
        return count
    if class_names:
        return len(class_names)
    timm_model: Any = model  # timm's own methods are untyped
    classifier = timm_model.get_classifier() if _has_timm_head(model) else None
    return getattr(classifier, "out_features", None)


def _check_layer_weights(weights: Sequence[float] | None, count: int) -> np.ndarray | None:
    if weights is None:
        return None
    array = np.asarray(weights, dtype=np.float32)
    if array.shape != (count,) or (array < 0).any() or array.sum() <= 0:
        raise ExplainError(
            f"layer_weights must be {count} non-negative numbers, not all zero; got {list(weights)}"
        )
    return array / array.sum()


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
    return _last_spatial_layer(model, input_size or _default_input_size(model))


def _last_spatial_layer(
    model: nn.Module, input_size: tuple[int, int, int]
) -> tuple[str, nn.Module]:
    """The module that produces the final spatial map (``h, w > 1``) of the network.

    For a timm model that is the last module whose output is what
    ``forward_features`` returns; otherwise (or if a functional operation
    comes last) the last module to finish with a spatial output.
    """
    channels_last = _channels_last(model)
    timm_like = _has_timm_head(model)
    records: list[tuple[str, nn.Module, Any]] = []
    handles = [
        module.register_forward_hook(lambda m, _i, out, name=name: records.append((name, m, out)))
        for name, module in model.named_modules()
        if name and not isinstance(module, _PASS_THROUGH)
    ]
    try:
        with torch.no_grad(), _eval_mode(model):
            x = torch.zeros(1, *input_size, device=_model_device(model))
            timm_model: Any = model  # timm's own methods are untyped
            final = timm_model.forward_features(x) if timm_like else model(x)
    finally:
        for handle in handles:
            handle.remove()
    spatial = [(n, m, out) for n, m, out in records if _is_spatial(out, channels_last)]
    producing_final = [(n, m) for n, m, out in spatial if out is final]
    if producing_final:
        return producing_final[-1]
    if spatial:
        return spatial[-1][:2]
    raise ExplainError(
        f"found no spatial feature map in {type(model).__name__}; name target_layers explicitly"
    )


def _is_spatial(output: Any, channels_last: bool) -> bool:
    if not isinstance(output, torch.Tensor) or output.ndim != 4:
        return False
    spatial = output.shape[1:3] if channels_last else output.shape[2:4]
    return min(spatial) > 1


def _default_input_size(model: nn.Module) -> tuple[int, int, int]:
    size = getattr(getattr(model, "patch_embed", None), "img_size", None)
    if size is None:
        config = getattr(model, "pretrained_cfg", None) or {}
        size = tuple(config.get("input_size", (3, 224, 224)))[1:]
    channels = next((m.in_channels for m in model.modules() if isinstance(m, nn.Conv2d)), 3)
    return channels, int(size[0]), int(size[1])
