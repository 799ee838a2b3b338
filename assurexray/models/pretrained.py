"""Starting weights for training: random, timm's pretrained ones, or a file.

``--pretrained`` names a weights file (an assurexray checkpoint or a state
dict, read with ``torch.load(weights_only=True)``; a ``.safetensors`` file,
read by timm), or ``imagenet`` / a timm pretrained tag, which timm loads its
own way (:func:`assurexray.models.model.build_model`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from assurexray.core.errors import CheckpointError
from assurexray.models.model import build_model, build_model_from_file


def load_pretrained_backbone(model: nn.Module, path: Path) -> list[str]:
    """Load user-supplied weights, skipping the classifier where shapes differ.

    Accepts the same files as :func:`assurexray.models.checkpoint.load_checkpoint` (a
    checkpoint, a bare or wrapped state dict, any key prefix such as ``module.``).

    Returns:
        Names of the model's keys that kept their fresh initialisation.
    """
    from assurexray.models.checkpoint import read_weights
    from assurexray.models.state_dict_search import best_prefix

    _, state = read_weights(path)
    own = model.state_dict()
    prefix, _ = best_prefix(list(state), own)
    renamed = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    usable = {k: v for k, v in renamed.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise CheckpointError(f"{path}: no weight in the file fits {type(model).__name__}")
    model.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))


def initial_model(
    arch: str, num_classes: int, pretrained: str | Path | None = None
) -> tuple[nn.Module, list[str]]:
    """The model to train: ``arch`` with ``num_classes`` outputs, ``pretrained`` weights if given.

    ``pretrained`` is a weights file (a checkpoint or state dict, read by
    :func:`load_pretrained_backbone`; a ``.safetensors`` file, read by timm),
    or ``"imagenet"`` / a timm pretrained tag, loaded by timm
    (:func:`assurexray.models.model.build_model`). Checked before any image is
    decoded, so a missing weight fails at once.

    Returns:
        The model and the names of the tensors that kept a fresh initialisation.
    """
    classes, spec = num_classes, pretrained
    if spec is None or spec == "":
        model = build_model(arch, num_classes=classes)
        _small_classifier_init(model)
        return model, []
    path = Path(spec)
    if isinstance(spec, Path) or path.exists() or path.suffix or len(path.parts) > 1:
        if path.suffix.lower() == ".safetensors" and path.is_file():
            model = build_model_from_file(arch, classes, path)
            _small_classifier_init(model)
            return model, _classifier_keys(model)
        model = build_model(arch, num_classes=classes)
        _small_classifier_init(model)
        return model, load_pretrained_backbone(model, path)
    model = build_model(arch, num_classes=classes, pretrained=str(spec))
    _small_classifier_init(model)
    return model, _classifier_keys(model)


def _classifier_keys(model: nn.Module) -> list[str]:
    """State-dict keys of the classifier, which pretrained weights never fill here."""
    name = getattr(model, "pretrained_cfg", {}).get("classifier", "classifier")
    return sorted(k for k in model.state_dict() if k.startswith(f"{name}."))


def _small_classifier_init(model: nn.Module) -> None:
    """Start the final linear layer near zero.

    timm's EfficientNet initialises it with a range of 1/sqrt(num_classes),
    which for three classes gives initial logits above ten and a diverging
    first epoch when training from scratch.
    """
    timm_model: Any = model  # timm's methods are untyped; nn.Module's typing cannot see them
    classifier = timm_model.get_classifier() if hasattr(model, "get_classifier") else None
    if isinstance(classifier, nn.Linear):
        nn.init.normal_(classifier.weight, std=0.01)
        nn.init.zeros_(classifier.bias)
