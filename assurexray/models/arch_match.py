"""Which timm architecture a state dict belongs to, from its parameter names and shapes.

The key layout points to a family (``conv_stem`` + ``blocks.N.M`` + ``bn2`` is
timm's EfficientNet / MobileNet builder; ``layer1..4`` + ``fc`` a ResNet); each
of the family's timm models is built on the ``meta`` device (no memory, no
weights), and a model matches when, under some key prefix, the file holds
exactly its keys with exactly its shapes (the classifier's output count aside:
that is the number of classes). The search is capped (:data:`MAX_CANDIDATES`,
:data:`TIME_BUDGET`) and says how many models it tried and how long it took.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from assurexray.models.state_dict_search import best_prefix

MAX_CANDIDATES = 160
TIME_BUDGET = 60.0  # seconds

# Key fragments that mark a layout, and the timm name patterns of its family.
FAMILIES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "EfficientNet/MobileNet",
        ("conv_stem.weight", "blocks.0.0.", "bn2."),
        (
            "test_efficientnet*",
            "efficientnet_*",
            "tf_efficientnet_*",
            "efficientnetv2_*",
            "tf_efficientnetv2_*",
            "mobilenetv2_*",
            "mobilenetv3_*",
            "tf_mobilenetv3_*",
            "mnasnet_*",
            "spnasnet_*",
            "tinynet_*",
        ),
    ),
    (
        "ResNet",
        ("conv1.", "layer1.", "layer4.", "fc.weight"),
        ("test_resnet*", "resnet*", "resnext*", "wide_resnet*", "seresnet*"),
    ),
    ("ConvNeXt", ("stem.0.", "stages.0.", "head.fc."), ("test_convnext*", "convnext_*")),
    ("DenseNet", ("features.denseblock1.", "classifier."), ("densenet*",)),
    ("ViT", ("patch_embed.proj.", "blocks.0.attn.", "head."), ("test_vit*", "vit_*", "deit_*")),
)


@dataclass(frozen=True)
class Signature:
    """An architecture's state-dict shapes and the prefix of its classifier's keys."""

    shapes: dict[str, tuple[int, ...]]
    classifier: str


@dataclass(frozen=True)
class ArchMatch:
    """What the search found: the matching names, in timm's order, and what it tried."""

    matches: tuple[str, ...]
    family: str | None
    searched: int
    candidates: int
    seconds: float
    num_classes: int | None = None

    def describe(self) -> str:
        """``searched 93 EfficientNet/MobileNet models in 8.1 s`` (or why none was)."""
        if self.family is None:
            return "the key layout is not one of a timm family this search knows"
        of = "" if self.searched == self.candidates else f" of {self.candidates}"
        return f"searched {self.searched}{of} timm {self.family} models in {self.seconds:.1f} s"


def _has(keys: list[str], fragment: str) -> bool:
    return any(f".{fragment}" in f".{key}" for key in keys)


def family_of(keys: list[str]) -> tuple[str, tuple[str, ...]] | None:
    """The family whose every marker fragment occurs in ``keys``, and its name patterns."""
    for family, markers, patterns in FAMILIES:
        if all(_has(keys, m) for m in markers):
            return family, patterns
    return None


@functools.cache
def signature(name: str) -> Signature:
    """The state-dict shapes of timm model ``name``, built on the meta device (cached)."""
    import timm

    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    classifier = str(getattr(model, "pretrained_cfg", {}).get("classifier", "classifier"))
    return Signature({k: tuple(v.shape) for k, v in model.state_dict().items()}, classifier)


def fits(state: Mapping[str, torch.Tensor], sig: Signature) -> int | None:
    """The number of classes if ``state`` holds exactly ``sig``'s keys and shapes, else None."""
    prefix, count = best_prefix(list(state), sig.shapes)
    under = sum(1 for key in state if key.startswith(prefix))
    if count != len(sig.shapes) or under != count:
        return None
    classes: int | None = None
    for key, shape in sig.shapes.items():
        tensor = state.get(prefix + key)
        if tensor is None:
            return None
        got = tuple(tensor.shape)
        if key.startswith(f"{sig.classifier}."):
            if len(got) != len(shape) or got[1:] != shape[1:]:
                return None
            classes = got[0] if classes is None else classes
        elif got != shape:
            return None
    return classes


def match_architecture(
    state: Mapping[str, torch.Tensor],
    *,
    max_candidates: int = MAX_CANDIDATES,
    time_budget: float = TIME_BUDGET,
) -> ArchMatch:
    """Every timm model of the key layout's family whose names and shapes ``state`` fits."""
    import timm

    start = time.perf_counter()
    family = family_of(list(state))
    if family is None:
        return ArchMatch((), None, 0, 0, 0.0)
    name, patterns = family
    names = list(dict.fromkeys(n for p in patterns for n in timm.list_models(p)))
    matches: list[str] = []
    classes: int | None = None
    searched = 0
    for candidate in names[:max_candidates]:
        if time.perf_counter() - start > time_budget:
            break
        searched += 1
        try:
            sig = signature(candidate)
        except Exception:  # noqa: BLE001, S112 - a model timm cannot build is no match
            continue
        found = fits(state, sig)
        if found is not None:
            matches.append(candidate)
            classes = found
    seconds = time.perf_counter() - start
    return ArchMatch(tuple(matches), name, searched, len(names), seconds, classes)
