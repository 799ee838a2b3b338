"""The ``assurexray`` command line: option declarations, job calls, rich output.

Every command builds its job's options with ``<Job>Options.from_settings``
(an option left out takes the config's value), calls the job's ``run`` and
prints what it returns; the work itself lives in the job modules (see
``docs/architecture.md``). Heavy imports (torch, timm, cv2) happen inside the
command bodies so that ``assurexray --help`` answers at once.

Exit codes: 0 success; 1 some inputs failed (the rest were processed);
2 usage error (bad option, missing file or checkpoint, bad config);
130 interrupted.
"""

from __future__ import annotations

from typing import Any

import typer

from assurexray.cli import checkpoint_commands, shortcut_command
from assurexray.cli import options as opt
from assurexray.cli.fact_options import model_fact_options
from assurexray.cli.printers import (
    print_audit,
    print_compare,
    print_demo,
    print_demo_step,
    print_epoch,
    print_gallery,
    print_infer,
    print_split,
    print_training,
    print_training_start,
)
from assurexray.cli.running import given_options, run_with_model
from assurexray.cli.terminal import exit_for, fail, progress_bars, user_errors, warn
from assurexray.core.config import load_settings

app = typer.Typer(
    cls=opt.OneLineErrors,
    name="assurexray",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
    help=(
        "Show where a bone-tumour X-ray classifier looks: predictions with Grad-CAM "
        "heatmaps, galleries of hits and misses, and scores against expert annotations.\n\n"
        "Exit codes: 0 success, 1 some inputs failed, 2 usage error, 130 interrupted."
    ),
)


app.command("inspect")(checkpoint_commands.inspect_command)
app.command("convert")(checkpoint_commands.convert_command)
app.command("shortcuts")(shortcut_command.shortcuts)


@app.callback()
def main(version: opt.VersionOption = False) -> None:
    """Show where a bone-tumour X-ray classifier looks."""


@app.command()
@opt.with_options(opt.model_options, into="model")
@opt.with_options(model_fact_options, into="facts")
def infer(
    model: dict[str, Any] = {},  # noqa: B006 - filled by with_options
    facts: dict[str, Any] = {},  # noqa: B006 - filled by with_options
    inputs: opt.InputsArgument = None,
    target_class: opt.TargetClassOption = None,
    output: opt.OutputOption = None,
    recursive: opt.RecursiveOption = False,
    batch_size: opt.BatchOption = None,
    alpha: opt.AlphaOption = None,
    no_images: opt.NoImagesOption = False,
    save_raw: opt.SaveRawOption = False,
    device: opt.DeviceOption = None,
    config: opt.ConfigOption = None,
) -> None:
    """Predict and explain one radiograph or a whole folder.

    Writes <name>_overlay.png, <name>_heatmap.png and <name>.json per image, and
    predictions.csv and batch_results.json for the run.

    Examples:

      assurexray infer scan.jpg --checkpoint best.pt

      assurexray infer radiographs/ --recursive --target-class Malignant --save-raw

      assurexray infer scan.jpg --explain-from results/audit/audit_report.json

    Exit codes: 0 all images done, 1 some images failed (the others are written),
    2 usage error (no inputs, missing checkpoint, bad option), 130 interrupted
    (the images finished so far are in predictions.csv and batch_results.json).
    """
    if not inputs:
        fail("no input images: give one or more image files or folders")
    with user_errors():
        settings = load_settings(config)
        from assurexray.inference import infer as job

        options = job.InferOptions.from_settings(
            settings,
            inputs=inputs,
            output=output,
            recursive=recursive,
            target_class=target_class,
            alpha=alpha,
            images=not no_images,
            save_raw=save_raw,
            batch_size=batch_size,
            device=device,
        )
        single = len(options.inputs) == 1
        result = run_with_model(job, options, settings, {**model, **facts}, transient=single)
    print_infer(result)
    exit_for(result)


@app.command()
def split(
    data: opt.DataOption = None,
    output: opt.SplitFileOption = None,
    holdout_center: opt.HoldoutCenterOption = None,
    seed: opt.SeedOption = None,
    config: opt.ConfigOption = None,
) -> None:
    """Write a stratified train/val/test split (image_id,split,label) of a data set.

    Example: assurexray split --data data/BTXRD --holdout-center 3
    """
    with user_errors():
        settings = load_settings(config)
        from assurexray.engine.jobs import split_data_set

        index, target = split_data_set(
            settings, data=data, output=output, seed=seed, holdout_center=holdout_center
        )
    print_split(index, target)


@app.command()
def train(
    data: opt.DataOption = None,
    output: opt.CheckpointOutputOption = None,
    arch: opt.ArchOption = None,
    image_size: opt.ImageSizeOption = None,
    epochs: opt.EpochsOption = None,
    batch_size: opt.TrainBatchOption = None,
    lr: opt.LearningRateOption = None,
    pretrained: opt.PretrainedOption = None,
    device: opt.DeviceOption = None,
    config: opt.ConfigOption = None,
) -> None:
    """Train a classifier on a data set; keep the checkpoint with the best validation macro-F1.

    Without a split file, a stratified one is written to DATA/splits.csv first.
    Ctrl-C stops training and keeps the best checkpoint written so far.

    Example: assurexray train --data data/demo --epochs 12 --output checkpoints/best.pt
    """
    given = given_options(locals(), "config")
    with user_errors():
        settings = load_settings(config)
        from assurexray.training import train as job

        options = job.TrainOptions.from_settings(settings, **given)
        with progress_bars(transient=True) as progress:
            result = job.run(
                options,
                progress=progress,
                on_start=print_training_start,
                on_epoch=print_epoch,
                warn=warn,
            )
    print_training(result, pretrained=pretrained is not None)
    exit_for(result)


