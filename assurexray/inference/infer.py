"""The ``infer`` job: explain image files and write one result set per image.

:func:`run` with :class:`InferOptions` is the job; the batched model work is
in :mod:`assurexray.engine.streaming`.

Per image: ``<name>_overlay.png``, ``<name>_heatmap.png``, ``<name>.json`` (and
``<name>_heatmap.npy`` on request), written by :mod:`assurexray.inference.infer_files`
in background threads (:mod:`assurexray.engine.file_writers`). For a run: ``predictions.csv`` and
``batch_results.json``, written even when the run is interrupted, so nothing
already computed is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from assurexray.core.callbacks import Progress, Warn, no_progress, no_warn
from assurexray.core.errors import AssureXrayError
from assurexray.core.files import check_output_folder
from assurexray.core.naming import printable
from assurexray.engine.file_writers import (
    BackgroundWriter,
    WriteInterrupted,
    WriterPlan,
    plan_writers,
    usable_cores,
)
from assurexray.engine.jobs import StreamOptions, pick
from assurexray.engine.model_opening import OpenedModel
from assurexray.engine.streaming import ExplainedImage, LoadFailure, explain_batches
from assurexray.inference.infer_files import RenderOptions, write_image_result
from assurexray.inference.infer_inputs import collect_inputs, output_names
from assurexray.inference.infer_run import InferRun

if TYPE_CHECKING:
    from assurexray.core.config import Settings


@dataclass(frozen=True)
class InferOptions:
    """What the ``infer`` job explains, and how it writes the results."""

    inputs: tuple[Path, ...]
    output: Path = Path("results/inference")
    recursive: bool = False
    target_class: str | None = None
    render: RenderOptions = field(default_factory=RenderOptions)
    stream: StreamOptions = field(default_factory=StreamOptions)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        inputs: Sequence[Path],
        output: Path | None = None,
        recursive: bool = False,
        target_class: str | None = None,
        alpha: float | None = None,
        images: bool = True,
        save_raw: bool = False,
        batch_size: int | None = None,
        device: str | None = None,
    ) -> InferOptions:
        """Options from the config; arguments left at None (or False) keep its values.

        Folders among ``inputs`` are expanded here, so a bad input fails before
        a model is loaded.
        """
        recursive = recursive or settings.infer.recursive
        files = collect_inputs(inputs, recursive=recursive).files if inputs else []
        return cls(
            inputs=tuple(files),
            output=Path(pick(output, settings.infer.output)),
            recursive=recursive,
            target_class=target_class,
            render=RenderOptions(
                alpha=pick(alpha, settings.explain.alpha),
                colormap=settings.explain.colormap,
                images=images,
                save_raw=save_raw,
            ),
            stream=StreamOptions.from_settings(settings, batch_size=batch_size, device=device),
        )


def add_record(run: InferRun, record: dict[str, Any]) -> None:
    """Add a written image's record to the run's results and CSV rows."""
    run.results.append(record)
    run.rows.append(
        {
            "image": record["image_path"],
            "predicted_class": record["predicted_class"],
            "confidence": record["confidence"],
            **{f"p_{k}": v for k, v in record["probabilities"].items()},
            "error": "",
        }
    )


def record_failure(run: InferRun, failure: LoadFailure) -> None:
    error = printable(failure.error)
    run.failures.append({"image_path": printable(failure.path), "error": error})
    run.rows.append({"image": printable(failure.path), "error": error})


def process(
    batches: Iterator[list[ExplainedImage | LoadFailure]],
    names: dict[Path, str],
    run: InferRun,
    *,
    method: str,
    target_layers: Sequence[str],
    render: RenderOptions,
    writers: WriterPlan | None = None,
    on_item: Callable[[ExplainedImage | LoadFailure], None] | None = None,
) -> InferRun:
    """Consume batches of explained images, writing each image's files; batch files at the end.

    Each image's files are written by ``writers``
    (:func:`assurexray.engine.file_writers.plan_writers`):
    beside the model as it works on the next batch, or in turns with it,
    every batch written before the next forward pass. Results are recorded
    in input order. The batch
    files are written in a ``finally`` block, after every queued image is
    written (or recorded as failed), so an interrupted or failing run still
    records every image finished before it stopped; a run stopped before its
    first image writes none.
    """
    check_output_folder(run.output)  # an unwritable folder fails before any work

    def write(item: ExplainedImage | LoadFailure) -> dict[str, Any] | LoadFailure:
        if isinstance(item, LoadFailure):
            return item
        return write_image_result(
            item,
            names[item.image.path],
            run,
            method=method,
            target_layers=target_layers,
            render=render,
        )

    def record(item: ExplainedImage | LoadFailure, outcome: Any) -> None:
        if isinstance(outcome, dict):
            add_record(run, outcome)
        elif isinstance(outcome, LoadFailure):
            record_failure(run, outcome)
            item = outcome
        elif isinstance(outcome, OSError | AssureXrayError | WriteInterrupted):
            path = item.image.path if isinstance(item, ExplainedImage) else item.path
            reason = getattr(outcome, "strerror", None) or outcome
            item = LoadFailure(path, f"{path}: cannot write results ({reason})")
            record_failure(run, item)
        else:  # a bug, not bad input: stop (after the batch files are written)
            raise outcome
        if on_item:
            on_item(item)

    writers = writers or WriterPlan(threads=1, take_turns=False)
    writer: BackgroundWriter[ExplainedImage | LoadFailure, Any] = BackgroundWriter(
        write, threads=writers.threads
    )
    try:
        for batch in batches:
            for item in batch:
                for done, outcome in writer.submit(item):
                    record(done, outcome)
            if writers.take_turns:
                for done, outcome in writer.drain():
                    record(done, outcome)
    finally:
        for done, outcome in writer.finish():
            record(done, outcome)
        if run.results or run.failures:
            run.write_batch_files()
            if run.report_facts is not None:
                run.write_report(render.colormap)
    if writer.interrupted:
        raise KeyboardInterrupt
    return run


def run(
    model: OpenedModel,
    options: InferOptions,
    *,
    progress: Progress = no_progress,
    warn: Warn = no_warn,
) -> InferRun:
    """The ``infer`` job: explain every input image and write its files.

    Files that cannot be read are recorded in the returned run's ``failures``
    and the others go on. ``predictions.csv`` and ``batch_results.json`` are
    written even when the run is interrupted (Ctrl-C propagates afterwards).

    Raises:
        AssureXrayError: no inputs found, or an unknown ``target_class``.
    """
    found = collect_inputs(options.inputs, recursive=options.recursive)
    explainer = model.explainer
    target = explainer.class_index(options.target_class) if options.target_class else None
    check_output_folder(options.output)  # before any image; after the usage checks
    result = InferRun(
        output=options.output, class_names=model.class_names, checkpoint=model.describe()
    )
    if len(found.files) > 1:  # report.html for a run of several images
        from assurexray.reporting.html_report import job_facts

        explained = options.target_class or "the predicted one"
        result.report_facts = job_facts(model, **{"explained class": explained})
    batches = explain_batches(
        found.files,
        explainer,
        model.preprocess,
        options.stream,
        targets=[target] * len(found.files) if target is not None else None,
        display_side=options.render.max_side if options.render.images else 0,
    )
    total = len(found.files)
    done = 0
    progress("explain", done, total)

    def advance(_: ExplainedImage | LoadFailure) -> None:
        nonlocal done
        done += 1
        progress("explain", done, total)

    device = options.stream.torch_device
    writers = plan_writers(
        on_cpu=device.type == "cpu", model_threads=torch.get_num_threads(), cores=usable_cores()
    )
    return process(
        batches,
        output_names(found.files, options.output),
        result,
        method=explainer.method,
        target_layers=explainer.target_layer_names,
        render=options.render,
        writers=writers,
        on_item=advance,
    )
