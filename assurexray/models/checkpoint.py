"""Checkpoints: saving a model with its facts, and loading one back safely.

A checkpoint is a plain dict saved with :func:`torch.save` and read back with
``torch.load(weights_only=True)``, so loading never runs code from the file
(:mod:`assurexray.models.safe_load` lists the few harmless types let through).
Files from other training scripts load too: the weights are found wherever
they sit (:mod:`assurexray.models.state_dict_search`) and each fact where the
tool put it (:mod:`assurexray.models.checkpoint_facts`).
"""

from __future__ import annotations

import argparse
import numbers
import warnings
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from assurexray.core.deprecation import renamed_names
from assurexray.core.errors import CheckpointError, OutputError
from assurexray.core.files import check_output_file
from assurexray.core.naming import printable
from assurexray.imaging.preprocess import PreprocessConfig
from assurexray.models.checkpoint_facts import Resolved, mismatch, resolve
from assurexray.models.load_options import LoadOptions
from assurexray.models.model import build_model
from assurexray.models.safe_load import read_checkpoint_file
from assurexray.models.state_dict_search import find_weights

FORMAT_VERSION = 2  # 2: preprocess.interpolation recorded; origin of converted files


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model and every fact needed to use it."""

    model: nn.Module
    arch: str
    class_names: tuple[str, ...]
    preprocess: PreprocessConfig
    path: Path | None = None
    target_layer: str | None = None
    train_metrics: dict[str, Any] = field(default_factory=dict)
    created: str | None = None
    warnings: tuple[str, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)
    assumed: tuple[str, ...] = ()
    extra_keys: tuple[str, ...] = ()
    entries: dict[str, str] = field(default_factory=dict)
    native: bool = True

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_parameters(self) -> int:
        """Number of parameters (not buffers) of the model."""
        return sum(p.numel() for p in self.model.parameters())


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    arch: str,
    class_names: tuple[str, ...] | list[str],
    preprocess: PreprocessConfig,
    train_metrics: dict[str, Any] | None = None,
    origin: dict[str, Any] | None = None,
) -> Path:
    """Save a model and its facts in the checkpoint format of docs/architecture.md, atomically.

    ``origin`` (``convert``): the file converted, its SHA-256 and where each fact came from.
    """
    from assurexray.core.files import write_with

    payload = {
        "format_version": FORMAT_VERSION,
        "arch": arch,
        "num_classes": len(class_names),
        "class_names": list(class_names),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "preprocess": preprocess.to_dict(),
        "target_layer": getattr(model, "gradcam_target_layer_name", None),
        "train_metrics": dict(train_metrics or {}),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if origin:
        payload["origin"] = dict(origin)
    return write_with(path, lambda tmp: torch.save(payload, tmp))


def check_checkpoint_output(path: str | Path) -> Path:
    """Make sure a checkpoint can be written at ``path``, before any work.

    Raises:
        OutputError: ``path`` names a ``.safetensors`` file (a native checkpoint is
            a torch file, and that name would be read back as safetensors), or
            :func:`~assurexray.core.files.check_output_file` refuses it.
    """
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        raise OutputError(
            f"{path}: a checkpoint with its facts is a torch file, not safetensors; "
            f"name a .pt file (e.g. {path.with_suffix('.pt')})"
        )
    return check_output_file(path)


def read_weights(
    path: Path, weights_key: str | None = None
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The entries beside the weights, and the state dict as the file names its keys.

    Read safely (:mod:`assurexray.models.safe_load`), any layout
    (:func:`~assurexray.models.state_dict_search.find_weights`).
    """
    found = find_weights(path, read_checkpoint_file(path), weights_key)
    return found.facts, found.state


def load_checkpoint(
    path: str | Path,
    *,
    arch: str | None = None,
    class_names: tuple[str, ...] | list[str] | None = None,
    preprocess: PreprocessConfig | None = None,
    device: str | torch.device = "cpu",
    options: LoadOptions | None = None,
) -> Checkpoint:
    """Load a checkpoint safely and rebuild its model in eval mode.

    Facts the file carries win over the settings; facts it lacks (a bare state
    dict, or a file from another training script) are found where other tools
    put them, or given in ``options`` (the command line), or taken from the
    settings (``arch``, ``class_names``, ``preprocess``, or ``options``'
    fallbacks), each assumption with a warning. See
    :mod:`assurexray.models.checkpoint_facts`.

    Raises:
        CheckpointError: missing, empty, corrupt or unsafe file, NaN weights,
            or weights that do not fit the architecture (naming the keys and
            shapes, and where the architecture came from).
    """
    path = Path(path)
    options = _with_fallbacks(options or LoadOptions(), arch, class_names, preprocess)
    payload = read_checkpoint_file(path)
    found = find_weights(path, payload, options.weights_key)
    if found.facts.get("format_version") is not None:
        _check_fact_types(path, found.facts)
    _check_finite(path, found.state)
    facts = resolve(path, found, options)
    model = build_model(facts.arch, facts.num_classes)
    _load_state(path, model, facts)
    target_layer = _target_layer(path, model, found.facts.get("target_layer"))
    model.to(device).eval()
    for note in facts.notes:
        warnings.warn(note, stacklevel=2)
    return Checkpoint(
        model=model,
        arch=facts.arch,
        class_names=facts.class_names,
        preprocess=facts.preprocess,
        path=path,
        target_layer=target_layer,
        train_metrics=_metrics(found.facts),
        created=found.facts.get("created"),
        warnings=facts.notes,
        sources=facts.sources,
        assumed=facts.assumed,
        extra_keys=facts.weights.extra,
        entries=describe_entries(payload),
        native=found.facts.get("format_version") is not None,
    )


