"""The job pattern: ``<Job>Options.from_settings(settings, **overrides)``."""

from __future__ import annotations

from pathlib import Path

import pytest

from assurexray.audit.job import AuditOptions
from assurexray.core.config import load_settings
from assurexray.inference.gallery import GalleryOptions
from assurexray.localisation.compare import CompareOptions
from assurexray.training.train import TrainOptions


def test_an_override_at_none_keeps_the_config_value() -> None:
    settings = load_settings(None)
    assert GalleryOptions.from_settings(settings, k=None).k == settings.gallery.k
    options = GalleryOptions.from_settings(settings, k=2, output=Path("x"), device="cpu")
    assert (options.k, options.output, options.stream.device) == (2, Path("x"), "cpu")
    assert TrainOptions.from_settings(settings, lr=None).lr == settings.train.lr


def test_a_misspelt_override_is_an_error() -> None:
    settings = load_settings(None)
    with pytest.raises(TypeError, match="GalleryOptions has no option splt"):
        GalleryOptions.from_settings(settings, splt="val")
    with pytest.raises(TypeError, match="AuditOptions has no option layer"):
        AuditOptions.from_settings(settings, layer=["bn2"])


def test_audit_takes_its_own_per_class_unless_given() -> None:
    settings = load_settings(None)
    assert settings.audit.per_class != settings.compare.per_class  # else this proves nothing
    audit = AuditOptions.from_settings(settings, per_class=None, data=Path("d"))
    assert audit.choice.per_class == settings.audit.per_class
    assert audit.choice.data == Path("d")
    assert audit.output == Path(settings.audit.output)  # not passed on as compare's output
    assert AuditOptions.from_settings(settings, per_class=3).choice.per_class == 3
    assert AuditOptions.from_settings(settings, all_images=True).choice.per_class is None
    compare = CompareOptions.from_settings(settings, per_class=None)
    assert compare.choice.per_class == settings.compare.per_class
