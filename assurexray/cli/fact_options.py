"""The options that give a checkpoint's facts, on every command that opens one.

``--arch``, ``--image-size``, ``--resize-mode``, ``--interpolation``, ``--mean``,
``--std`` and ``--weights-key`` fill what a checkpoint from another training
script does not record (:mod:`assurexray.models.load_options`); the config's
``model:`` section holds the same keys as fallbacks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

import typer


def _channel_values(value: str | None) -> tuple[float, ...] | None:
    """``0.5`` or ``0.485,0.456,0.406`` as three finite numbers (one is repeated)."""
    if value is None:
        return None
    try:
        numbers = tuple(float(v) for v in value.replace(" ", "").split(",") if v)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not one or three numbers, e.g. 0.5,0.5,0.5"
        ) from None
    if len(numbers) not in (1, 3):
        raise typer.BadParameter(f"{value!r}: give one value or three (one per channel)")
    if not all(math.isfinite(n) for n in numbers):
        raise typer.BadParameter(f"{value!r}: values must be finite numbers")
    return numbers * 3 if len(numbers) == 1 else numbers


def _positive_channel_values(value: str | None) -> tuple[float, ...] | None:
    """As :func:`_channel_values`, each above zero (a standard deviation divides)."""
    numbers = _channel_values(value)
    if numbers is not None and min(numbers) <= 0:
        raise typer.BadParameter(f"{value!r}: values must be positive")
    return numbers


def _one_of(*choices: str) -> Callable[[str | None], str | None]:
    def check(value: str | None) -> str | None:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return check


_FACT = "the file's, else the config's model: section"


def model_fact_options(
    arch: Annotated[
        str | None,
        typer.Option(
            "--arch",
            help="timm architecture, for a checkpoint that does not name it.",
            show_default="the file's, else the one its weights fit",
        ),
    ] = None,
    image_size: Annotated[
        int | None,
        typer.Option("--image-size", min=8, help="Input side training used.", show_default=_FACT),
    ] = None,
    resize_mode: Annotated[
        str | None,
        typer.Option(
            "--resize-mode",
            callback=_one_of("letterbox", "stretch"),
            help="letterbox (keep the aspect ratio, pad) or stretch (squash to the square).",
            show_default=_FACT,
        ),
    ] = None,
    interpolation: Annotated[
        str | None,
        typer.Option(
            "--interpolation",
            callback=_one_of("area", "linear", "cubic"),
            help="Resize filter training used: area (assurexray's), linear (OpenCV's and "
            "albumentations' default) or cubic.",
            show_default=_FACT,
        ),
    ] = None,
    mean: Annotated[
        str | None,
        typer.Option(
            "--mean",
            callback=_channel_values,
            help="Normalisation mean on [0, 1] pixels, e.g. 0.485,0.456,0.406.",
            show_default=_FACT,
        ),
    ] = None,
    std: Annotated[
        str | None,
        typer.Option(
            "--std",
            callback=_positive_channel_values,
            help="Normalisation standard deviation, e.g. 0.229,0.224,0.225.",
            show_default=_FACT,
        ),
    ] = None,
    weights_key: Annotated[
        str | None,
        typer.Option(
            "--weights-key",
            help="Entry holding the weights, e.g. state_dict_ema for timm's moving average.",
            show_default="state_dict, model_state_dict, model, net",
        ),
    ] = None,
) -> None:
    """Facts a checkpoint file may not record, taken by every command that opens one.

    Their names are those :meth:`~assurexray.engine.model_opening.ModelOptions.from_settings`
    takes; given, they win over the file (with a note where it differs).
    """
