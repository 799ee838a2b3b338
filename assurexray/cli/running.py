"""What the commands that open a model share: their overrides, and running a job on a model."""

from __future__ import annotations

from typing import Any

from assurexray.cli.terminal import progress_bars, warn


def given_options(parameters: dict[str, Any], *other: str) -> dict[str, Any]:
    """A command's options as job overrides: its ``locals()`` on entry, less ``other``.

    The parameter names are the names ``<Job>Options.from_settings`` takes (it
    rejects any other), so a new option is declared once, in the signature.
    """
    return {name: value for name, value in parameters.items() if name not in other}


def run_with_model(
    job: Any,
    options: Any,
    settings: Any,
    model_given: dict[str, Any],
    *,
    transient: bool = False,
    layer: str | None = None,
    **callbacks: Any,
) -> Any:
    """Open the checkpoint with ``open_model``, then ``job.run`` it under progress bars.

    ``model_given``: the command's model options (``--checkpoint``, ``--method``,
    ``--explain-from``, ...) and checkpoint facts (``--arch``, ...), as
    :meth:`~assurexray.engine.model_opening.ModelOptions.from_settings` takes them;
    ``layer`` replaces the configured target layer.
    """
    from dataclasses import replace

    from assurexray.engine.model_opening import ModelOptions, open_model

    model_options = ModelOptions.from_settings(settings, **model_given)
    if layer:
        model_options = replace(model_options, target_layers=layer)
    model = open_model(model_options, options.stream.device, warn=warn)
    with progress_bars(transient=transient) as progress:
        return job.run(model, options, progress=progress, **callbacks)
