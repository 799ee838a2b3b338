"""Candidate heatmaps for the audit: methods × target layers, named ``method@layers``.

The default layers are the model's last feature map and the two stages before
it whose maps are spatially larger (found from the output sizes of one forward
pass, :func:`assurexray.explain.target_layers.feature_stages`), plus the combination
of those layers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from assurexray.core.config import AUDIT_METHODS
from assurexray.core.errors import ConfigError, ExplainError
from assurexray.explain.attributions import LAYER_METHODS, is_attribution
from assurexray.explain.explainer import canonical_method, resolve_target_layers
from assurexray.explain.target_layers import feature_stages

LAYER_SEPARATOR = "+"


@dataclass(frozen=True)
class Candidate:
    """One way of drawing a heatmap.

    Attributes:
        method: Canonical method name (``gradcam``, ``layercam``, ...).
        layers: Dotted names of the target layers; several are averaged as
            pytorch-grad-cam does.
    """

    method: str
    layers: tuple[str, ...]

    @property
    def name(self) -> str:
        """``method@layers``; just the method for an attribution to the input pixels."""
        if not self.layers:
            return self.method
        return f"{self.method}@{LAYER_SEPARATOR.join(self.layers)}"

    def config_lines(self) -> str:
        """The ``explain:`` lines that make infer, gallery and compare use this candidate."""
        return (
            "explain:\n"
            f"  method: {self.method}\n"
            f"  target_layer: {','.join(self.layers) or 'auto'}\n"
            "  aggregation: mean"
        )


def network_units(model: nn.Module) -> list[tuple[str, nn.Module, bool]]:
    """The model's top-level modules in definition order, ``(name, module, is_block)``.

    The children of a top-level ``Sequential`` or ``ModuleList`` (timm's
    ``blocks`` and ``stages``, ResNet's ``layerN``) stand in for it and are the
    *blocks*.
    """
    units: list[tuple[str, nn.Module, bool]] = []
    for name, child in model.named_children():
        if isinstance(child, (nn.Sequential, nn.ModuleList)) and len(child):
            units += [(f"{name}.{i}", sub, True) for i, sub in enumerate(child)]
        else:
            units.append((name, child, False))
    return units


def default_layers(
    model: nn.Module, input_size: tuple[int, int, int], final_layer: str
) -> list[tuple[str, ...]]:
    """The final map, the two larger stages before it, and their combination.

    Returns:
        Layer tuples, deepest single layer first, the combination last (only
        when there is more than one layer).
    """
    stages = feature_stages(model, input_size)
    final_stride = next((s.stride for s in stages if s.name == final_layer), stages[-1].stride)
    larger = [s.name for s in stages if s.stride < final_stride]
    picked = larger[-2:][::-1]  # the nearest larger stage first
    singles: list[tuple[str, ...]] = [(final_layer,)]
    singles += [(name,) for name in picked if name != final_layer]
    if len(singles) > 1:
        combined = tuple(name for (name,) in reversed(singles))
        return [*singles, combined]
    return singles


def build_candidates(
    model: nn.Module,
    *,
    methods: Sequence[str] = AUDIT_METHODS,
    layers: Sequence[str] = (),
    final_layer: str,
    input_size: tuple[int, int, int],
) -> list[Candidate]:
    """Every method × layer choice, checked against the model.

    Args:
        model: The classifier.
        methods: Method names (aliases accepted); rollout is not a candidate. A Captum
            attribution to the input pixels is one candidate (no layer);
            ``guided_gradcam`` is one per single layer (it takes no combination).
        layers: Layer choices as given by the user: a dotted name, several
            joined by ``+`` or ``,`` (one combined candidate), or ``auto``
            for the final map. Empty: :func:`default_layers`.
        final_layer: The name of the model's final feature map.
        input_size: ``(C, H, W)`` of the network input.

    Raises:
        ExplainError: An unknown method or layer (the message names it).
    """
    names = [canonical_method(m) for m in methods]
    if "rollout" in names:
        raise ExplainError("rollout has no target layer; it cannot be an audit candidate")
    if not names:
        raise ExplainError("no heatmap methods given")
    choices: list[tuple[str, ...]] = []
    for spec in layers:
        parts = [p.strip() for p in spec.replace(",", LAYER_SEPARATOR).split(LAYER_SEPARATOR)]
        parts = [final_layer if p.lower() == "auto" else p for p in parts if p]
        if not parts:
            raise ExplainError(f"empty target layer {spec!r}")
        resolved = resolve_target_layers(model, parts)  # raises with close names
        choices.append(tuple(name for name, _ in resolved))
    if not choices:
        choices = default_layers(model, input_size, final_layer)
    unique_layers = list(dict.fromkeys(choices))
    unique_methods = list(dict.fromkeys(names))
    found = [
        Candidate(m, layer)
        for layer in unique_layers
        for m in unique_methods
        if not is_attribution(m) or (m in LAYER_METHODS and len(layer) == 1)
    ]
    pixel_level = [
        Candidate(m, ()) for m in unique_methods if is_attribution(m) and m not in LAYER_METHODS
    ]
    return found + pixel_level


def recommended_candidate(report_path: Path, checkpoint_sha256: str) -> Candidate:
    """The candidate an ``audit_report.json`` recommends, if it was made for this checkpoint.

    Args:
        report_path: The audit's report file.
        checkpoint_sha256: SHA-256 of the checkpoint the heatmaps will be drawn from.

    Raises:
        ConfigError: (one line) the file is missing or not an audit report, was
            made for another checkpoint, or recommends nothing.
    """
    where = f"--explain-from {report_path}"
    try:
        report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{where}: not a readable JSON file ({type(exc).__name__})") from None
    if not isinstance(report, dict) or not isinstance(report.get("candidates"), list):
        raise ConfigError(f"{where}: not an audit report (no candidates)")
    made_for = (report.get("checkpoint") or {}).get("sha256")
    if made_for != checkpoint_sha256:
        raise ConfigError(
            f"{where}: the audit was made for another checkpoint "
            f"(SHA-256 {str(made_for)[:12]}…, this one is {checkpoint_sha256[:12]}…)"
        )
    name = report.get("recommended")
    if not name:
        raise ConfigError(f"{where}: the audit recommends no heatmap (see its verdict)")
    entry = next((e for e in report["candidates"] if e.get("name") == name), None)
    if entry is None or not entry.get("method"):
        raise ConfigError(f"{where}: the recommended {name!r} is not among its candidates")
    return Candidate(canonical_method(str(entry["method"])), tuple(entry.get("layers") or ()))


from assurexray.core.deprecation import renamed_names  # noqa: E402

# Renamed to core.config.AUDIT_METHODS; kept for one minor release.
__getattr__ = renamed_names(
    __name__,
    {
        "DEFAULT_METHODS": "assurexray.core.config:AUDIT_METHODS",
    },
)
