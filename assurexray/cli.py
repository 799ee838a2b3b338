"""The ``assurexray`` command line: options in, library calls, rich output.

No maths here. Heavy imports (torch, timm, cv2) happen inside the command
bodies so that ``assurexray --help`` answers at once.

Exit codes: 0 success; 1 some inputs failed (the rest were processed);
2 usage error (bad option, missing file or checkpoint, bad config);
130 interrupted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from assurexray import __version__
from assurexray.errors import AssureXrayError

EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

app = typer.Typer(
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
console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML settings file (default: configs/default.yaml if present)."
    ),
]
CheckpointOption = Annotated[
    Path | None,
    typer.Option("--checkpoint", help="Model checkpoint (.pt) (default: from the config)."),
]
MethodOption = Annotated[
    str | None,
    typer.Option(
        "--method",
        help="Heatmap method: gradcam, gradcam++, hirescam, xgradcam, layercam, "
        "eigencam, scorecam, rollout (ViT) (default: from the config).",
    ),
]
DeviceOption = Annotated[
    str | None,
    typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps (default: from the config)."),
]


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print one red line on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/bold red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    """Print one yellow line on stderr."""
    err_console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the package's errors and Ctrl-C into one line and an exit code."""
    try:
        yield
    except AssureXrayError as exc:
        fail(str(exc))
    except OSError as exc:  # e.g. an output folder that cannot be written
        where = exc.filename or "file system"
        fail(f"{where}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)


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


def _settings(config: Path | None):
    from assurexray.config import load_settings

    with user_errors():
        return load_settings(config)


def progress_bar(*, transient: bool = False):
    """A rich progress bar with count, rate and time left, on stderr."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
    )


def open_checkpoint(path: Path, settings, device):
    """Load a checkpoint, filling facts it lacks from the settings, with warnings."""
    import warnings

    from assurexray.model import load_checkpoint
    from assurexray.preprocess import PreprocessConfig

    if not path.exists():
        from assurexray.errors import CheckpointError

        raise CheckpointError(
            f"{path}: checkpoint file not found (pass --checkpoint, or run "
            "'assurexray demo' to train one)"
        )
    fallback = PreprocessConfig(
        image_size=settings.model.image_size,
        resize_mode=settings.model.resize_mode,
        clahe=settings.model.clahe,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checkpoint = load_checkpoint(
            path,
            arch=settings.model.arch,
            class_names=tuple(settings.class_names),
            preprocess=fallback,
            device=device,
        )
    for note in checkpoint.warnings:
        warn(note)
    return checkpoint


def make_explainer(checkpoint, settings, method: str | None, device):
    """An Explainer for the checkpoint's model with the configured method and layers."""
    from assurexray.explain import Explainer

    layers = settings.explain.target_layer
    if layers == "auto" and checkpoint.target_layer:
        layers = checkpoint.target_layer  # the layer recorded when the checkpoint was saved
    spec = "auto" if layers == "auto" else [s.strip() for s in layers.split(",") if s.strip()]
    return Explainer(
        checkpoint.model,
        method=method or settings.explain.method,
        target_layers=spec,
        aggregation=settings.explain.aggregation,
        fast_path=settings.explain.fast_path,
        class_names=checkpoint.class_names,
        device=device,
    )


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
            help="Class to explain, by name or index (default: the predicted class).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output folder (default: results/inference)."),
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")
    ] = False,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Images per forward pass.")
    ] = None,
    alpha: Annotated[
        float | None,
        typer.Option("--alpha", min=0.0, max=1.0, help="Heatmap opacity in the overlay."),
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
    2 usage error (no inputs, missing checkpoint, bad option).
    """
    if not inputs:
        fail("no input images: give one or more image files or folders")
    settings = _settings(config)
    with user_errors():
        from assurexray.infer import (
            InferRun,
            RenderOptions,
            collect_inputs,
            output_names,
            process,
        )
        from assurexray.inference import explain_paths
        from assurexray.model import file_sha256, resolve_device

        found = collect_inputs(inputs, recursive=recursive or settings.infer.recursive)
        torch_device = resolve_device(device or settings.device)
        ckpt_path = checkpoint or Path(settings.checkpoint)
        model = open_checkpoint(ckpt_path, settings, torch_device)
        explainer = make_explainer(model, settings, method, torch_device)
        target = explainer.class_index(target_class) if target_class else None
        out_dir = output or Path(settings.infer.output)
        run = InferRun(
            output=out_dir,
            class_names=model.class_names,
            checkpoint={
                "path": str(ckpt_path),
                "sha256": file_sha256(ckpt_path),
                "arch": model.arch,
            },
        )
        items = explain_paths(
            found.files,
            explainer,
            model.preprocess,
            device=torch_device,
            targets=[target] * len(found.files) if target is not None else None,
            batch_size=batch_size or settings.infer.batch_size,
            workers=settings.infer.workers,
            max_pixels=settings.max_pixels,
        )
        render = RenderOptions(
            alpha=settings.explain.alpha if alpha is None else alpha,
            colormap=settings.explain.colormap,
            images=not no_images,
            save_raw=save_raw,
        )
        single = len(found.files) == 1
        with progress_bar(transient=single) as bar:
            task = bar.add_task("Explaining", total=len(found.files))

            def advance(item) -> None:
                from assurexray.inference import LoadFailure

                if isinstance(item, LoadFailure):
                    bar.console.print(f"[red]failed:[/red] {escape(item.error)}", soft_wrap=True)
                bar.advance(task)

            process(
                items,
                output_names(found.files),
                run,
                method=explainer.method,
                target_layers=explainer.target_layer_names,
                render=render,
                on_item=advance,
            )
    _print_infer_summary(run)
    if run.failures:
        raise typer.Exit(EXIT_PARTIAL)


def _print_infer_summary(run) -> None:
    from rich.table import Table

    if len(run.results) == 1 and not run.failures:
        result = run.results[0]
        table = Table(title=escape(Path(result["image_path"]).name))
        table.add_column("class")
        table.add_column("probability", justify="right")
        for name, p in result["probabilities"].items():
            style = "bold green" if name == result["predicted_class"] else ""
            table.add_row(name, f"{p:.1%}", style=style)
        console.print(table)
        console.print(f"explained class: {result['explained_class']} ({result['method']})")
        for kind, path in result["outputs"].items():
            console.print(f"  {kind}: {escape(path)}")
        return
    summary = run.summary()
    table = Table(title="Predictions")
    table.add_column("class")
    table.add_column("images", justify="right")
    for name, count in summary["counts_per_class"].items():
        table.add_row(name, str(count))
    table.add_row("[red]failed[/red]", str(summary["num_failed"]))
    console.print(table)
    console.print(
        f"written: {escape(str(run.output / 'predictions.csv'))}, "
        f"{escape(str(run.output / 'batch_results.json'))}"
    )


DataOption = Annotated[
    Path | None,
    typer.Option("--data", "-d", help="Data set folder or split CSV (default: from the config)."),
]


def load_split_index(data: Path, settings, *, create: bool):
    """Index a data set; with ``create``, write ``splits.csv`` if it has no split yet."""
    from assurexray.datasets import SPLIT_FILE, load_dataset, stratified_split, write_split
    from assurexray.errors import DatasetError

    if not data.exists():
        raise DatasetError(
            f"{data}: no such data set (pass --data, or run 'assurexray demo' "
            "to make the synthetic one)"
        )
    index = load_dataset(data)
    if index["split"].isna().all() and create:
        index = stratified_split(
            index, fractions=settings.train.split_fractions, seed=settings.seed
        )
        target = (data if data.is_dir() else data.parent) / SPLIT_FILE
        write_split(index, target)
        console.print(f"no split found: wrote a stratified split to {escape(str(target))}")
    return index


@app.command()
def split(
    data: DataOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Split CSV (default: DATA/splits.csv).")
    ] = None,
    holdout_center: Annotated[
        str | None,
        typer.Option("--holdout-center", help="Put every image of this center in the test split."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (default: from the config).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write a stratified train/val/test split (image_id,split,label) of a data set.

    Example: assurexray split --data data/BTXRD --holdout-center 3
    """
    from rich.table import Table

    settings = _settings(config)
    with user_errors():
        from assurexray.datasets import SPLIT_FILE, load_dataset, stratified_split, write_split

        root = data or Path(settings.data)
        index = load_dataset(root)  # any existing split is replaced below
        center = (
            int(holdout_center) if holdout_center and holdout_center.isdigit() else holdout_center
        )
        index = stratified_split(
            index,
            fractions=settings.train.split_fractions,
            seed=settings.seed if seed is None else seed,
            holdout_center=center,
        )
        target = output or (root if root.is_dir() else root.parent) / SPLIT_FILE
        write_split(index, target)
    table = Table(title=f"Split written to {escape(str(target))}")
    table.add_column("label")
    for name in ("train", "val", "test"):
        table.add_column(name, justify="right")
    counts = index.groupby(["label", "split"]).size()
    for label in sorted(index["label"].unique()):
        table.add_row(label, *(str(counts.get((label, s), 0)) for s in ("train", "val", "test")))
    console.print(table)


@app.command()
def train(
    data: DataOption = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Checkpoint to write (default: checkpoints/best.pt)."),
    ] = None,
    arch: Annotated[
        str | None, typer.Option("--arch", help="timm architecture (default: efficientnet_b0).")
    ] = None,
    image_size: Annotated[
        int | None, typer.Option("--image-size", min=16, help="Network input side in pixels.")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", min=1, help="Maximum number of epochs.")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=2, help="Images per training step.")
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option("--lr", min=0.0, help="Peak learning rate (AdamW, one-cycle cosine)."),
    ] = None,
    pretrained: Annotated[
        str | None,
        typer.Option(
            "--pretrained",
            help="Weights to start from: 'imagenet' or a timm tag such as 'ra_in1k' (timm's "
            "weights, from the Hugging Face cache or downloaded when online), or a weights file.",
        ),
    ] = None,
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
        result = run_training(
            data or Path(settings.data),
            settings,
            output=output or Path(settings.train.output),
            arch=arch,
            image_size=image_size,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            pretrained=pretrained,
            device=device,
        )
    if result.interrupted:
        kept = (
            f"best checkpoint so far: {result.checkpoint}"
            if result.best_epoch
            else "no checkpoint saved"
        )
        warn(f"interrupted; {kept}")
        raise typer.Exit(EXIT_INTERRUPTED)


def run_training(
    data: Path,
    settings,
    *,
    output: Path,
    arch=None,
    image_size=None,
    resize_mode=None,
    epochs=None,
    batch_size=None,
    lr=None,
    pretrained=None,
    device=None,
):
    """Index, split if needed, train with a live table, and print the test result."""
    from rich.table import Table

    from assurexray.model import resolve_device
    from assurexray.preprocess import PreprocessConfig
    from assurexray.train import TrainOptions, train_model

    index = load_split_index(data, settings, create=True)
    options = TrainOptions(
        output=output,
        class_names=tuple(settings.class_names),
        arch=arch or settings.model.arch,
        preprocess=PreprocessConfig(
            image_size=image_size or settings.model.image_size,
            resize_mode=resize_mode or settings.model.resize_mode,
            clahe=settings.model.clahe,
        ),
        epochs=epochs or settings.train.epochs,
        batch_size=batch_size or settings.train.batch_size,
        lr=lr or settings.train.lr,
        weight_decay=settings.train.weight_decay,
        patience=settings.train.patience,
        seed=settings.seed,
        device=str(resolve_device(device or settings.device)),
        workers=settings.train.workers,
        pretrained=pretrained,
        max_pixels=settings.max_pixels,
    )
    counts = index.groupby("split").size().to_dict()
    console.print(
        f"training {options.arch} at {options.preprocess.image_size}px on "
        f"{options.device}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    )
    with progress_bar(transient=True) as bar:
        tasks: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            label = "Preparing images" if stage == "prepare" else "Training"
            if stage not in tasks:
                tasks[stage] = bar.add_task(label, total=total)
            elif done == 1:  # a new epoch starts the bar again
                bar.reset(tasks[stage], total=total)
            bar.update(tasks[stage], completed=done, total=total)

        def on_epoch(entry) -> None:
            mark = "  [green]best, saved[/green]" if entry.improved else ""
            bar.console.print(
                f"epoch {entry.epoch:3d}  train loss {entry.train_loss:.3f}  val loss "
                f"{entry.val_loss:.3f}  val acc {entry.val_accuracy:.1%}  val macro-F1 "
                f"{entry.val_macro_f1:.3f}  ({entry.seconds:.0f}s){mark}"
            )

        result = train_model(index, options, on_epoch=on_epoch, progress=on_progress)
    if pretrained:
        console.print(
            f"--pretrained left {len(result.not_pretrained)} tensors at their fresh "
            f"values: {escape(', '.join(result.not_pretrained[:4]))}"
        )
    console.print(f"best epoch {result.best_epoch}; checkpoint: {escape(str(result.checkpoint))}")
    if result.test_metrics:
        table = Table(title="Test split (best checkpoint)")
        for column in ("accuracy", "macro-F1", "macro ROC AUC"):
            table.add_column(column, justify="right")
        auc = result.test_metrics.get("macro_roc_auc")
        table.add_row(
            f"{result.test_metrics['accuracy']:.1%}",
            f"{result.test_metrics['macro_f1']:.3f}",
            "n/a" if auc is None else f"{auc:.3f}",
        )
        console.print(table)
    return result


def _stage_progress(bar):
    """A ``progress(stage, done, total)`` callback that shows one bar per stage."""
    labels = {"predict": "Predicting", "explain": "Explaining", "compare": "Scoring"}
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return update


def _check_classes(checkpoint, index) -> None:
    from assurexray.errors import DatasetError

    unknown = sorted(set(index["label"].dropna()) - set(checkpoint.class_names))
    if unknown:
        raise DatasetError(
            f"the data set has classes {unknown} that the checkpoint {checkpoint.path} does not "
            f"know (it has {', '.join(checkpoint.class_names)})"
        )


@app.command()
def gallery(
    data: DataOption = None,
    split_name: Annotated[
        str | None, typer.Option("--split", help="Split to run on (default: test).")
    ] = None,
    checkpoint: CheckpointOption = None,
    k: Annotated[
        int | None, typer.Option("--k", min=1, max=5, help="Examples per row (1-5) (default: 3).")
    ] = None,
    method: MethodOption = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output folder (default: results/gradcam)."),
    ] = None,
    fn_true_class: Annotated[
        bool,
        typer.Option(
            "--fn-true-class", help="Add a row with the true class's heatmap for false negatives."
        ),
    ] = False,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Images per forward pass.")
    ] = None,
    device: DeviceOption = None,
    config: ConfigOption = None,
) -> None:
    """True positives, false positives and false negatives per class, with heatmaps.

    Writes predictions.csv, metrics.json, confusion_matrix.png and gallery_<Class>.png.

    Example: assurexray gallery --data data/demo --split test --k 3
    """
    settings = _settings(config)
    with user_errors():
        from rich.table import Table

        from assurexray.datasets import select_split
        from assurexray.gallery import run_gallery
        from assurexray.model import resolve_device

        index = load_split_index(data or Path(settings.data), settings, create=False)
        records = select_split(index, split_name or settings.gallery.split)
        torch_device = resolve_device(device or settings.device)
        model = open_checkpoint(checkpoint or Path(settings.checkpoint), settings, torch_device)
        _check_classes(model, records)
        explainer = make_explainer(model, settings, method, torch_device)
        out_dir = output or Path(settings.gallery.output)
        with progress_bar() as bar:
            result = run_gallery(
                records,
                model,
                explainer,
                output=out_dir,
                k=k or settings.gallery.k,
                device=torch_device,
                batch_size=batch_size or settings.gallery.batch_size,
                workers=settings.infer.workers,
                max_pixels=settings.max_pixels,
                alpha=settings.explain.alpha,
                colormap=settings.explain.colormap,
                show_fn_true=fn_true_class,
                progress=_stage_progress(bar),
            )
    for failure in result.failures:
        err_console.print(f"[red]failed:[/red] {escape(failure.error)}", soft_wrap=True)
    if result.metrics:
        table = Table(
            title=f"{len(result.predictions)} images, accuracy {result.metrics['accuracy']:.1%}, "
            f"macro-F1 {result.metrics['macro_f1']:.3f}"
        )
        for column in ("class", "support", "precision", "recall", "F1"):
            table.add_column(column, justify="right" if column != "class" else "left")
        for name, row in result.metrics["per_class"].items():
            table.add_row(
                name,
                str(row["support"]),
                f"{row['precision']:.2f}",
                f"{row['recall']:.2f}",
                f"{row['f1']:.2f}",
            )
        console.print(table)
    for path in result.files.values():
        console.print(f"  {escape(str(path))}")
    if result.failures:
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def compare(
    annotations: Annotated[
        Path | None,
        typer.Option(
            "--annotations", "-a", help="Folder of LabelMe JSON files (default: the data set's)."
        ),
    ] = None,
    images: Annotated[
        Path | None, typer.Option("--images", help="Folder of images (instead of --data).")
    ] = None,
    data: DataOption = None,
    split_name: Annotated[
        str | None,
        typer.Option("--split", help="Split of --data to use, or 'all' (default: test)."),
    ] = None,
    checkpoint: CheckpointOption = None,
    per_class: Annotated[
        int | None,
        typer.Option("--per-class", min=1, help="True positives scored per class (default: 5)."),
    ] = None,
    all_images: Annotated[
        bool, typer.Option("--all", help="Score every annotated image, right or wrong.")
    ] = False,
    threshold: Annotated[
        list[float] | None,
        typer.Option(
            "--threshold", min=0.0, max=1.0, help="Heatmap threshold for IoU; repeat for several."
        ),
    ] = None,
    method: MethodOption = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output folder (default: results/gradcam)."),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Images per forward pass.")
    ] = None,
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
        from rich.table import Table

        from assurexray.compare import (
            CompareOptions,
            attach_annotations,
            choose_images,
            run_compare,
        )
        from assurexray.inference import predict_records
        from assurexray.model import resolve_device

        torch_device = resolve_device(device or settings.device)
        model = open_checkpoint(checkpoint or Path(settings.checkpoint), settings, torch_device)
        records = _compare_records(images, data, split_name, settings)
        if records["label"].notna().any():
            _check_classes(model, records)
        ann_dir = annotations or (
            Path(settings.compare.annotations) if settings.compare.annotations else None
        )
        annotated = attach_annotations(records, ann_dir)
        if annotated.empty:
            from assurexray.errors import DatasetError

            if images is not None and ann_dir is None:
                raise DatasetError("--images needs --annotations (the folder of LabelMe files)")
            raise DatasetError(f"no image has an annotation in {ann_dir or 'the data set'}")
        options = CompareOptions(
            output=output or Path(settings.compare.output),
            thresholds=tuple(threshold or settings.compare.thresholds),
            per_class=None if all_images else (per_class or settings.compare.per_class),
            classes=tuple(settings.compare.classes),
            annotation_mode=settings.compare.annotation_mode,
            rows_per_page=settings.compare.rows_per_page,
            seed=settings.seed,
            alpha=settings.explain.alpha,
            colormap=settings.explain.colormap,
        )
        explainer = make_explainer(model, settings, method, torch_device)
        stream = dict(
            device=torch_device,
            batch_size=batch_size or settings.gallery.batch_size,
            workers=settings.infer.workers,
            max_pixels=settings.max_pixels,
        )
        with progress_bar() as bar:
            needs_predictions = not all_images or annotated["label"].isna().any()
            predictions, unreadable = None, []
            if needs_predictions:
                predictions, unreadable = predict_records(
                    annotated, model, progress=_stage_progress(bar), **stream
                )
            chosen, counts = choose_images(annotated, predictions, options)
            result = run_compare(
                chosen,
                counts,
                model,
                explainer,
                options,
                progress=_stage_progress(bar),
                warn=warn,
                failures=[{"image_id": f.path.stem, "error": f.error} for f in unreadable],
                **stream,
            )
    for failure in result.failures:
        err_console.print(f"[red]failed:[/red] {escape(failure['error'])}", soft_wrap=True)
    report = result.report
    table = Table(title=f"Heatmaps vs annotations ({report['selection']})")
    for column in (
        "class",
        "avail.",
        "scored",
        f"IoU@{options.thresholds[0]:g}",
        "Otsu IoU",
        "hit",
        "mass",
        "chance",
    ):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, row in report["per_class"].items():
        first = f"{options.thresholds[0]:g}"
        table.add_row(
            name,
            str(row.get("available", 0)),
            str(row["num_images"]),
            _fmt(row["iou"][first]),
            _fmt(row["otsu_iou"]),
            _fmt(row["hit_rate"], pct=True),
            _fmt(row["relevance_mass"], pct=True),
            _fmt(row["mask_fraction"], pct=True),
        )
    console.print(table)
    console.print(
        "hit: heatmap peak inside the tumour; mass: share of the heatmap inside it; "
        "chance: tumour area fraction"
    )
    console.print(escape(report["summary"]))
    for path in result.files:
        console.print(f"  {escape(str(path))}")
    if result.failures:
        raise typer.Exit(EXIT_PARTIAL)


