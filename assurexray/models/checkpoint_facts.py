"""Every fact a model needs, from the file, the command line or the settings, with its source.

The architecture, the number and names of the classes and the preprocessing
each come from (in this order) the command line (:class:`LoadOptions` given
values), the file (a native checkpoint's fields, or a foreign file's entries,
:mod:`assurexray.models.foreign_facts`), the weights themselves (the
classifier's size; the timm architecture whose names and shapes they fit,
:mod:`assurexray.models.arch_match`), and last the settings, which is an
assumption and says so in a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from assurexray.core.errors import CheckpointError, ConfigError
from assurexray.core.naming import check_class_names, printable
from assurexray.imaging.preprocess import PreprocessConfig
from assurexray.models.arch_match import fits, match_architecture, signature
from assurexray.models.foreign_facts import Fact, find_facts
from assurexray.models.load_options import OPTION_OF, LoadOptions
from assurexray.models.model import check_arch
from assurexray.models.state_dict_search import Aligned, FoundWeights, align_keys

PREPROCESS_FACTS = ("image_size", "resize_mode", "interpolation", "mean", "std")


@dataclass(frozen=True)
class Resolved:
    """The facts of one checkpoint, the weights renamed to its architecture, and the sources."""

    arch: str
    num_classes: int
    class_names: tuple[str, ...]
    preprocess: PreprocessConfig
    weights: Aligned
    sources: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    assumed: tuple[str, ...] = ()


def file_facts(found: FoundWeights) -> tuple[dict[str, Fact], list[str]]:
    """The facts a file states: a native checkpoint's fields, or what other tools stored."""
    entries = found.facts
    if entries.get("format_version") is None:
        return find_facts(entries)
    stated = {
        key: Fact(entries[key], key)
        for key in ("arch", "num_classes", "class_names")
        if entries.get(key) is not None
    }
    if isinstance(entries.get("preprocess"), Mapping):
        for key, value in entries["preprocess"].items():
            stated[f"preprocess.{key}"] = Fact(value, f"preprocess.{key}")
    return stated, []


def resolve(path: Path, found: FoundWeights, options: LoadOptions) -> Resolved:
    """Every fact needed to rebuild the model, each with where it came from.

    Raises:
        CheckpointError: a stated fact is unusable, or no architecture fits the weights.
    """
    stated, unusable = file_facts(found)
    notes = [f"{path}: {note}; ignored" for note in unusable] + list(found.notes)
    sources = {"weights": found.where}
    arch = _arch(path, found.state, stated, options, sources, notes)
    sig = signature(arch)
    weights = align_keys(path, found.state, sig.shapes, arch)
    if weights.prefix:
        sources["weights"] += f", key prefix {weights.prefix!r} removed"
    if weights.extra:
        shown = ", ".join(printable(k) for k in weights.extra[:4])
        more = f" and {len(weights.extra) - 4} more" if len(weights.extra) > 4 else ""
        notes.append(
            f"{path}: {len(weights.extra)} entries of the weights are not part of {arch} and "
            f"were left out ({shown}{more}); if the training model used them for its output, "
            "predictions here differ from it"
        )
    classifier = weights.state.get(f"{sig.classifier}.weight")
    from_weights = int(classifier.shape[0]) if classifier is not None and classifier.ndim else None
    names, num_classes = _classes(path, stated, from_weights, options, sources, notes)
    assumed: list[str] = []
    preprocess = _preprocess(path, found.facts, stated, options, sources, assumed)
    if assumed:
        flags = ", ".join(OPTION_OF[k] for k in PREPROCESS_FACTS)
        notes.append(
            f"{path}: preprocessing assumed from the settings (the file does not record it): "
            f"{'; '.join(assumed)}; "
            f"pass {flags} if training differed, or record them with 'assurexray convert'"
        )
    return Resolved(
        arch, num_classes, names, preprocess, weights, sources, tuple(notes), tuple(assumed)
    )


