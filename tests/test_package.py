"""The public API: lazy exports that no module import can shadow."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import assurexray
from assurexray import _EXPORTS


def _modules() -> list[str]:
    return [m.name for m in pkgutil.iter_modules(assurexray.__path__) if m.name != "__main__"]


def test_no_public_name_is_a_module_name() -> None:
    assert not set(assurexray.__all__) & set(_modules())


def test_every_public_name_survives_importing_every_module() -> None:
    for module in _modules():
        importlib.import_module(f"assurexray.{module}")
    for name in assurexray.__all__:
        if name == "__version__":
            continue
        expected = getattr(importlib.import_module(f"assurexray.{_EXPORTS[name]}"), name)
        value = getattr(assurexray, name)
        assert value is expected, name
        assert getattr(value, "__module__", None) == f"assurexray.{_EXPORTS[name]}", name


def test_from_import_gives_the_function_not_the_module() -> None:
    import assurexray.imaging.preprocess  # noqa: F401  (the import that used to shadow the export)
    from assurexray import preprocess_image

    assert callable(preprocess_image) and preprocess_image.__name__ == "preprocess_image"


def test_one_version_source() -> None:
    lines = (Path(__file__).parents[1] / "pyproject.toml").read_text().splitlines()
    assert 'dynamic = ["version"]' in lines
    assert 'version = { attr = "assurexray.__version__" }' in lines
    assert not [line for line in lines if line.startswith('version = "')]  # no second source


def test_old_module_paths_still_import_with_a_warning_naming_the_new_one() -> None:
    import sys
    import warnings

    from assurexray._moved import MOVED

    for old, new in sorted(MOVED.items()):
        sys.modules.pop(f"assurexray.{old}", None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = importlib.import_module(f"assurexray.{old}")
        assert module is importlib.import_module(f"assurexray.{new}"), old
        assert any(f"assurexray.{new}" in str(w.message) for w in caught), old
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from assurexray.synthetic.writer import generate_dataset  # below a moved package
    assert generate_dataset is assurexray.generate_dataset


def test_console_script_entry_point_resolves() -> None:
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "assurexray"]
    from assurexray.cli.main import app

    assert script.load() is app


def test_an_old_path_leaves_the_module_its_own_spec() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = importlib.import_module("assurexray.render")
    assert old.__spec__ is not None and old.__spec__.name == "assurexray.reporting.render"
