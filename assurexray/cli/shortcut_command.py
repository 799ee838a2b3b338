"""The ``shortcuts`` command: is the model right for the wrong reasons?

Registered on the app in :mod:`assurexray.cli.main`; the work is in
:mod:`assurexray.shortcuts.job`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from assurexray.cli import options as opt
from assurexray.cli.fact_options import model_fact_options
from assurexray.cli.running import run_with_model
from assurexray.cli.shortcut_printers import print_shortcuts
from assurexray.cli.terminal import exit_for, user_errors, warn
from assurexray.core.config import load_settings

ShortcutSplitOption = Annotated[
    str | None,
    opt.from_config("--split", help="Split of --data to analyse (train, val, test, all)."),
]
LayerOption = Annotated[
    str | None,
    typer.Option(
        "--layer",
        help="Target layer(s) of the heatmap, dotted names separated by commas.",
        show_default="the checkpoint's, else auto",
    ),
]
ArtefactLabelOption = Annotated[
    list[str] | None,
    typer.Option(
        "--artefact-label",
        help="LabelMe label of an artefact outline (repeatable); replaces detection for "
        "images that have one. A tumour outline is never an artefact.",
        show_default="none: artefacts are detected",
    ),
]


@opt.with_options(opt.model_options, into="model")
@opt.with_options(model_fact_options, into="facts")
def shortcuts(
    data: opt.DataOption = None,
    images: opt.ImagesOption = None,
    annotations: opt.AnnotationsOption = None,
    split: ShortcutSplitOption = None,
    model: dict[str, Any] = {},  # noqa: B006 - filled by with_options
    facts: dict[str, Any] = {},  # noqa: B006 - filled by with_options
    layer: LayerOption = None,
    artefact_label: ArtefactLabelOption = None,
    output: opt.OutputOption = None,
    batch_size: opt.BatchOption = None,
    device: opt.DeviceOption = None,
    config: opt.ConfigOption = None,
) -> None:
    """Does the model read the film's markers or the hospital instead of the bone?

    Finds burned-in markers, text and rulers (label-free, or your LabelMe outlines),
    measures how much of each heatmap falls on them, off the anatomy and on the border
    against a permutation null, inpaints them and re-predicts against a control
    inpainting, clusters the heatmaps into strategies (SpRAy), and, with metadata,
    compares subgroups and probes whether the features encode the hospital. Flags only
    what a test shows at the configured level. Writes shortcuts_report.json,
    shortcuts.csv, three PNGs and report.html (open it in a browser).

    Examples:

      assurexray shortcuts --data data/BTXRD --checkpoint best.pt

      assurexray shortcuts --images films/ --annotations labelme/ --artefact-label marker
    """
    with user_errors():
        settings = load_settings(config)
        from assurexray.shortcuts import job

        options = job.ShortcutsOptions.from_settings(
            settings,
            data=data,
            images=images,
            annotations=annotations,
            split=split,
            output=output,
            artefact_labels=artefact_label,
            batch_size=batch_size,
            device=device,
        )
        model_given = {**model, **facts}
        result = run_with_model(job, options, settings, model_given, layer=layer, warn=warn)
    print_shortcuts(result)
    exit_for(result)
