"""What the command line prints for each job's result: one ``print_<job>`` per job.

The commands in :mod:`assurexray.cli.main` and the demo's steps share them; the
means (console, ``text``, warnings) come from :mod:`assurexray.cli.terminal`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from assurexray.cli.shortcut_printers import print_shortcuts
from assurexray.cli.terminal import console, err_console, show_failures, text, warn
from assurexray.core.text import number, percent, with_interval

if TYPE_CHECKING:
    import pandas as pd

    from assurexray.audit.scoring import AuditResult
    from assurexray.demo.job import DemoOptions, DemoResult
    from assurexray.inference.gallery import GalleryResult
    from assurexray.inference.infer_run import InferRun
    from assurexray.localisation.compare import CompareResult
    from assurexray.training.train import EpochResult, TrainOptions, TrainResult


def show_notes(results: list[dict[str, Any]]) -> None:
    """Each distinct note made while reading the images, once, with how many it concerns."""
    by_note: dict[str, list[str]] = {}
    for result in results:
        for note in result.get("notes", []):
            by_note.setdefault(note, []).append(Path(result["image_path"]).name)
    for note, names in by_note.items():
        where = names[0] if len(names) == 1 else f"{len(names)} images, e.g. {names[0]}"
        err_console.print(f"[yellow]note:[/yellow] {text(note)} ({text(where)})", soft_wrap=True)


def print_infer(run: InferRun) -> None:
    """A single image's probabilities, or a folder's counts per class."""
    from rich.table import Table

    show_failures([f["error"] for f in run.failures])
    show_notes(run.results)
    if len(run.results) == 1 and not run.failures:
        result = run.results[0]
        table = Table(title=text(Path(result["image_path"]).name))
        table.add_column("class")
        table.add_column("probability", justify="right")
        for name, p in result["probabilities"].items():
            style = "bold green" if name == result["predicted_class"] else ""
            table.add_row(text(name), f"{p:.1%}", style=style)
        console.print(table)
        console.print(f"explained class: {text(result['explained_class'])} ({result['method']})")
        for kind, path in result["outputs"].items():
            console.print(f"  {kind}: {text(path)}")
        return
    summary = run.summary()
    table = Table(title="Predictions")
    table.add_column("class")
    table.add_column("images", justify="right")
    for name, count in summary["counts_per_class"].items():
        table.add_row(text(name), str(count))
    table.add_row("[red]failed[/red]", str(summary["num_failed"]))
    console.print(table)
    console.print(
        f"written: {text(run.output / 'predictions.csv')}, "
        f"{text(run.output / 'batch_results.json')}"
    )
    if run.report_facts is not None:
        console.print(f"report: {text(run.output / 'report.html')}")


def print_epoch(entry: EpochResult) -> None:
    """One line per training epoch."""
    mark = "  [green]best, saved[/green]" if entry.improved else ""
    console.print(
        f"epoch {entry.epoch:3d}  train loss {entry.train_loss:.3f}  val loss "
        f"{entry.val_loss:.3f}  val acc {entry.val_accuracy:.1%}  val macro-F1 "
        f"{entry.val_macro_f1:.3f}  ({entry.seconds:.0f}s){mark}"
    )


def print_training_start(options: TrainOptions) -> None:
    """What is trained, at which size, where."""
    console.print(
        f"training {options.arch} at {options.preprocess.image_size}px on {options.device}"
    )


def print_training(result: TrainResult, *, pretrained: bool = False) -> None:
    """The best epoch, the checkpoint and the test split's scores."""

    show_failures(result.failures)
    if result.interrupted:
        kept = f"best checkpoint so far: {result.checkpoint}"
        warn(f"interrupted; {kept if result.best_epoch else 'no checkpoint saved'}")
    if pretrained:
        console.print(
            f"--pretrained left {len(result.not_pretrained)} tensors at their fresh "
            f"values: {text(', '.join(result.not_pretrained[:4]))}"
        )
    if result.best_epoch:  # else no epoch finished and no file was written
        console.print(f"best epoch {result.best_epoch}; checkpoint: {text(result.checkpoint)}")
    if result.test_metrics:
        console.print(_test_table(result.test_metrics))


