"""Finding the weights in a checkpoint, whatever key and prefix a training script used.

The state dict sits at the top level or under one of the usual keys
(:data:`WEIGHT_KEYS`, nested too: ``{"model": {"state_dict": ...}}``); an
exponential moving average (:data:`EMA_KEYS`) only when asked for by key. Its
key prefix (``model.``, ``module.``, ``backbone.``, ``_orig_mod.``, or any
combination) is not taken from a list: :func:`align_keys` finds the prefix
under which the file's keys match the architecture's own parameter names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from assurexray.core.errors import CheckpointError
from assurexray.core.naming import printable

WEIGHT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights")
"""Keys that hold the weights, in the order they are preferred."""
EMA_KEYS = ("state_dict_ema", "model_ema", "ema_state_dict", "ema")
"""Keys of moving-average weights: used only when named with ``--weights-key``."""


@dataclass(frozen=True)
class FoundWeights:
    """The state dict a file holds, where it was, and the file's other entries."""

    state: dict[str, torch.Tensor]
    where: str
    facts: dict[str, Any]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Aligned:
    """A state dict renamed to the architecture's keys."""

    state: dict[str, torch.Tensor]
    prefix: str
    extra: tuple[str, ...]


def is_state_dict(value: Any) -> bool:
    """A non-empty mapping of text keys to tensors."""
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    )


def _candidates(payload: Mapping[str, Any], where: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every state dict under the usual keys of ``payload``, one level of nesting deep."""
    found: list[tuple[str, dict[str, Any]]] = []
    for key in WEIGHT_KEYS:
        value: Any = payload.get(key)
        name = f"{where}{key}"
        if is_state_dict(value):
            found.append((name, dict(value)))
        elif isinstance(value, Mapping) and not where:
            found.extend(_candidates(value, f"{name}."))
    return found


def _signature(state: Mapping[str, torch.Tensor]) -> Counter[tuple[int, ...]]:
    """The multiset of tensor shapes: equal for the same network under any prefix."""
    return Counter(tuple(v.shape) for v in state.values())


def find_weights(path: Path, payload: Any, weights_key: str | None = None) -> FoundWeights:
    """The state dict in ``payload`` (a loaded checkpoint) and the entries beside it.

    Args:
        path: The file, for messages.
        payload: What :func:`~assurexray.models.safe_load.read_checkpoint_file` returned.
        weights_key: A key (dotted for nesting, e.g. ``state_dict_ema``) naming
            the state dict to use; default the usual keys.

    Raises:
        CheckpointError: no state dict; the named key is absent; or two
            candidates of different shapes (name one with ``--weights-key``).
    """
    if not isinstance(payload, Mapping):
        raise CheckpointError(
            f"{path}: not a checkpoint (holds a {type(payload).__name__}, expected a dict)"
        )
    if weights_key:
        value: Any = payload
        for part in weights_key.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if not is_state_dict(value):
            held = ", ".join(_tensor_keys(payload)) or "none"
            raise CheckpointError(
                f"{path}: --weights-key {weights_key!r} holds no state dict "
                f"(keys holding tensors: {held})"
            )
        top = weights_key.split(".")[0]
        return FoundWeights(dict(value), repr(weights_key), _others(payload, top))
    if is_state_dict(payload):
        return FoundWeights(dict(payload), "the top level (a bare state dict)", {})
    candidates = _candidates(payload)
    if not candidates:
        ema = [k for k in EMA_KEYS if is_state_dict(payload.get(k))]
        hint = f"; moving-average weights are under {ema[0]!r}: pass --weights-key" if ema else ""
        raise CheckpointError(f"{path}: no state dict of tensors found in the checkpoint{hint}")
    name, state = candidates[0]
    notes: list[str] = []
    for other, other_state in candidates[1:]:
        if _signature(other_state) != _signature(state):
            raise CheckpointError(
                f"{path}: two candidate state dicts of different shapes ({name!r}: "
                f"{len(state)} tensors, {other!r}: {len(other_state)} tensors); "
                "pass --weights-key to choose one"
            )
        notes.append(f"{path}: {other!r} holds weights of the same shapes; used {name!r}")
    for ema_key in EMA_KEYS:
        if is_state_dict(payload.get(ema_key)):
            notes.append(
                f"{path}: used {name!r}, not the moving-average weights in {ema_key!r} "
                f"(--weights-key {ema_key} uses those)"
            )
    return FoundWeights(state, repr(name), _others(payload, name.split(".")[0]), tuple(notes))


def _others(payload: Mapping[str, Any], taken: str) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != taken}


def _tensor_keys(payload: Mapping[str, Any]) -> list[str]:
    return [str(k) for k, v in payload.items() if is_state_dict(v)]


def best_prefix(keys: list[str], expected: Mapping[str, Any]) -> tuple[str, int]:
    """The prefix under which most of ``keys`` are keys of ``expected``, and how many.

    Each key is cut at every dot from the left; the longest tail that is an
    expected key votes for the head as the prefix. Ties go to the shorter prefix.
    """
    votes: Counter[str] = Counter()
    for key in keys:
        parts = key.split(".")
        for cut in range(len(parts)):
            if ".".join(parts[cut:]) in expected:
                votes[".".join(parts[:cut]) + ("." if cut else "")] += 1
                break
    if not votes:
        return "", 0
    prefix = min(votes, key=lambda p: (-votes[p], len(p)))
    return prefix, votes[prefix]


def align_keys(
    path: Path, state: Mapping[str, torch.Tensor], expected: Mapping[str, Any], arch: str
) -> Aligned:
    """Rename ``state`` to the keys of ``expected`` (an architecture's state dict).

    Keys outside the prefix, or under it but not the architecture's, are
    returned as ``extra`` (an auxiliary head, a loss's class weights, ...).

    Raises:
        CheckpointError: no key matches a parameter of ``arch`` under any prefix.
    """
    prefix, count = best_prefix(list(state), expected)
    if count == 0:
        theirs = ", ".join(printable(k) for k in list(state)[:2])
        ours = ", ".join(list(expected)[:2])
        raise CheckpointError(
            f"{path}: no key of the weights matches a parameter of {arch} under any prefix "
            f"(the file has e.g. {theirs}; {arch} has e.g. {ours})"
        )
    aligned: dict[str, torch.Tensor] = {}
    extra: list[str] = []
    for key, value in state.items():
        name = key[len(prefix) :] if key.startswith(prefix) else None
        if name is not None and name in expected:
            aligned[name] = value
        else:
            extra.append(key)
    return Aligned(aligned, prefix, tuple(extra))
