"""Public API stability: every listed public name still resolves, and renamed ones warn.

``fixtures/public_names.txt`` lists the public names defined at the top of each
module (``fixtures/make_public_names.py`` writes it). Renaming or removing one
makes this test fail unless the old name keeps resolving, with a
``DeprecationWarning`` naming the new one, for one minor release
(:mod:`assurexray.core.deprecation`).
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import pytest

import assurexray

LISTED = (Path(__file__).parent / "fixtures" / "public_names.txt").read_text().split()

RENAMED = {
    # old import path: new name the warning must mention
    "assurexray.preprocess:preprocess": "preprocess_image",
    "assurexray.imaging.preprocess:preprocess": "preprocess_image",
    "assurexray.explain:Explainer": "assurexray.explain.explainer.Explainer",
    "assurexray.explain:heatmaps_to_original": "explain.explainer.heatmaps_to_original",
    "assurexray.annotations:load_labelme": "assurexray.annotations.labelme.load_labelme",
    "assurexray.annotations:Shape": "assurexray.annotations.records.Shape",
    "assurexray.imaging:read_image": "assurexray.imaging.reading.read_image",
    "assurexray.imaging:Radiograph": "assurexray.imaging.radiograph.Radiograph",
    "assurexray.audit:AuditOptions": "assurexray.audit.options.AuditOptions",
    "assurexray.audit:run": "assurexray.audit.job.run",
    "assurexray.demo:DemoOptions": "assurexray.demo.job.DemoOptions",
    "assurexray.imaging.dicom:dicom_size": "assurexray.imaging.header.dicom_size",
    "assurexray.engine.jobs:no_progress": "assurexray.core.callbacks.no_progress",
    "assurexray.explain.candidates:DEFAULT_METHODS": "assurexray.core.config.AUDIT_METHODS",
    "assurexray.models.checkpoint:file_sha256": "assurexray.core.files.file_sha256",
    "assurexray.engine.jobs:open_model": "assurexray.engine.model_opening.open_model",
}


def _resolve(path: str) -> object:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def test_the_list_is_not_empty_and_names_the_core_api() -> None:
    assert len(LISTED) > 300
    for name in (
        "assurexray.explain.explainer:Explainer",
        "assurexray.imaging.preprocess:preprocess_image",
        "assurexray.explain.attributions:ATTRIBUTION_METHODS",
    ):
        assert name in LISTED


def test_every_listed_public_name_resolves_without_a_warning() -> None:
    missing = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for path in LISTED:
            try:
                _resolve(path)
            except (AttributeError, DeprecationWarning) as exc:
                missing.append(f"{path}: {exc}")
    assert not missing, "public names renamed or removed without a shim:\n" + "\n".join(missing)


def test_the_top_level_exports_resolve() -> None:
    for name in assurexray.__all__:
        assert getattr(assurexray, name) is not None


@pytest.mark.parametrize("old", sorted(RENAMED))
def test_renamed_names_still_resolve_with_a_warning_naming_the_new_one(old: str) -> None:
    module, _, name = old.partition(":")
    with pytest.warns(DeprecationWarning) as caught:
        value = _resolve(old)
    messages = " ".join(str(w.message) for w in caught)
    assert RENAMED[old] in messages
    new_module, _, new_name = RENAMED[old].rpartition(".")
    if new_module.startswith("assurexray."):
        assert value is getattr(importlib.import_module(new_module), new_name)


def test_the_renamed_preprocess_is_preprocess_image() -> None:
    from assurexray.imaging.preprocess import preprocess_image

    with pytest.warns(DeprecationWarning, match="preprocess_image"):
        from assurexray.preprocess import preprocess  # type: ignore[attr-defined]
    assert preprocess is preprocess_image


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    import assurexray.explain

    with pytest.raises(AttributeError, match="no attribute"):
        assurexray.explain.NoSuchThing  # noqa: B018