def _test_table(metrics: dict[str, Any]) -> Any:
    """Accuracy with its 95 % Wilson interval beside the majority-class accuracy, macro-F1,
    and macro ROC AUC beside 0.5 (a model that cannot rank the classes)."""
    from rich.table import Table

    from assurexray.evaluation.statistics import wilson_interval

    n = int(metrics.get("num_images") or 0)
    supports = [int(row["support"]) for row in (metrics.get("per_class") or {}).values()]
    correct = round(metrics["accuracy"] * n)
    table = Table(title=f"Test split (best checkpoint): {n} images")
    for column in ("measure", "value (95 % CI)", "chance"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    majority = max(supports) / n if n and supports else None
    table.add_row(
        "accuracy",
        with_interval(metrics["accuracy"], wilson_interval(correct, n), as_percent=True),
        f"{percent(majority)} (always the commonest class)" if majority is not None else "",
    )
    table.add_row("macro-F1", number(metrics["macro_f1"], 3), "")
    table.add_row("macro ROC AUC", number(metrics.get("macro_roc_auc"), 3), "0.5")
    return table


def print_gallery(result: GalleryResult) -> None:
    """Accuracy, per-class precision/recall/F1, and the files written."""
    from rich.table import Table

    show_failures([f.error for f in result.failures])
    if result.metrics:
        table = Table(
            title=f"{len(result.predictions)} images, accuracy {result.metrics['accuracy']:.1%}, "
            f"macro-F1 {result.metrics['macro_f1']:.3f}"
        )
        for column in ("class", "support", "precision", "recall", "F1"):
            table.add_column(column, justify="right" if column != "class" else "left")
        for name, row in result.metrics["per_class"].items():
            table.add_row(
                text(name),
                str(row["support"]),
                f"{row['precision']:.2f}",
                f"{row['recall']:.2f}",
                f"{row['f1']:.2f}",
            )
        console.print(table)
    for path in result.files.values():
        console.print(f"  {text(path)}")


def print_compare(result: CompareResult) -> None:
    """Scores per class against chance, the summary sentence, and the files written."""
    from rich.table import Table

    show_failures([f["error"] for f in result.failures])
    report = result.report
    first = f"{report['iou_threshold']:g}"
    table = Table(title=f"Heatmaps vs annotations ({report['selection']})")
    columns = ("class", "avail.", "scored", f"IoU@{first}", "Otsu IoU", "hit", "mass", "chance")
    for column in columns:
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, row in report["per_class"].items():
        table.add_row(
            text(name),
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
    console.print(text(report["summary"]))
    for path in result.files:
        console.print(f"  {text(path)}")
    if result.interrupted:
        warn(f"interrupted: the report holds the {report['num_images']} images scored so far")


#: Width of the audit table written to a log or pipe (every column, intervals included).
FULL_TABLE_WIDTH = 180


def print_audit(result: AuditResult) -> None:
    """The leaderboard with intervals beside chance, the verdict, and the files written."""
    from assurexray.cli.audit_table import audit_table, flip_line

    show_failures([f["error"] for f in result.failures])
    report = result.report
    if result.interrupted:
        warn(f"interrupted: the report holds the {report['num_images']} images scored so far")
    # A terminal gets a table that fits it; a log or a pipe gets every column.
    out = console
    if not console.is_terminal and console.width < FULL_TABLE_WIDTH:
        from rich.console import Console

        out = Console(file=console.file, width=FULL_TABLE_WIDTH, no_color=True)
    table, left_out = audit_table(report, out.width)
    out.print(table)
    chance = _fmt(report["chance_level"], pct=True)
    console.print(
        f"chance level (mean tumour area fraction): {chance} — a map that "
        "ignores the image scores about this on hit rate and relevance mass. Intervals are 95 % "
        "bootstrap over images. localis.: mean of hit and mass (ranks the candidates by "
        "default). ROAD: faithfulness, higher is better, random ≈ 0. stability: SSIM of the "
        "map under noise, brightness and shift; adv. SSIM: under FGSM/PGD within "
        f"{_budget(report)}, where the class is kept. Sanity: "
        "Spearman correlation with the original maps once the head (then the last block) is "
        f"randomised; a map that stays at ≥ {report['settings']['sanity_threshold']:g} fails."
    )
    flips = flip_line(report)
    if flips:
        console.print(flips)
    if left_out:
        console.print(
            f"not shown at this width: {', '.join(left_out)} (all in audit.csv and report.html)"
        )
    for line in report["verdict"]:
        console.print(escape(line))
    if report["recommended"]:
        from assurexray.explain.candidates import Candidate

        best = next(e for e in report["candidates"] if e["name"] == report["recommended"])
        console.print("to use it in infer, gallery and compare, put in your config:")
        console.print(escape(Candidate(best["method"], tuple(best["layers"])).config_lines()))
    for path in result.files:
        console.print(f"  {escape(str(path))}")


def _budget(report: dict[str, Any]) -> str:
    adversarial = report.get("adversarial") or {}
    epsilon = adversarial.get("epsilon_grey_levels")
    return "the L∞ budget" if epsilon is None else f"±{epsilon:g}/255 grey levels"


def _fmt(value: float | None, *, pct: bool = False, digits: int = 2) -> str:
    return percent(value) if pct else number(value, digits)


def print_demo_step(options: DemoOptions, name: str, result: Any) -> None:
    """A rule when a demo step starts; its usual summary when it ends."""
    steps = ("train", "audit", "gallery", "compare", "shortcuts", "infer")
    titles = {step: f"{n}/{len(steps)} {step}" for n, step in enumerate(steps, start=1)}
    printers: dict[str, Any] = {
        "gallery": print_gallery,
        "compare": print_compare,
        "audit": print_audit,
        "shortcuts": print_shortcuts,
        "infer": print_infer,
    }
    if name == "data":
        verb = "reusing" if result else "made"
        console.print(f"{verb} synthetic data set {text(options.data)}")
    elif isinstance(result, Path):
        console.print(f"reusing checkpoint {text(result)} (--fresh retrains)")
    elif result is None:
        console.rule(f"[bold]{titles.get(name, name)}")
    elif name == "train":
        print_training(result)
        console.print(f"demo checkpoint: {text(options.model.checkpoint)}")
    elif name in printers:
        printers[name](result)


def print_demo(result: DemoResult) -> None:
    """Test accuracy, localisation against chance, the audit, the pictures and the page."""
    from rich.table import Table

    from assurexray.demo.report import demo_summary_rows

    table = Table(title=f"assurexray demo finished in {result.seconds / 60:.1f} min")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("chance", justify="right")
    audit = result.audit.report if result.audit else None
    if result.gallery is None or result.compare is None:  # run() fills both before it returns
        raise ValueError("print_demo needs a finished demo's result")
    for row in demo_summary_rows(result.gallery.metrics, result.compare.report, audit):
        table.add_row(*map(text, row))
    if result.shortcuts is not None:
        flags = ", ".join(result.shortcuts.flags) or "none"
        level = result.shortcuts.report["settings"]["alpha"]
        table.add_row(f"shortcut flags (level {level})", text(flags), "")
    console.print(table)
    if audit is not None:
        configured = audit.get("seed_candidate")
        console.print(
            f"heatmap in gallery and compare: {text(result.heatmap)}"
            + (
                " (the audit's recommendation)"
                if result.heatmap == audit.get("recommended")
                else ""
            )
            + (f"; configured: {text(configured)}" if configured else "")
        )
    if result.shortcuts is not None:
        console.print("shortcuts verdict, beside the audit's recommendation above:")
        for sentence in result.shortcuts.verdict:
            console.print(f"  • {text(sentence)}", soft_wrap=True)
    console.print("pictures to open:")
    for path in result.pictures:
        console.print(f"  {text(path)}")
    if result.report is not None:
        console.print(f"report (open in a browser): {text(result.report)}")


def print_split(index: pd.DataFrame, target: Path) -> None:
    """Images per label and split, and where the split went."""
    from rich.table import Table

    table = Table(title=f"Split written to {text(target)}")
    table.add_column("label")
    for name in ("train", "val", "test"):
        table.add_column(name, justify="right")
    counts = index.groupby(["label", "split"]).size()
    for label in sorted(index["label"].unique()):
        cells = (str(counts.get((label, s), 0)) for s in ("train", "val", "test"))
        table.add_row(text(label), *cells)
    console.print(table)
