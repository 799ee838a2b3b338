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

from pathlib import Path
from typing import Annotated, Any

import typer

from assurexray import __version__
from assurexray.cli_options import (
    AllImagesOption,
    AnnotatedSplitOption,
    AnnotationsOption,
    ArchOption,
    BatchOption,
    CandidateLayersOption,
    CandidateMethodsOption,
    CheckImagesOption,
    CheckpointOption,
    ConfigOption,
    DataOption,
    DeviceOption,
    EpochsOption,
    ImageSizeOption,
    ImagesOption,
    MethodOption,
    OneLineErrors,
    OutputOption,
    PerClassOption,
    PretrainedOption,
    RankByOption,
    SplitOption,
    ThresholdOption,
    from_config,
)
from assurexray.terminal import (
    EXIT_INTERRUPTED,
    EXIT_PARTIAL,
    console,
    fail,
    print_audit,
    print_compare,
    print_demo,
    print_demo_step,
    print_epoch,
    print_gallery,
    print_infer,
    print_split,
    print_training,
    progress_bars,
    user_errors,
    warn,
)

app = typer.Typer(
    cls=OneLineErrors,
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


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"assurexray {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Show where a bone-tumour X-ray classifier looks."""


def _settings(config: Path | None) -> Any:
    from assurexray.config import load_settings

    with user_errors():
        return load_settings(config)


def _run_with_model(
    job: Any,
    options: Any,
    settings: Any,
    checkpoint: Path | None,
    method: str | None,
    *,
    transient: bool = False,
    **callbacks: Any,
) -> Any:
    """Open the checkpoint with ``open_model``, then ``job.run`` it under progress bars."""
    from assurexray.jobs import ModelOptions, open_model

    model_options = ModelOptions.from_settings(settings, checkpoint=checkpoint, method=method)
    model = open_model(model_options, options.stream.device, warn=warn)
    with progress_bars(transient=transient) as progress:
        return job.run(model, options, progress=progress, **callbacks)


@app.command()
def infer(
    inputs: Annotated[
        list[Path] | None, typer.Argument(help="Image files and/or folders.", show_default=False)
    ] = None,
    checkpoint: CheckpointOption = None,
    method: MethodOption = None,
    target_class: Annotated[
        str | None,
        typer.Option(
            "--target-class",
            help="Class to explain, by name or index.",
            show_default="the predicted class",
        ),
    ] = None,
    output: OutputOption = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")
    ] = False,
    batch_size: BatchOption = None,
    alpha: Annotated[
        float | None,
        from_config("--alpha", min=0.0, max=1.0, help="Heatmap opacity in the overlay."),
    ] = None,
    no_images: Annotated[
        bool, typer.Option("--no-images", help="Write only JSON/CSV, no PNGs.")
    ] = False,
    save_raw: Annotated[
        bool,
        typer.Option("--save-raw", help="Also write <name>_heatmap.npy (float32, original frame)."),
    ] = False,
    device: DeviceOption = None,
    config: ConfigOption = None,
) -> None:
    """Predict and explain one radiograph or a whole folder.

    Writes <name>_overlay.png, <name>_heatmap.png and <name>.json per image, and
    predictions.csv and batch_results.json for the run.

    Examples:

      assurexray infer scan.jpg --checkpoint best.pt

      assurexray infer radiographs/ --recursive --target-class Malignant --save-raw

    Exit codes: 0 all images done, 1 some images failed (the others are written),
    2 usage error (no inputs, missing checkpoint, bad option), 130 interrupted
    (the images finished so far are in predictions.csv and batch_results.json).
    """
    if not inputs:
        fail("no input images: give one or more image files or folders")
    settings = _settings(config)
    with user_errors():
        from assurexray import infer as job

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
        result = _run_with_model(job, options, settings, checkpoint, method, transient=single)
    print_infer(result)
    if result.failures:
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def split(
    data: DataOption = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Split CSV to write.", show_default="DATA/splits.csv"),
    ] = None,
    holdout_center: Annotated[
        str | None,
        typer.Option("--holdout-center", help="Put every image of this center in the test split."),
    ] = None,
    seed: Annotated[int | None, from_config("--seed", help="Random seed.")] = None,
    config: ConfigOption = None,
) -> None:
    """Write a stratified train/val/test split (image_id,split,label) of a data set.

    Example: assurexray split --data data/BTXRD --holdout-center 3
    """
    settings = _settings(config)
    with user_errors():
        from assurexray.jobs import pick, split_data_set

        index, target = split_data_set(
            Path(pick(data, settings.data)),
            output=output,
            fractions=tuple(settings.train.split_fractions),
            seed=pick(seed, settings.seed),
            holdout_center=holdout_center,
        )
    print_split(index, target)