@app.command()
@opt.with_options(opt.model_options, into="model")
@opt.with_options(model_fact_options, into="facts")
def gallery(
    model: dict[str, Any] = {},  # noqa: B006 - filled by with_options
    facts: dict[str, Any] = {},  # noqa: B006 - filled by with_options
    data: opt.DataOption = None,
    split: opt.SplitOption = None,
    k: opt.ExamplesOption = None,
    output: opt.OutputOption = None,
    fn_true_class: opt.FnTrueClassOption = False,
    batch_size: opt.BatchOption = None,
    device: opt.DeviceOption = None,
    config: opt.ConfigOption = None,
) -> None:
    """True positives, false positives and false negatives per class, with heatmaps.

    Writes predictions.csv, metrics.json, confusion_matrix.png and gallery_<Class>.png.

    Example: assurexray gallery --data data/demo --split test --k 3
    """
    given = given_options(locals(), "config", "model", "facts")
    with user_errors():
        settings = load_settings(config)
        from assurexray.inference import gallery as job

        options = job.GalleryOptions.from_settings(settings, **given)
        result = run_with_model(job, options, settings, {**model, **facts})
    print_gallery(result)
    exit_for(result)


@app.command()
@opt.with_options(opt.image_choice_options, into="image_choice")
@opt.with_options(opt.model_options, into="model")
@opt.with_options(model_fact_options, into="facts")
def compare(
    image_choice: dict[str, Any],
    model: dict[str, Any] = {},  # noqa: B006 - filled by with_options
    facts: dict[str, Any] = {},  # noqa: B006 - filled by with_options
    output: opt.OutputOption = None,
    batch_size: opt.BatchOption = None,
    device: opt.DeviceOption = None,
    config: opt.ConfigOption = None,
) -> None:
    """Score heatmaps against LabelMe tumour annotations (IoU, pointing game, relevance mass).

    By default scores the true positives of each tumour class, up to --per-class
    each, with the heatmap of the image's class. Writes annotation_report.json and
    annotation_comparison.png (more pages as _2, _3, ... for long lists).

    Examples:

      assurexray compare --data data/demo

      assurexray compare --images scans/ --annotations labelme/ --all --threshold 0.3
    """
    with user_errors():
        settings = load_settings(config)
        from assurexray.localisation import compare as job

        options = job.CompareOptions.from_settings(
            settings, **image_choice, output=output, batch_size=batch_size, device=device
        )
        result = run_with_model(job, options, settings, {**model, **facts}, warn=warn)
    print_compare(result)
    exit_for(result)


@app.command()
@opt.with_options(opt.image_choice_options, into="image_choice")
@opt.with_options(model_fact_options, into="facts")
def audit(
    image_choice: dict[str, Any],
    checkpoint: opt.CheckpointOption = None,
    facts: dict[str, Any] = {},  # noqa: B006 - filled by with_options
    method: opt.CandidateMethodsOption = None,
    layer: opt.CandidateLayersOption = None,
    rank_by: opt.RankByOption = None,
    check_images: opt.CheckImagesOption = None,
    output: opt.OutputOption = None,
    batch_size: opt.BatchOption = None,
    device: opt.DeviceOption = None,
    config: opt.ConfigOption = None,
) -> None:
    """Find which heatmap (method x layer) can be trusted, measured against the annotations.

    Every candidate and three baselines (centre, random, edges) are scored against
    the tumour outlines with 95 % bootstrap intervals beside the chance level, then
    checked on a subset of images: does the map change when the model's weights are
    randomised (sanity), does it mark what the model uses (ROAD faithfulness), and
    does it stay put under small perturbations (stability). Writes audit_report.json,
    audit.csv, audit_leaderboard.png and audit_methods.png, and recommends a candidate.

    Examples:

      assurexray audit --data data/demo --checkpoint best.pt

      assurexray audit --images scans/ --annotations labelme/ --all --method layercam

      assurexray audit --data data/BTXRD --layer bn2 --layer blocks.4 --layer blocks.4+bn2
    """
    with user_errors():
        settings = load_settings(config)
        from assurexray.audit import job

        options = job.AuditOptions.from_settings(
            settings,
            **image_choice,
            methods=method,
            layers=layer,
            rank_by=rank_by,
            check_images=check_images,
            output=output,
            batch_size=batch_size,
            device=device,
        )
        result = run_with_model(
            job, options, settings, {"checkpoint": checkpoint, **facts}, warn=warn
        )
    print_audit(result)
    exit_for(result)


@app.command()
def demo(
    output: opt.OutputOption = None,
    data: opt.DemoDataOption = None,
    images: opt.DemoImagesOption = None,
    epochs: opt.EpochsOption = None,
    arch: opt.ArchOption = None,
    image_size: opt.ImageSizeOption = None,
    fresh: opt.FreshOption = False,
    device: opt.DeviceOption = None,
    config: opt.ConfigOption = None,
) -> None:
    """Run the whole chain on a built-in synthetic data set (no data or internet needed).

    Generates a BTXRD-layout phantom data set, splits it, trains a checkpoint, then
    runs gallery, compare and infer on it. A second run reuses the data and checkpoint.

    Example: assurexray demo
    """
    given = given_options(locals(), "config")
    with user_errors():
        settings = load_settings(config)
        from assurexray.demo import job

        options = job.DemoOptions.from_settings(settings, **given)
        with progress_bars(transient=True) as progress:
            result = job.run(
                options,
                progress=progress,
                warn=warn,
                on_step=lambda name, done: print_demo_step(options, name, done),
                on_epoch=print_epoch,
            )
    print_demo(result)
