"""The classifier: building it with timm, and saving/loading checkpoints.

A checkpoint is a plain dict saved with :func:`torch.save` and read back with
``torch.load(weights_only=True)``, so loading never runs code from the file.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from assurexray.config import CLASS_NAMES
from assurexray.errors import CheckpointError, ConfigError
from assurexray.naming import check_class_names, printable
from assurexray.preprocess import PreprocessConfig

FORMAT_VERSION = 1
# Module names of the last spatial feature map, for architectures we know.
_TARGET_LAYERS = {"efficientnet": "bn2", "test_efficientnet": "bn2", "resnet": "layer4"}
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
# torch names the global a pickle asked for when weights_only refuses it.
_UNSAFE_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


IMAGENET = "imagenet"


def build_model(
    arch: str = "efficientnet_b0", num_classes: int = 3, pretrained: bool | str = False
) -> nn.Module:
    """Build a timm classifier that knows its Grad-CAM target layer.

    Args:
        arch: A timm model name, e.g. ``efficientnet_b0`` or ``test_efficientnet``.
        num_classes: Number of output classes.
        pretrained: False for random weights; ``"imagenet"`` (or True) for
            timm's default pretrained weights of ``arch``; another string is a
            timm pretrained tag, e.g. ``"ra_in1k"`` for ``efficientnet_b0.ra_in1k``.
            timm finds them its own way: the Hugging Face cache
            (``HF_HUB_CACHE``), or a download when the network is there. The
            classifier is new whenever ``num_classes`` differs from the weights'.

    Returns:
        The model, with ``gradcam_target_layer`` (a module or None) and
        ``gradcam_target_layer_name`` attributes.

    Raises:
        ConfigError: ``arch`` is not a timm model name, or has no such tag.
        CheckpointError: The pretrained weights cannot be had (the message
            says what to do, in one line).
    """
    import timm

    if not timm.is_model(arch):
        close = timm.list_models(f"*{arch.split('_')[0]}*")[:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown model architecture {arch!r}{hint}")
    if not pretrained:
        model = timm.create_model(arch, pretrained=False, num_classes=num_classes)
    else:
        tag = "" if pretrained is True or str(pretrained).lower() == IMAGENET else str(pretrained)
        model = _create_pretrained(f"{arch}.{tag}" if tag else arch, num_classes)
    return _with_target_layer(model, arch)


def build_model_from_file(arch: str, num_classes: int, path: str | Path) -> nn.Module:
    """Build ``arch`` with timm loading weights from a local file (``.safetensors``, ...).

    timm's own loader (``pretrained_cfg_overlay=dict(file=...)``) reads the
    file and drops its classifier when the number of classes differs.

    Raises:
        CheckpointError: The file does not hold weights of this architecture.
    """
    import timm

    try:
        model = timm.create_model(
            arch,
            pretrained=True,
            num_classes=num_classes,
            pretrained_cfg_overlay={"file": str(path)},
        )
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: not weights of {arch} ({_first_line(exc)})") from exc
    return _with_target_layer(model, arch)


def _create_pretrained(name: str, num_classes: int) -> nn.Module:
    """timm.create_model(name, pretrained=True), with one-line errors."""
    import timm

    try:
        return timm.create_model(name, pretrained=True, num_classes=num_classes)
    except RuntimeError as exc:
        if "pretrained tag" not in str(exc):
            raise
        arch, _, tag = name.partition(".")
        tags = [n.partition(".")[2] for n in timm.list_pretrained(f"{arch}.*")]
        known = f"; known: {', '.join(tags)}" if tags else f"; {arch} has no pretrained weights"
        raise ConfigError(f"--pretrained {tag!r} is not a timm tag of {arch}{known}") from exc
    except (OSError, _hub_error()) as exc:
        from huggingface_hub import constants

        raise CheckpointError(
            f"pretrained weights for {name} could not be fetched (no network, and not in the "
            f"Hugging Face cache {constants.HF_HUB_CACHE}): run once with network, set "
            f"HF_HUB_CACHE to a cache that holds them, or pass --pretrained PATH to a weights file"
        ) from exc


def _hub_error() -> type[Exception]:
    """huggingface_hub's base error for failed Hub requests (not an OSError in every version)."""
    try:
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:  # pragma: no cover - very old huggingface_hub
        return OSError
    return HfHubHTTPError


def _with_target_layer(model: nn.Module, arch: str) -> nn.Module:
    name = target_layer_name(arch, model)
    layer = model.get_submodule(name) if name else None
    # object.__setattr__ keeps the alias out of the state dict (no duplicate keys).
    object.__setattr__(model, "gradcam_target_layer", layer)
    object.__setattr__(model, "gradcam_target_layer_name", name)
    object.__setattr__(model, "arch", arch)
    return model


def target_layer_name(arch: str, model: nn.Module) -> str | None:
    """Name of the last spatial feature map for known architectures, else None."""
    for prefix, name in _TARGET_LAYERS.items():
        if arch.startswith(prefix) and _has_module(model, name):
            return name
    return None


def _has_module(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
    except AttributeError:
        return False
    return True


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; otherwise as given."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"device {device!r} is not a valid torch device") from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} was asked for, but CUDA is not available")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r}: only {torch.cuda.device_count()} CUDA devices")
    if resolved.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(f"device {device!r} was asked for, but MPS is not available")
    return resolved


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
    from assurexray.report import write_with

    payload = {
        "format_version": FORMAT_VERSION,
        "arch": arch,
        "num_classes": len(class_names),
        "class_names": list(class_names),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "preprocess": preprocess.to_dict(),
        "target_layer": getattr(model, "gradcam_target_layer_name", None),
        "train_metrics": dict(train_metrics or {}),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return write_with(path, lambda tmp: torch.save(payload, tmp))


def _read_checkpoint_file(path: Path) -> Any:
    """``torch.load(weights_only=True)`` with each failure turned into one line."""
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint file not found")
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
        reason = f" ({_first_line(exc)})" if isinstance(exc, RuntimeError) else ""
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


def _first_line(exc: BaseException) -> str:
    """The first sentence of an exception's message, at most 200 characters."""
    text = str(exc).strip().splitlines()
    return text[0].split(". ")[0][:200] if text else type(exc).__name__


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
