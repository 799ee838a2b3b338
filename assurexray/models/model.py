"""The classifier: building it with timm, its Grad-CAM target layer, and the device.

Saving and loading checkpoints is in :mod:`assurexray.models.checkpoint`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from assurexray.core.errors import CheckpointError, ConfigError
from assurexray.core.text import first_line

# Module names of the last spatial feature map, for architectures we know.
_TARGET_LAYERS = {"efficientnet": "bn2", "test_efficientnet": "bn2", "resnet": "layer4"}


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

    check_arch(arch)
    if not pretrained:
        model = timm.create_model(arch, pretrained=False, num_classes=num_classes)
    else:
        tag = "" if pretrained is True or str(pretrained).lower() == IMAGENET else str(pretrained)
        model = _create_pretrained(f"{arch}.{tag}" if tag else arch, num_classes)
    return _with_target_layer(model, arch)


def check_arch(arch: str) -> None:
    """Raise unless ``arch`` is a timm model name (suggesting close ones).

    Raises:
        ConfigError: an unknown name, or not text at all.
    """
    import timm

    if not isinstance(arch, str) or not timm.is_model(arch):
        close = timm.list_models(f"*{str(arch).split('_')[0]}*")[:5] if arch else []
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown model architecture {arch!r}{hint}")


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
        raise CheckpointError(f"{path}: not weights of {arch} ({first_line(exc)})") from exc
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