def _with_fallbacks(
    options: LoadOptions,
    arch: str | None,
    class_names: tuple[str, ...] | list[str] | None,
    preprocess: PreprocessConfig | None,
) -> LoadOptions:
    """``options`` with the keyword fallbacks of :func:`load_checkpoint` put in."""
    changes: dict[str, Any] = {}
    if arch is not None:
        changes["fallback_arch"] = arch
    if class_names is not None:
        changes["fallback_class_names"] = tuple(class_names)
    if preprocess is not None:
        changes["fallback_preprocess"] = preprocess
    return replace(options, **changes)


def _metrics(entries: dict[str, Any]) -> dict[str, Any]:
    """A native file's ``train_metrics``; a foreign file's numbers (``epoch``, ``best_acc``)."""
    if entries.get("format_version") is not None:
        recorded = entries.get("train_metrics")
        return dict(recorded) if isinstance(recorded, dict) else {}
    return {
        str(k): v.item() if hasattr(v, "item") else v
        for k, v in entries.items()
        if isinstance(v, numbers.Real) and not isinstance(v, bool)
    }


def _target_layer(path: Path, model: nn.Module, recorded: str | None) -> str | None:
    """The recorded Grad-CAM layer, checked against the model; else the architecture's own."""
    if not recorded:
        return getattr(model, "gradcam_target_layer_name", None)
    for name in (part.strip() for part in recorded.split(",")):
        try:
            model.get_submodule(name)
        except AttributeError:
            raise CheckpointError(
                f"{path}: target_layer {printable(recorded)!r} names no module of the model "
                f"(no {printable(name)!r}); fix or remove the field"
            ) from None
    return recorded


def describe_entries(payload: Any) -> dict[str, str]:
    """What each top-level entry of a checkpoint holds, in a few words (for ``inspect``)."""
    if not isinstance(payload, dict):
        return {}
    described: dict[str, str] = {}
    for key, value in payload.items():
        if isinstance(value, torch.Tensor):
            text = f"tensor {tuple(value.shape)}"
        elif (
            isinstance(value, dict)
            and value
            and all(isinstance(v, torch.Tensor) for v in value.values())
        ):
            text = f"{len(value)} tensors"
        elif isinstance(value, (dict, list, tuple)):
            text = f"{type(value).__name__} of {len(value)} entries"
        elif isinstance(value, argparse.Namespace):
            text = f"argparse.Namespace of {len(vars(value))} fields"
        else:
            text = printable(repr(value))
            text = text if len(text) <= 60 else f"{text[:57]}..."
        described[printable(str(key))] = text
    return described


# Type each checkpoint field must have when present (None counts as absent).
_FACT_TYPES: dict[str, tuple[type, ...]] = {
    "format_version": (int,),
    "arch": (str,),
    "num_classes": (int,),
    "class_names": (list, tuple),
    "preprocess": (dict,),
    "target_layer": (str,),
    "train_metrics": (dict,),
    "created": (str,),
    "origin": (dict,),
}
_TYPE_WORDS = {int: "a whole number", str: "text", list: "a list", dict: "a mapping"}


def _check_fact_types(path: Path, facts: dict[str, Any]) -> None:
    """Name the first field whose value has the wrong type, or a too-new format."""
    for key, types in _FACT_TYPES.items():
        value = facts.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            raise CheckpointError(
                f"{path}: field {key!r} must be {_TYPE_WORDS[types[0]]}, "
                f"got {printable(repr(value))[:60]}"
            )
    version = facts.get("format_version")
    if version is not None and version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {version} is newer than this assurexray "
            f"understands ({FORMAT_VERSION}); update assurexray"
        )


def _check_finite(path: Path, state: dict[str, torch.Tensor]) -> None:
    """Refuse weights holding NaN or infinity: such a model labels every image alike."""
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"{path}: weights hold NaN or infinite values (first in {printable(key)!r})"
            )


def _load_state(path: Path, model: nn.Module, facts: Resolved) -> None:
    """Load the weights, explaining a mismatch by the keys and shapes that differ."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = facts.weights.state
    if mismatch(expected, state, facts.arch):  # keys left out count only beside a mismatch
        problems = mismatch(expected, state, facts.arch, facts.weights.extra)
        source = facts.sources.get("arch", "")
        hint = "" if source == "--arch" else "; name another architecture with --arch"
        raise CheckpointError(
            f"{path}: weights do not fit {facts.arch} (from {source}): {problems}{hint}"
        )
    model.load_state_dict(state)


# Moved to core.files; kept for one minor release.
__getattr__ = renamed_names(__name__, {"file_sha256": "assurexray.core.files:file_sha256"})
