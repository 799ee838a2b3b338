"""assurexray: where does a bone-tumour X-ray classifier look?

The public API is loaded lazily, so ``import assurexray`` does not import torch.
No public name equals a module name: after ``import assurexray.<module>`` the
package attribute ``<module>`` is that module, which would hide a function of
the same name.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"  # the one version source; pyproject.toml reads it

_EXPORTS = {
    "read_image": "imaging",
    "Radiograph": "imaging",
    "PreprocessConfig": "preprocess",
    "preprocess_image": "preprocess",
    "build_model": "model",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "Explainer": "explain",
    "load_labelme": "annotations",
    "annotation_mask": "annotation_masks",
    "draw_annotation": "annotation_masks",
    "localisation_scores": "metrics",
    "classification_metrics": "metrics",
    "load_dataset": "datasets",
    "generate_dataset": "synthetic.writer",
    "load_settings": "config",
    "Settings": "config",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assurexray' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"assurexray.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
