"""Facts other training tools store beside the weights, and where each was found.

Each fact is looked up along a list of dotted paths (:data:`PLACES`) through
mappings and ``argparse.Namespace`` objects, the first usable value wins, and
the :class:`Fact` records the path: ``args.model`` (timm's ``train.py``),
``hyper_parameters.backbone`` (PyTorch Lightning), ``config.model.backbone``
and ``normalization.mean`` (a trainer storing its config), and so on. A value
that is there but unusable (``arch: "efficientnet"``, a class name rather than
a timm model name) is skipped with a note.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from assurexray.imaging.preprocess import INTERPOLATIONS, RESIZE_MODES


@dataclass(frozen=True)
class Fact:
    """A value and where it came from (a dotted path in the file, an option, a setting)."""

    value: Any
    source: str


def _both(*tails: str) -> tuple[str, ...]:
    """The tails at the top level and under every place a tool keeps its settings."""
    roots = ("", "args.", "hyper_parameters.", "hparams.", "config.", "config.model.")
    return tuple(f"{root}{tail}" for tail in tails for root in roots)


PLACES: dict[str, tuple[str, ...]] = {
    "arch": (
        "arch",
        "args.model",
        "config.model.backbone",
        "config.model.arch",
        "config.model.name",
        "config.backbone",
        "config.arch",
        *_both("backbone", "model_name", "arch", "model"),
    ),
    "num_classes": _both("num_classes", "n_classes"),
    "class_names": (
        "class_names",
        "classes",
        "config.data.class_names",
        "config.data.classes",
        *_both("class_names", "classes"),
    ),
    "image_size": (
        "config.data.image_size",
        "config.data.img_size",
        "data_config.input_size",
        *_both("image_size", "img_size", "input_size"),
    ),
    "mean": ("normalization.mean", "config.data.mean", "data_config.mean", *_both("mean")),
    "std": ("normalization.std", "config.data.std", "data_config.std", *_both("std")),
    "resize_mode": ("config.data.resize_mode", *_both("resize_mode")),
    "interpolation": (
        "config.data.interpolation",
        "data_config.interpolation",
        *_both("interpolation"),
    ),
}

_INTERPOLATION_WORDS = {
    "linear": "linear",
    "bilinear": "linear",
    "inter_linear": "linear",
    "area": "area",
    "inter_area": "area",
    "cubic": "cubic",
    "bicubic": "cubic",
    "inter_cubic": "cubic",
}


def lookup(root: Any, dotted: str) -> Any:
    """The value at ``dotted`` through mappings and namespaces, or None."""
    value = root
    for part in dotted.split("."):
        if isinstance(value, argparse.Namespace):
            value = vars(value)
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _timm_name(value: Any) -> str | None:
    import timm

    return value if isinstance(value, str) and timm.is_model(value) else None


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    return None


def _side(value: Any) -> int | None:
    """A square image size: ``380``, ``[380, 380]`` or timm's ``(3, 380, 380)``."""
    if isinstance(value, (list, tuple)):
        sides = [_whole(v) for v in value[-2:]]
        if len(value) in (2, 3) and sides[0] is not None and sides[0] == sides[1]:
            return sides[0]
        return None
    return _whole(value)


def _numbers(value: Any) -> tuple[float, ...] | None:
    """Three channel values; one value is repeated; 0-255 values are scaled to [0, 1]."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or len(value) not in (1, 3):
        return None
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(numbers) == 1:
        numbers = numbers * 3
    return tuple(v / 255 for v in numbers) if max(numbers) > 1.5 else numbers


def _names(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _choice(options: tuple[str, ...]) -> Callable[[Any], str | None]:
    def pick(value: Any) -> str | None:
        return value if value in options else None

    return pick


def _interpolation(value: Any) -> str | None:
    word = _INTERPOLATION_WORDS.get(str(value).lower()) if isinstance(value, str) else None
    return word if word in INTERPOLATIONS else None


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "arch": _timm_name,
    "num_classes": _whole,
    "class_names": _names,
    "image_size": _side,
    "mean": _numbers,
    "std": _numbers,
    "resize_mode": _choice(RESIZE_MODES),
    "interpolation": _interpolation,
}


def find_facts(entries: Mapping[str, Any]) -> tuple[dict[str, Fact], list[str]]:
    """Every fact of :data:`PLACES` found in a checkpoint's entries (the weights left out).

    Returns:
        The facts by name, and notes on values found but not usable.
    """
    found: dict[str, Fact] = {}
    notes: list[str] = []
    for name, places in PLACES.items():
        parse = _PARSERS[name]
        for place in dict.fromkeys(places):
            raw = lookup(entries, place)
            if raw is None or isinstance(raw, Mapping):
                continue
            value = parse(raw)
            if value is None:
                shown = repr(raw) if len(repr(raw)) < 60 else f"{repr(raw)[:57]}..."
                notes.append(f"{place} = {shown} is not a usable {name.replace('_', ' ')}")
                continue
            found[name] = Fact(value, place)
            break
    return found, notes