def _fmt(value, *, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0%}" if pct else f"{value:.2f}"


def _compare_records(images: Path | None, data: Path | None, split_name: str | None, settings):
    """The candidate images: a bare folder (labels unknown) or a data set split."""
    import pandas as pd

    from assurexray.datasets import select_split
    from assurexray.errors import DatasetError
    from assurexray.imaging import is_image_file

    if images is not None:
        if not images.is_dir():
            raise DatasetError(f"{images}: image folder not found")
        paths = sorted(p for p in images.iterdir() if p.is_file() and is_image_file(p))
        return pd.DataFrame(
            {
                "image_id": [p.stem for p in paths],
                "path": [str(p) for p in paths],
                "label": [None] * len(paths),
                "annotation": [None] * len(paths),
            }
        )
    index = load_split_index(data or Path(settings.data), settings, create=False)
    wanted = split_name or settings.compare.split
    if wanted != "all" and index["split"].isna().all():
        warn("the data set has no split: scoring every image, training images included")
    if wanted == "all" or index["split"].isna().all():
        return index
    return select_split(index, wanted)


@app.command()
def demo(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output folder (default: results/demo).")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Where the synthetic data set goes (default: data/demo)."),
    ] = None,
    images: Annotated[
        int | None,
        typer.Option("--images", min=12, help="Synthetic images to generate (default: 600)."),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", min=1, help="Training epochs (default: 30).")
    ] = None,
    arch: Annotated[
        str | None, typer.Option("--arch", help="timm architecture (default: efficientnet_b0).")
    ] = None,
    image_size: Annotated[
        int | None, typer.Option("--image-size", min=16, help="Network input side (default: 128).")
    ] = None,
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
    import time

    settings = _settings(config)
    started = time.perf_counter()
    out_dir = output or Path(settings.demo.output)
    data_dir = data or Path(settings.demo.data)
    ckpt = out_dir / "checkpoints" / "best.pt"
    with user_errors():
        _demo_data(data_dir, images or settings.demo.images, settings.seed)
        if fresh or not ckpt.is_file():
            console.rule("[bold]1/4 train")
            partial = ckpt.with_name("training.pt")  # becomes best.pt only if training completes
            result = run_training(
                data_dir,
                settings,
                output=partial,
                arch=arch or settings.model.arch,
                image_size=image_size or settings.demo.image_size,
                resize_mode=settings.demo.resize_mode,
                epochs=epochs or settings.demo.epochs,
                device=device,
            )
            if result.interrupted or not result.best_epoch:
                fail("demo interrupted during training; run it again to retrain", EXIT_INTERRUPTED)
            partial.replace(ckpt)
            console.print(f"demo checkpoint: {escape(str(ckpt))}")
        else:
            console.print(f"reusing checkpoint {escape(str(ckpt))} (--fresh retrains)")
    common = dict(checkpoint=ckpt, method=None, batch_size=None, device=device, config=config)
    steps = [
        (
            "2/4 gallery",
            lambda: gallery(
                data=data_dir,
                split_name="test",
                k=None,
                output=out_dir / "gallery",
                fn_true_class=False,
                **common,
            ),
        ),
        (
            "3/4 compare",
            lambda: compare(
                annotations=None,
                images=None,
                data=data_dir,
                split_name="test",
                per_class=settings.demo.per_class,
                all_images=False,
                threshold=None,
                output=out_dir / "compare",
                **common,
            ),
        ),
        (
            "4/4 infer",
            lambda: infer(
                inputs=_demo_infer_inputs(data_dir),
                target_class=None,
                output=out_dir / "inference",
                recursive=False,
                alpha=None,
                no_images=False,
                save_raw=False,
                **common,
            ),
        ),
    ]
    for title, step in steps:
        console.rule(f"[bold]{title}")
        try:
            step()
        except typer.Exit as exit_:
            if exit_.exit_code not in (0, None, EXIT_PARTIAL):
                raise
    _demo_summary(out_dir, time.perf_counter() - started)


