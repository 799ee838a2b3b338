"""assurexray: where does a bone-tumour X-ray classifier look?

The public API is loaded lazily, so ``import assurexray`` does not import torch.
No public name equals a module name: after ``import assurexray.<module>`` the
package attribute ``<module>`` is that module, which would hide a function of
the same name.
"""

from __future__ import annotations

import importlib
from typing import Any

from assurexray import _moved

__version__ = "0.1.0"  # the one version source; pyproject.toml reads it

_EXPORTS = {
    "read_image": "imaging.reading",
    "Radiograph": "imaging.radiograph",
    "PreprocessConfig": "imaging.preprocess",
    "preprocess_image": "imaging.preprocess",
    "build_model": "models.model",
    "load_checkpoint": "models.checkpoint",
    "save_checkpoint": "models.checkpoint",
    "Explainer": "explain.explainer",
    "load_labelme": "annotations.labelme",
    "annotation_mask": "annotations.masks",
    "draw_annotation": "annotations.masks",
    "localisation_scores": "evaluation.metrics",
    "classification_metrics": "evaluation.metrics",
    "load_dataset": "data.datasets",
    "generate_dataset": "data.synthetic.writer",
    "load_settings": "core.config",
    "Settings": "core.config",
    "analyse_shortcuts": "shortcuts.job",
    "ShortcutsOptions": "shortcuts.options",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

_moved.install()  # old module paths keep working for a release, with a warning


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assurexray' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"assurexray.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
