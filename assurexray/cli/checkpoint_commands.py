"""The ``inspect`` and ``convert`` commands: explain a checkpoint, or make a native copy.

Registered on the app in :mod:`assurexray.cli.main`; the work is in
:mod:`assurexray.models.convert`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from assurexray.cli import options as opt
from assurexray.cli.checkpoint_printers import print_converted, print_inspection
from assurexray.cli.fact_options import model_fact_options
from assurexray.cli.terminal import user_errors, warn
from assurexray.core.config import load_settings

CheckpointArgument = Annotated[
    Path, typer.Argument(help="Checkpoint file (.pt, .pth, .ckpt, .safetensors).")
]
ConvertedOption = Annotated[
    Path, typer.Option("--output", "-o", help="Native checkpoint to write.", show_default=False)
]


@opt.with_options(model_fact_options, into="facts")
def inspect_command(
    checkpoint: CheckpointArgument, facts: dict[str, Any], config: opt.ConfigOption = None
) -> None:
    """Show what a checkpoint holds, what was found where, and what had to be assumed.

    Prints the file's entries, each fact (architecture, classes, image size,
    resize, interpolation, mean, std) with its source, the parameter count and
    the SHA-256. Exit code 0 when the file loads, 2 when it does not (one line why).

    Examples:

      assurexray inspect best.pt

      assurexray inspect lightning.ckpt --image-size 380 --resize-mode stretch
    """
    with user_errors():
        from assurexray.engine.model_opening import ModelOptions
        from assurexray.models.convert import inspect_checkpoint

        settings = load_settings(config)
        options = ModelOptions.from_settings(settings, checkpoint=checkpoint, **facts)
        found = inspect_checkpoint(checkpoint, options.load)
    print_inspection(found)


@opt.with_options(model_fact_options, into="facts")
def convert_command(
    checkpoint: CheckpointArgument,
    output: ConvertedOption,
    facts: dict[str, Any],
    config: opt.ConfigOption = None,
) -> None:
    """Write a foreign checkpoint as a native one that records every fact.

    Later commands then need no --arch, --image-size, ... flags. The new file
    keeps where each fact came from (its 'origin' entry).

    Example: assurexray convert btxrd_best.pth -o best.pt --image-size 380
    --resize-mode stretch --interpolation linear
    """
    with user_errors():
        from assurexray.engine.model_opening import ModelOptions
        from assurexray.models.convert import convert_checkpoint

        settings = load_settings(config)
        options = ModelOptions.from_settings(settings, checkpoint=checkpoint, **facts)
        found, written = convert_checkpoint(checkpoint, output, options.load)
    for note in found.checkpoint.warnings:
        warn(note)
    print_converted(found, written)