def _demo_data(root: Path, num_images: int, seed: int) -> None:
    """Generate the synthetic data set and its split unless they are already there."""
    from assurexray.datasets import SPLIT_FILE, load_dataset, stratified_split, write_split
    from assurexray.synthetic import dataset_matches, generate_dataset

    if dataset_matches(root, num_images=num_images, seed=seed) and (root / SPLIT_FILE).is_file():
        console.print(f"reusing synthetic data set {escape(str(root))}")
        return
    with progress_bar(transient=True) as bar:
        task = bar.add_task("Generating phantoms", total=num_images)
        generate_dataset(
            root,
            num_images=num_images,
            seed=seed,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    write_split(stratified_split(load_dataset(root, split_file=None), seed=seed), root / SPLIT_FILE)
    console.print(f"synthetic data set: {num_images} images in {escape(str(root))}")


def _demo_infer_inputs(root: Path) -> list[Path]:
    """One test image of each class, for the infer step."""
    from assurexray.datasets import load_dataset, select_split

    test = select_split(load_dataset(root), "test")
    return [Path(p) for p in test.groupby("label", sort=True).head(1)["path"]]


def _demo_summary(out_dir: Path, seconds: float) -> None:
    """Print test accuracy, localisation against chance, and the pictures to open."""
    import json

    from rich.table import Table

    metrics = json.loads((out_dir / "gallery" / "metrics.json").read_text())
    report = json.loads((out_dir / "compare" / "annotation_report.json").read_text())
    table = Table(title=f"assurexray demo finished in {seconds / 60:.1f} min")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("chance", justify="right")
    supports = [row["support"] for row in metrics["per_class"].values()]
    majority = max(supports) / sum(supports)  # always answering the commonest class
    table.add_row("test accuracy", _fmt(metrics["accuracy"], pct=True), _fmt(majority, pct=True))
    table.add_row("test macro-F1", _fmt(metrics["macro_f1"]), "")
    table.add_row(f"mean IoU @{report['iou_threshold']}", _fmt(report["mean_iou"]), "")
    table.add_row(
        "hit rate (pointing game)",
        _fmt(report["hit_rate"], pct=True),
        _fmt(report["chance_level"], pct=True),
    )
    table.add_row(
        "relevance mass",
        _fmt(report["mean_relevance_mass"], pct=True),
        _fmt(report["chance_level"], pct=True),
    )
    console.print(table)
    console.print("pictures to open:")
    for path in sorted((out_dir / "gallery").glob("gallery_*.png")) + sorted(
        (out_dir / "compare").glob("annotation_comparison*.png")
    ):
        console.print(f"  {escape(str(path))}")