@app.command()
def train(
    data: DataOption = None,
    output: Annotated[
        Path | None, from_config("--output", "-o", help="Checkpoint to write.")
    ] = None,
    arch: ArchOption = None,
    image_size: ImageSizeOption = None,
    epochs: EpochsOption = None,
    batch_size: Annotated[
        int | None, from_config("--batch-size", min=2, help="Images per training step.")
    ] = None,
    lr: Annotated[
        float | None,
        from_config("--lr", min=0.0, help="Peak learning rate (AdamW, one-cycle cosine)."),
    ] = None,
    pretrained: PretrainedOption = None,
    device: DeviceOption = None,
    config: ConfigOption = None,
) -> None:
    """Train a classifier on a data set; keep the checkpoint with the best validation macro-F1.

    Without a split file, a stratified one is written to DATA/splits.csv first.
    Ctrl-C stops training and keeps the best checkpoint written so far.

    Example: assurexray train --data data/demo --epochs 12 --output checkpoints/best.pt
    """
    settings = _settings(config)
    with user_errors():
        from assurexray import train as job

        options = job.TrainOptions.from_settings(
            settings,
            data=data,
            output=output,
            arch=arch,
            image_size=image_size,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            pretrained=pretrained,
            device=device,
        )
        console.print(
            f"training {options.arch} at {options.preprocess.image_size}px on {options.device}"
        )
        with progress_bars(transient=True) as progress:
            result = job.run(options, progress=progress, on_epoch=print_epoch, warn=warn)
    print_training(result, pretrained=pretrained is not None)
    if result.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


