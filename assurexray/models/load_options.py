"""What to assume for the facts a checkpoint file cannot say.

A native assurexray checkpoint records every fact; a file from another
training script may lack the architecture, the image size, the resize, the
normalisation or the class names. ``given`` values come from the command line
(``--arch``, ``--image-size``, ``--resize-mode``, ``--interpolation``,
``--mean``, ``--std``, ``--weights-key``) and win over the file, with a note
when the file says otherwise; ``fallback_*`` values come from the settings'
``model:`` section and fill only what neither says, with a warning naming the
assumption.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assurexray.core.config import CLASS_NAMES
from assurexray.imaging.preprocess import PreprocessConfig


@dataclass(frozen=True)
class LoadOptions:
    """Facts given for a checkpoint, and the fallbacks for facts nobody gives.

    Attributes:
        arch: timm architecture (``--arch``).
        image_size: Network input side (``--image-size``).
        resize_mode: ``letterbox`` or ``stretch`` (``--resize-mode``).
        interpolation: ``area``, ``linear`` or ``cubic`` (``--interpolation``).
        mean: Per-channel normalisation mean (``--mean``).
        std: Per-channel normalisation standard deviation (``--std``).
        weights_key: The entry holding the weights, e.g. ``state_dict_ema``.
        fallback_arch: The settings' ``model.arch``: tried first when the file names none.
        fallback_class_names: The settings' ``class_names``.
        fallback_preprocess: The settings' ``model:`` preprocessing.
        search_arch: Search timm for the architecture the weights fit when
            the file names none and the fallback does not fit.
    """

    arch: str | None = None
    image_size: int | None = None
    resize_mode: str | None = None
    interpolation: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    weights_key: str | None = None
    fallback_arch: str = "efficientnet_b0"
    fallback_class_names: tuple[str, ...] = CLASS_NAMES
    fallback_preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    search_arch: bool = True

    def given_preprocess(self) -> dict[str, object]:
        """The preprocessing fields given on the command line, by field name."""
        values = {
            "image_size": self.image_size,
            "resize_mode": self.resize_mode,
            "interpolation": self.interpolation,
            "mean": self.mean,
            "std": self.std,
        }
        return {k: v for k, v in values.items() if v is not None}


OPTION_OF = {
    "arch": "--arch",
    "image_size": "--image-size",
    "resize_mode": "--resize-mode",
    "interpolation": "--interpolation",
    "mean": "--mean",
    "std": "--std",
}
"""The command-line option that gives each fact."""
