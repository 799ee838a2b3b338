"""Old module paths from before the package was grouped into folders by stage.

``import assurexray.preprocess`` (say) still works for one release: it gives the
module at its new path (``assurexray.imaging.preprocess``) with a
``DeprecationWarning`` naming that path. See ``docs/architecture.md``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

MOVED = {
    "errors": "core.errors",
    "naming": "core.naming",
    "config": "core.config",
    "report": "core.files",
    "png": "core.png",
    "image_header": "imaging.header",
    "dicom": "imaging.dicom",
    "preprocess": "imaging.preprocess",
    "annotation_masks": "annotations.masks",
    "labelme_shapes": "annotations.shapes",
    "dataset_index": "data.index",
    "dataset_splits": "data.splits",
    "datasets": "data.datasets",
    "selection": "data.selection",
    "synthetic": "data.synthetic",
    "model": "models.model",
    "checkpoint": "models.checkpoint",
    "pretrained": "models.pretrained",
    "cam_methods": "explain.cam_methods",
    "fast_gradcam": "explain.fast_gradcam",
    "layer_probe": "explain.layer_probe",
    "target_layers": "explain.target_layers",
    "rollout": "explain.rollout",
    "cam_engine": "explain.cam_engine",
    "candidates": "explain.candidates",
    "metrics": "evaluation.metrics",
    "statistics": "evaluation.statistics",
    "baselines": "evaluation.baselines",
    "sanity": "evaluation.sanity",
    "faithfulness": "evaluation.faithfulness",
    "stability": "evaluation.stability",
    "render": "reporting.render",
    "html_report": "reporting.html_report",
    "page_parts": "reporting.page_parts",
    "report_pages": "reporting.report_pages",
    "browser": "reporting.browser",
    "streaming": "engine.streaming",
    "writer": "engine.file_writers",
    "jobs": "engine.jobs",
    "infer": "inference.infer",
    "infer_files": "inference.infer_files",
    "infer_inputs": "inference.infer_inputs",
    "gallery": "inference.gallery",
    "train": "training.train",
    "train_steps": "training.train_steps",
    "train_data": "training.train_data",
    "compare": "localisation.compare",
    "annotated_images": "localisation.annotated_images",
    "compare_report": "localisation.compare_report",
    "audit_checks": "audit.checks",
    "audit_report": "audit.report",
    "audit_scoring": "audit.scoring",
    "audit_summary": "audit.summary",
    "demo_report": "demo.report",
    "cli_options": "cli.options",
    "terminal": "cli.terminal",
    "printers": "cli.printers",
}
"""Old module name (below ``assurexray``) → its path now. ``audit``, ``demo`` and
``cli`` are packages now (their jobs are ``audit.job``, ``demo.job`` and ``cli.main``),
and so are ``imaging``, ``annotations`` and ``explain``."""


def new_name(fullname: str) -> str | None:
    """The module's path now for an old ``assurexray.<old>[.<rest>]`` name, else None."""
    package, _, rest = fullname.partition(".")
    old, _, below = rest.partition(".")
    if package != "assurexray" or old not in MOVED:
        return None
    return f"assurexray.{MOVED[old]}" + (f".{below}" if below else "")


class _Alias(importlib.abc.Loader):
    """Gives the module at its new path, with a DeprecationWarning."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new
        self.spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{self.old} moved to {self.new}; the old path goes in the next minor release",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(self.new)
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (the module is loaded); give it back its own spec, which the
        import system has just replaced with the old path's."""
        module.__spec__ = self.spec


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds old module paths and hands them to :class:`_Alias`."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = new_name(fullname)
        return (
            None
            if new is None
            else importlib.util.spec_from_loader(fullname, _Alias(fullname, new))
        )


def install() -> None:
    """Put the finder in front of the import system (once)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())
