"""Renamed public names keep working for one minor release, with a ``DeprecationWarning``.

A module whose public name was renamed or moved defines::

    __getattr__ = renamed_names(__name__, {
        "preprocess": "assurexray.imaging.preprocess:preprocess_image",
    })

so ``from <module> import preprocess`` still gives the object at its new place,
and warns with the new name. Module paths that moved are handled by
:mod:`assurexray._moved`; this is the same for names inside modules.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any

REMOVAL = "the old name goes in the next minor release"


def renamed_names(module: str, renamed: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` that resolves old names with a warning.

    Args:
        module: The module's ``__name__``.
        renamed: Old name → ``"new.module:new_name"``.

    Returns:
        The ``__getattr__`` function; any other name raises AttributeError as usual.
    """

    def __getattr__(name: str) -> Any:
        target = renamed.get(name)
        if target is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        where, _, new = target.partition(":")
        new_path = new if where == module else f"{where}.{new}"
        warnings.warn(
            f"{module}.{name} is now {new_path}; {REMOVAL}", DeprecationWarning, stacklevel=2
        )
        return getattr(importlib.import_module(where), new)

    return __getattr__