def _arch(
    path: Path,
    state: Mapping[str, torch.Tensor],
    stated: dict[str, Fact],
    options: LoadOptions,
    sources: dict[str, str],
    notes: list[str],
) -> str:
    """The architecture: ``--arch``, the file's, the settings' if it fits, or a timm search."""
    said = stated.get("arch")
    if options.arch:
        if said is not None and said.value != options.arch:
            notes.append(f"{path}: --arch {options.arch} overrides {said.value} ({said.source})")
        return _checked(path, options.arch, "--arch", sources)
    if said is not None:
        return _checked(path, said.value, said.source, sources)
    fallback = _checked(path, options.fallback_arch, "settings model.arch", sources)
    if fits(state, signature(fallback)) is not None:
        sources["arch"] = "settings model.arch (assumed; its parameter names and shapes fit)"
        notes.append(
            f"{path}: the file names no architecture; assumed {fallback} (settings model.arch), "
            "whose parameter names and shapes fit the weights; pass --arch to name another"
        )
        return fallback
    try:
        view = align_keys(path, state, signature(fallback).shapes, fallback)
        problem = mismatch(signature(fallback).shapes, view.state, fallback, view.extra)
    except CheckpointError:
        problem = f"no key of the weights is a parameter name of {fallback}"
    if not options.search_arch:
        raise CheckpointError(
            f"{path}: the file names no architecture and the assumed {fallback} (settings "
            f"model.arch) does not fit: {problem}; name the architecture with --arch"
        )
    found = match_architecture(state)
    if not found.matches:
        raise CheckpointError(
            f"{path}: the file names no architecture, the assumed {fallback} (settings "
            f"model.arch) does not fit ({problem}), and no timm architecture fits the "
            f"weights' names and shapes ({found.describe()}); name it with --arch"
        )
    arch = found.matches[0]
    sources["arch"] = f"the weights' parameter names and shapes ({found.describe()})"
    others = f"; {', '.join(found.matches[1:])} fit as well" if found.matches[1:] else ""
    notes.append(
        f"{path}: the file names no architecture; the weights fit {arch} "
        f"({found.describe()}){others}; pass --arch to name another"
    )
    return arch


def _checked(path: Path, arch: Any, source: str, sources: dict[str, str]) -> str:
    try:
        check_arch(arch)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc} (from {source})") from None
    sources["arch"] = source
    return str(arch)


def _classes(
    path: Path,
    stated: dict[str, Fact],
    from_weights: int | None,
    options: LoadOptions,
    sources: dict[str, str],
    notes: list[str],
) -> tuple[tuple[str, ...], int]:
    """The class names and their number, checked against each other."""
    said = stated.get("class_names")
    raw = said.value if said is not None else options.fallback_class_names
    sources["class_names"] = said.source if said is not None else "settings class_names (assumed)"
    try:
        names = check_class_names(raw, f"{path}: 'class_names'")
    except ValueError as exc:
        raise CheckpointError(printable(exc)) from None
    count = stated.get("num_classes")
    if count is not None:
        number, sources["num_classes"] = count.value, count.source
    elif said is None and from_weights is not None:
        number, sources["num_classes"] = from_weights, "the classifier's weights"
    else:
        number, sources["num_classes"] = len(names), sources["class_names"]
    if said is None:
        if number != len(names):
            raise CheckpointError(
                f"{path}: the weights have {number} classes but the file names none and the "
                f"settings' class_names has {len(names)} ({', '.join(names)}); set class_names "
                "in the config"
            )
        notes.append(
            f"{path}: the file names no classes; assumed {', '.join(names)} (settings class_names)"
        )
    elif number != len(names):
        raise CheckpointError(
            f"{path}: num_classes is {number} but {len(names)} class names are given"
        )
    return names, number


def _preprocess(
    path: Path,
    entries: Mapping[str, Any],
    stated: dict[str, Fact],
    options: LoadOptions,
    sources: dict[str, str],
    assumed: list[str],
) -> PreprocessConfig:
    """The preprocessing: given options over the file's record over the settings."""
    given = options.given_preprocess()
    if isinstance(entries.get("format_version"), int) and entries.get("preprocess") is not None:
        try:
            recorded = PreprocessConfig.from_dict(entries["preprocess"])
        except (ConfigError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: bad preprocessing settings ({exc})") from None
        values = {f.name: getattr(recorded, f.name) for f in fields(PreprocessConfig)}
        for key in PREPROCESS_FACTS:
            sources[key] = f"preprocess.{key}"
    else:
        base = options.fallback_preprocess
        values = {f.name: getattr(base, f.name) for f in fields(PreprocessConfig)}
        for key in PREPROCESS_FACTS:
            fact = stated.get(key)
            if fact is not None:
                values[key], sources[key] = fact.value, fact.source
            elif key not in given:
                sources[key] = f"settings model.{key} (assumed)"
                assumed.append(f"{key.replace('_', ' ')} {_shown(values[key])}")
    for key, value in given.items():
        sources[key] = OPTION_OF[key]
        values[key] = value
    try:
        return PreprocessConfig(**values)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: bad preprocessing ({exc})") from None


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(f"{v:.4g}" for v in value) + ")"
    return str(value)


def mismatch(
    expected: Mapping[str, tuple[int, ...]],
    state: Mapping[str, torch.Tensor],
    arch: str,
    extra: tuple[str, ...] = (),
) -> str:
    """The keys and shapes by which ``state`` (and ``extra`` keys) differ from ``expected``."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted((set(state) - set(expected)) | set(extra))
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
    if unexpected:
        shown = ", ".join(printable(k) for k in unexpected[:3])
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {shown})")
    if wrong_shape:
        problems.append(f"shapes differ for {'; '.join(wrong_shape[:3])} (file vs {arch})")
    return "; ".join(problems)
