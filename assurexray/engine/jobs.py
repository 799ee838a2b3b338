"""What every job shares: checked overrides, stream options, data-set records.

Opening a model (``ModelOptions``, ``open_model``) is :mod:`assurexray.engine.model_opening`.

A *job* (``infer``, ``gallery``, ``compare``, ``train``, ``demo``) is a module
with a frozen ``<Job>Options`` dataclass, built by
``<Job>Options.from_settings(settings, **overrides)`` (an override left at None
takes the config's value), and a ``run(...)`` function that does the work and
returns a result object. Jobs never print: they report progress through a
:data:`Progress` callback and notes through a :data:`Warn` callback, and raise
:class:`~assurexray.core.errors.AssureXrayError` for bad input. The command line
(:mod:`assurexray.cli.main`) only declares options, calls ``run`` and prints. See
``docs/architecture.md``.

Heavy imports (torch, timm) happen inside the functions, so importing this
module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from assurexray.core.deprecation import renamed_names
from assurexray.core.errors import (
    DatasetError,
)
from assurexray.imaging.reading import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from assurexray.core.config import Settings

T = TypeVar("T")
U = TypeVar("U")


def pick(override: T | None, configured: U) -> T | U:
    """The command-line ``override`` if given, else the ``configured`` value."""
    return configured if override is None else override


class Overrides(dict[str, Any]):
    """The overrides a ``from_settings`` was given, by option name.

    An override left out or at None keeps the config's value (:meth:`pick`),
    so the command line passes its options straight on.
    """

    def __init__(self, options: Callable[..., Any], given: Mapping[str, Any], known: str) -> None:
        """Keep ``given`` after checking that ``options`` knows each name in it.

        Raises:
            TypeError: a name not among the space-separated ``known`` ones (a
                misspelt override must not be dropped in silence).
        """
        unknown = sorted(set(given) - set(known.split()))
        if unknown:
            raise TypeError(f"{options.__name__} has no option {', '.join(unknown)}")
        super().__init__(given)

    def pick(self, name: str, configured: Any) -> Any:
        """The override of ``name`` if given and not None, else ``configured``."""
        return pick(self.get(name), configured)

    def only(self, *names: str) -> dict[str, Any]:
        """The overrides among ``names`` (to pass on to other options)."""
        return {name: self[name] for name in names if name in self}


@dataclass(frozen=True)
class StreamOptions:
    """How images stream through the model: where, how many at once, decoding threads."""

    device: str = "cpu"
    batch_size: int = 8
    workers: int = 2
    max_pixels: int = DEFAULT_MAX_PIXELS

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        batch_size: int | None = None,
        device: str | None = None,
        section: str = "infer",
    ) -> StreamOptions:
        """Stream options of a job; ``section`` names the config block with its batch size.

        Raises:
            ConfigError: the device is unknown or not available.
        """
        from assurexray.models.model import resolve_device

        return cls(
            device=str(resolve_device(pick(device, settings.device))),
            batch_size=pick(batch_size, getattr(settings, section).batch_size),
            workers=settings.infer.workers,
            max_pixels=settings.max_pixels,
        )

    @property
    def torch_device(self) -> torch.device:
        import torch

        return torch.device(self.device)


def load_records(data: Path) -> pd.DataFrame:
    """Index a data set (nothing is written).

    Raises:
        DatasetError: no data set at ``data``, or a broken one.
    """
    from assurexray.data.datasets import load_dataset

    if not data.exists():
        raise DatasetError(
            f"{data}: no such data set (pass --data, or run 'assurexray demo' "
            "to make the synthetic one)"
        )
    return load_dataset(data)


def split_data_set(settings: Settings, **overrides: Any) -> tuple[pd.DataFrame, Path]:
    """The ``split`` job: write a fresh stratified split of a data set (default DATA/splits.csv).

    Overrides (None keeps the config's value): ``data``, ``output`` (the split
    file), ``seed``, ``holdout_center`` (every image of that center goes to the
    test split). Returns the split index and the file written.
    """
    from assurexray.data.datasets import SPLIT_FILE, load_dataset, stratified_split, write_split

    given = Overrides(split_data_set, overrides, "data output seed holdout_center")
    data = Path(given.pick("data", settings.data))
    index = load_dataset(data)  # any existing split is replaced below
    holdout_center = given.get("holdout_center")
    center: str | int | None = holdout_center
    if holdout_center and holdout_center.isdigit():
        center = int(holdout_center)
    index = stratified_split(
        index,
        fractions=tuple(settings.train.split_fractions),
        seed=given.pick("seed", settings.seed),
        holdout_center=center,
    )
    target = given.get("output") or (data if data.is_dir() else data.parent) / SPLIT_FILE
    return index, write_split(index, target)


# Moved to core.callbacks and engine.model_opening; kept for one minor release.
__getattr__ = renamed_names(
    __name__,
    {
        "Progress": "assurexray.core.callbacks:Progress",
        "no_progress": "assurexray.core.callbacks:no_progress",
        "MODEL_FACTS": "assurexray.engine.model_opening:MODEL_FACTS",
        "ModelOptions": "assurexray.engine.model_opening:ModelOptions",
        "OpenedModel": "assurexray.engine.model_opening:OpenedModel",
        "open_model": "assurexray.engine.model_opening:open_model",
        "check_classes": "assurexray.engine.model_opening:check_classes",
    },
)
