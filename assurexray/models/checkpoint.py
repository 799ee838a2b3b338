"""Checkpoints: saving a model with its facts, and loading one back safely.

A checkpoint is a plain dict saved with :func:`torch.save` and read back with
``torch.load(weights_only=True)``, so loading never runs code from the file.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from assurexray.core.config import CLASS_NAMES
from assurexray.core.errors import CheckpointError, ConfigError, why_missing
from assurexray.core.naming import check_class_names, printable
from assurexray.core.text import first_line
from assurexray.imaging.preprocess import PreprocessConfig
from assurexray.models.model import build_model

FORMAT_VERSION = 1
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
# torch names the global a pickle asked for when weights_only refuses it.
_UNSAFE_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


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

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    arch: str,
    class_names: tuple[str, ...] | list[str],
    preprocess: PreprocessConfig,
    train_metrics: dict[str, Any] | None = None,
) -> Path:
    """Save a model and its facts in the checkpoint format of docs/architecture.md, atomically."""
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
    return write_with(path, lambda tmp: torch.save(payload, tmp))


def _read_checkpoint_file(path: Path) -> Any:
    """``torch.load(weights_only=True)`` with each failure turned into one line."""
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint file {why_missing(path)}")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: checkpoint file is empty")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _UNSAFE_GLOBAL.search(str(exc))
        unsafe = found.group(1) if found else _pickle_globals(path)
        if unsafe is not None:
            named = f" ({unsafe})" if unsafe else ""
            raise CheckpointError(
                f"{path}: refused to load: the file holds Python objects{named} that would "
                "need unpickling arbitrary code (only tensors and plain values are allowed)"
            ) from None
        raise CheckpointError(f"{path}: corrupt or not a PyTorch checkpoint") from None
    except Exception as exc:  # torch.load fails in many ways on a damaged file
        reason = f" ({first_line(exc)})" if isinstance(exc, RuntimeError) else ""
        raise CheckpointError(f"{path}: corrupt or not a PyTorch checkpoint{reason}") from None


def _pickle_globals(path: Path) -> str | None:
    """Whether ``path`` is a well-formed pickle (the whole file, or the ``data.pkl``
    of a torch zip archive), read with :mod:`pickletools` without running it.

    Returns:
        None for a file that is not a pickle (random bytes, a damaged file);
        otherwise the first global it imports other than torch's own, or ""
        when it imports none.
    """
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                member = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                data = archive.read(member)
        else:
            data = path.read_bytes()
        strings: list[str] = []
        names: list[str] = []
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name == "GLOBAL":
                names.append(str(arg).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(".".join(strings[-2:]))
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # noqa: BLE001 - any failure to parse means "not a pickle"
        return None
    foreign = [n for n in names if not n.startswith(("torch.", "collections.OrderedDict"))]
    return foreign[0] if foreign else ""


def _split_payload(path: Path, payload: Any) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Separate the facts from the weights, whatever layout the file uses."""
    if not isinstance(payload, dict):
        raise CheckpointError(
            f"{path}: not a checkpoint (holds a {type(payload).__name__}, expected a dict)"
        )
    for key in _WRAPPER_KEYS:
        if isinstance(payload.get(key), dict):
            state = payload[key]
            facts = {k: v for k, v in payload.items() if k != key}
            break
    else:
        state, facts = payload, {}
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: no state dict of tensors found in the checkpoint")
    # Weights saved from DataParallel or torch.compile carry a prefix.
    for prefix in ("module.", "_orig_mod."):
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return facts, state


def read_weights(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The facts and the state dict a weights file holds (read safely, any layout)."""
    return _split_payload(path, _read_checkpoint_file(path))


def load_checkpoint(
    path: str | Path,
    *,
    arch: str | None = None,
    class_names: tuple[str, ...] | list[str] | None = None,
    preprocess: PreprocessConfig | None = None,
    device: str | torch.device = "cpu",
) -> Checkpoint:
    """Load a checkpoint safely and rebuild its model in eval mode.

    Facts the file carries win; facts it lacks (a bare state dict, or a dict
    from another training script) come from the arguments, with a warning.

    Raises:
        CheckpointError: missing, empty, corrupt or unsafe file, or weights
            that do not fit the architecture (naming the keys and shapes).
    """
    path = Path(path)
    facts, state = _split_payload(path, _read_checkpoint_file(path))
    _check_fact_types(path, facts)
    _check_finite(path, state)
    notes: list[str] = []

    def fact(key: str, fallback: Any, default: Any) -> Any:
        if facts.get(key) is not None:
            return facts[key]
        source = "from the settings" if fallback is not None else "(built-in default)"
        value = fallback if fallback is not None else default
        notes.append(f"{path}: checkpoint has no {key!r}; using {_describe(value)} {source}")
        return value

    arch_name = fact("arch", arch, "efficientnet_b0")
    raw_names = fact("class_names", class_names, CLASS_NAMES)
    try:
        names = check_class_names(raw_names, f"{path}: 'class_names'")
    except ValueError as exc:
        raise CheckpointError(printable(exc)) from None
    num_classes = facts.get("num_classes")
    num_classes = len(names) if num_classes is None else num_classes
    if num_classes != len(names):
        raise CheckpointError(
            f"{path}: num_classes is {num_classes} but {len(names)} class names are given"
        )
    if facts.get("preprocess") is not None:
        try:
            pre = PreprocessConfig.from_dict(facts["preprocess"])
        except (ConfigError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: bad preprocessing settings ({exc})") from None
    else:
        pre = fact("preprocess", preprocess, PreprocessConfig())

    try:
        model = build_model(arch_name, num_classes)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    _load_state(path, model, state, arch_name)
    model.to(device).eval()
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return Checkpoint(
        model=model,
        arch=arch_name,
        class_names=names,
        preprocess=pre,
        path=path,
        target_layer=facts.get("target_layer") or getattr(model, "gradcam_target_layer_name", None),
        train_metrics=facts.get("train_metrics") or {},
        created=facts.get("created"),
        warnings=tuple(notes),
    )


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


def _describe(value: Any) -> str:
    if isinstance(value, PreprocessConfig):
        clahe = "with" if value.clahe else "without"
        return f"image size {value.image_size}, {value.resize_mode}, {clahe} CLAHE"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return repr(value)


def _load_state(path: Path, model: nn.Module, state: dict[str, torch.Tensor], arch: str) -> None:
    """Load weights, explaining a mismatch by the keys and shapes that differ."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
    if wrong_shape:
        problems.append(f"shapes differ for {'; '.join(wrong_shape[:3])} (file vs {arch})")
    if problems:
        raise CheckpointError(f"{path}: weights do not fit {arch}: {'; '.join(problems)}")
    model.load_state_dict(state)


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