@app.command()
def gallery(
    data: DataOption = None,
    split_name: SplitOption = None,
    checkpoint: CheckpointOption = None,
    k: Annotated[
        int | None, from_config("--k", min=1, max=5, help="Examples per row (1-5).")
    ] = None,
    method: MethodOption = None,
    output: OutputOption = None,
    fn_true_class: Annotated[
        bool,
        typer.Option(
            "--fn-true-class", help="Add a row with the true class's heatmap for false negatives."
        ),
    ] = False,
    batch_size: BatchOption = None,
    device: DeviceOption = None,
    config: ConfigOption = None,
) -> None:
    """True positives, false positives and false negatives per class, with heatmaps.

    Writes predictions.csv, metrics.json, confusion_matrix.png and gallery_<Class>.png.

    Example: assurexray gallery --data data/demo --split test --k 3
    """
    settings = _settings(config)
    with user_errors():
        from assurexray import gallery as job

        options = job.GalleryOptions.from_settings(
            settings,
            data=data,
            split=split_name,
            k=k,
            output=output,
            fn_true_class=fn_true_class,
            batch_size=batch_size,
            device=device,
        )
        result = _run_with_model(job, options, settings, checkpoint, method)
    print_gallery(result)
    if result.failures:
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def compare(
    annotations: AnnotationsOption = None,
    images: ImagesOption = None,
    data: DataOption = None,
    split_name: AnnotatedSplitOption = None,
    checkpoint: CheckpointOption = None,
    per_class: PerClassOption = None,
    all_images: AllImagesOption = False,
    threshold: ThresholdOption = None,
    method: MethodOption = None,
    output: OutputOption = None,
    batch_size: BatchOption = None,
    device: DeviceOption = None,
    config: ConfigOption = None,
) -> None:
    """Score heatmaps against LabelMe tumour annotations (IoU, pointing game, relevance mass).

    By default scores the true positives of each tumour class, up to --per-class
    each, with the heatmap of the image's class. Writes annotation_report.json and
    annotation_comparison.png (more pages as _2, _3, ... for long lists).

    Examples:

      assurexray compare --data data/demo

      assurexray compare --images scans/ --annotations labelme/ --all --threshold 0.3
    """
    settings = _settings(config)
    with user_errors():
        from assurexray import compare as job

        options = job.CompareOptions.from_settings(
            settings,
            annotations=annotations,
            images=images,
            data=data,
            split=split_name,
            per_class=per_class,
            all_images=all_images,
            thresholds=threshold,
            output=output,
            batch_size=batch_size,
            device=device,
        )
        result = _run_with_model(job, options, settings, checkpoint, method, warn=warn)
    print_compare(result)
    if result.interrupted:
        num = result.report["num_images"]
        warn(f"interrupted: the report holds the {num} images scored so far")
        raise typer.Exit(EXIT_INTERRUPTED)
    if result.failures:
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def audit(
    annotations: AnnotationsOption = None,
    images: ImagesOption = None,
    data: DataOption = None,
    split_name: AnnotatedSplitOption = None,
    checkpoint: CheckpointOption = None,
    per_class: PerClassOption = None,
    all_images: AllImagesOption = False,
    threshold: ThresholdOption = None,
    method: CandidateMethodsOption = None,
    layer: CandidateLayersOption = None,
    rank_by: RankByOption = None,
    check_images: CheckImagesOption = None,
    output: OutputOption = None,
    batch_size: BatchOption = None,
    device: DeviceOption = None,
    config: ConfigOption = None,
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
    settings = _settings(config)
    with user_errors():
        from assurexray import audit as job

        options = job.AuditOptions.from_settings(
            settings,
            methods=method,
            layers=layer,
            rank_by=rank_by,
            check_images=check_images,
            output=output,
            annotations=annotations,
            images=images,
            data=data,
            split=split_name,
            per_class=per_class,
            all_images=all_images,
            thresholds=threshold,
            batch_size=batch_size,
            device=device,
        )
        result = _run_with_model(job, options, settings, checkpoint, None, warn=warn)
    print_audit(result)
    if result.failures:
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def demo(
    output: OutputOption = None,
    data: Annotated[
        Path | None, from_config("--data", help="Where the synthetic data set goes.")
    ] = None,
    images: Annotated[
        int | None, from_config("--images", min=12, help="Synthetic images to generate.")
    ] = None,
    epochs: EpochsOption = None,
    arch: ArchOption = None,
    image_size: ImageSizeOption = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Retrain even if a checkpoint exists.")
    ] = False,
    device: DeviceOption = None,
    config: ConfigOption = None,
) -> None:
    """Run the whole chain on a built-in synthetic data set (no data or internet needed).

    Generates a BTXRD-layout phantom data set, splits it, trains a checkpoint, then
    runs gallery, compare and infer on it. A second run reuses the data and checkpoint.

    Example: assurexray demo
    """
    settings = _settings(config)
    with user_errors():
        from assurexray import demo as job

        options = job.DemoOptions.from_settings(
            settings,
            output=output,
            data=data,
            images=images,
            epochs=epochs,
            arch=arch,
            image_size=image_size,
            fresh=fresh,
            device=device,
        )
        with progress_bars(transient=True) as progress:
            result = job.run(
                options,
                progress=progress,
                warn=warn,
                on_step=lambda name, done: print_demo_step(options, name, done),
                on_epoch=print_epoch,
            )
    print_demo(result)
