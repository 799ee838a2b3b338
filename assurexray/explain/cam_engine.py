"""Heatmaps of many candidates from one forward and one backward pass.

Gradient-based CAM methods differ only in how they weigh a layer's
activations by its gradients, so one forward pass and one backward pass of the
explained logits serve every such method at every layer. The per-candidate
maps are then computed by pytorch-grad-cam's own ``compute_cam_per_layer`` and
``aggregate_multi_layers`` on the shared activations and gradients, so they are
the library's numbers (a test checks this against running each candidate on
its own). ScoreCAM and AblationCAM need forward passes of their own and run
through :class:`assurexray.explain.explainer.Explainer`; so does a run whose only
gradient method is Grad-CAM at the final map, which then takes the exact
forward-only path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from assurexray.explain.cam_methods import CAM_METHODS
from assurexray.explain.candidates import Candidate
from assurexray.explain.explainer import Explainer, resolve_target_layers
from assurexray.explain.target_layers import eval_mode

# Methods whose map is a function of one layer's activations and gradients.
SHARED_METHODS = frozenset(
    "gradcam gradcam++ hirescam xgradcam layercam eigencam eigengradcam gradcamelementwise".split()
)
GRADIENT_FREE = frozenset({"eigencam"})


@dataclass
class _Captured:
    """Stands in for pytorch-grad-cam's ActivationsAndGradients after a pass."""

    activations: list[torch.Tensor]
    gradients: list[torch.Tensor]

    def release(self) -> None:
        """Nothing to release: the hooks were removed after the pass."""


class CandidateMaps:
    """Compute the maps of several candidates for batches of images.

    Example::

        engine = CandidateMaps(model, candidates)
        maps, logits = engine(batch, targets)   # maps[name]: N×S×S in [0, 1]
    """

    def __init__(
        self, model: nn.Module, candidates: Sequence[Candidate], *, final_layer: str | None = None
    ) -> None:
        self.model = model
        self.candidates = list(candidates)
        shared = [c for c in self.candidates if c.method in SHARED_METHODS]
        fast = Candidate("gradcam", (final_layer,)) if final_layer else None
        gradient = [c for c in shared if c.method not in GRADIENT_FREE]
        if gradient and all(c == fast for c in gradient):  # forward-only Grad-CAM suffices
            shared = [c for c in shared if c != fast]
        self.shared = shared
        self.separate = [c for c in self.candidates if c not in shared]
        self.needs_backward = any(c.method not in GRADIENT_FREE for c in self.shared)
        layer_names = list(dict.fromkeys(n for c in self.shared for n in c.layers))
        self._layers = dict(resolve_target_layers(model, layer_names)) if layer_names else {}
        self._methods = {m: _method_object(m, model) for m in {c.method for c in self.shared}}
        self._explainers = {
            c.name: Explainer(model, method=c.method, target_layers=list(c.layers))
            for c in self.separate
        }

    def __call__(
        self, x: torch.Tensor, targets: Sequence[int]
    ) -> tuple[dict[str, np.ndarray], torch.Tensor]:
        """Maps of every candidate for the classes ``targets``.

        Args:
            x: ``N×C×S×S`` network input.
            targets: Class index to explain, one per image.

        Returns:
            ``{candidate name: N×S×S float32 maps in [0, 1]}`` and the logits.
        """
        if len(targets) != len(x):
            raise ValueError(f"{len(targets)} targets for {len(x)} images")
        maps: dict[str, np.ndarray] = {}
        logits = None
        with eval_mode(self.model):
            if self.shared:
                captured, logits = self._capture(x, targets)
                class_targets = [ClassifierOutputTarget(int(t)) for t in targets]
                for candidate in self.shared:
                    maps[candidate.name] = self._shared_map(candidate, captured, x, class_targets)
            for candidate in self.separate:
                result = self._explainers[candidate.name].explain(x, list(targets))
                maps[candidate.name] = result.heatmaps
                if logits is None:
                    logits = torch.from_numpy(result.logits)
            if logits is None:  # no candidates
                with torch.no_grad():
                    logits = self.model(x).detach().cpu()
        return {k: _clean(v) for k, v in maps.items()}, logits

    def _capture(
        self, x: torch.Tensor, targets: Sequence[int]
    ) -> tuple[dict[str, dict[str, torch.Tensor]], torch.Tensor]:
        """Activations (and, if needed, gradients) of every shared layer, by name."""
        store: dict[str, dict[str, torch.Tensor]] = {"act": {}, "grad": {}}
        handles = [
            module.register_forward_hook(partial(_keep, store, name, self.needs_backward))
            for name, module in self._layers.items()
        ]
        try:
            if self.needs_backward:
                self.model.zero_grad(set_to_none=True)
                inputs = x.detach().clone().requires_grad_(True)
                outputs = self.model(inputs)
                index = torch.as_tensor(list(targets), device=outputs.device)
                outputs.gather(1, index[:, None]).sum().backward()
                self.model.zero_grad(set_to_none=True)
            else:
                with torch.no_grad():
                    outputs = self.model(x)
        finally:
            for handle in handles:
                handle.remove()
        return store, outputs.detach().float().cpu()

    def _shared_map(
        self,
        candidate: Candidate,
        store: dict[str, dict[str, torch.Tensor]],
        x: torch.Tensor,
        class_targets: list[ClassifierOutputTarget],
    ) -> np.ndarray:
        cam = self._methods[candidate.method]
        cam.target_layers = [self._layers[n] for n in candidate.layers]
        cam.activations_and_grads = _Captured(
            [store["act"][n] for n in candidate.layers],
            [store["grad"][n] for n in candidate.layers if n in store["grad"]],
        )
        per_layer = cam.compute_cam_per_layer(x, class_targets, False)
        return cam.aggregate_multi_layers(per_layer)


def _keep(
    store: dict[str, dict[str, torch.Tensor]],
    name: str,
    with_gradient: bool,
    _module: nn.Module,
    _inputs: Any,
    output: Any,
) -> None:
    store["act"][name] = output.detach().cpu()
    if with_gradient and getattr(output, "requires_grad", False):
        output.register_hook(lambda grad: store["grad"].__setitem__(name, grad.detach().cpu()))


def _method_object(method: str, model: nn.Module) -> Any:
    """A pytorch-grad-cam method object used only for its maths (no hooks left on)."""
    first = next(m for m in model.modules() if m is not model)
    with eval_mode(model):  # the constructor switches the model to eval for good
        cam = CAM_METHODS[method](model, [first])
    cam.activations_and_grads.release()
    return cam


def _clean(maps: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(np.asarray(maps, dtype=np.float32)), 0.0, 1.0)
