"""The demo's summary, as the terminal prints it, and its index ``report.html``
linking the pages of the jobs it ran."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assurexray.html_report import REPORT_FILE, ReportPage, Section, Table, run_facts, write_report
from assurexray.report_pages import classification_sections, num, pct


def demo_summary_rows(metrics: Mapping[str, Any], report: Mapping[str, Any]) -> list[list[str]]:
    """The demo's summary: (measure, value, chance level), as the terminal prints it."""
    from assurexray.demo import chance_accuracy

    chance = pct(report.get("chance_level"))
    return [
        ["test accuracy", pct(metrics["accuracy"]), pct(chance_accuracy(metrics))],
        ["test macro-F1", num(metrics["macro_f1"]), ""],
        [f"mean IoU @{report['iou_threshold']}", num(report.get("mean_iou")), ""],
        ["hit rate (pointing game)", pct(report.get("hit_rate")), chance],
        ["relevance mass", pct(report.get("mean_relevance_mass")), chance],
    ]


def demo_page(
    metrics: Mapping[str, Any],
    report: Mapping[str, Any],
    *,
    links: Sequence[tuple[str, str]],
    pictures: Sequence[str] = (),
    footer: Mapping[str, str] | None = None,
    minutes: float | None = None,
) -> ReportPage:
    """The demo's index page: the terminal summary, links to each job's page and pictures.

    Args:
        metrics: The gallery's ``metrics.json``.
        report: Compare's ``annotation_report.json``.
        links: (label, relative href) of each job's report page.
        pictures: Relative paths of the PNGs the terminal lists.
        footer: Facts of the run.
        minutes: How long the demo took.
    """
    took = f" in {minutes:.1f} min" if minutes is not None else ""
    summary = Section(
        f"assurexray demo finished{took}",
        text="A model trained on synthetic phantoms, its test split classified and its "
        "heatmaps scored against the phantoms' lesion outlines.",
        tables=[Table(["measure", "value", "chance level"], demo_summary_rows(metrics, report))],
    )
    pages = Section("Reports", text="Each job's page, with every image:", links=list(links))
    sections = [summary, pages, *classification_sections(metrics)]
    if pictures:
        sections.append(Section("Pictures", links=[(Path(p).name, p) for p in pictures]))
    return ReportPage(
        title="assurexray demo", kind="demo", sections=sections, footer=dict(footer or {})
    )


def write_demo_report(
    output: Path,
    metrics: Mapping[str, Any],
    report: Mapping[str, Any],
    *,
    minutes: float | None = None,
) -> Path:
    """Write the demo's index page ``output/report.html`` beside its jobs' folders.

    Args:
        output: The demo's output folder (``gallery/``, ``compare/``, ``inference/``).
        metrics: The gallery's metrics.
        report: Compare's report.
        minutes: How long the demo took.
    """
    jobs = {"gallery": "Hits and misses per class", "compare": "Heatmaps against expert outlines"}
    jobs["inference"] = "One test image per class"
    links = [
        (f"{label} ({job}/{REPORT_FILE})", f"{job}/{REPORT_FILE}")
        for job, label in jobs.items()
        if (output / job / REPORT_FILE).is_file()
    ]
    pictures = sorted((output / "gallery").glob("gallery_*.png"))
    pictures += sorted((output / "compare").glob("annotation_comparison*.png"))
    footer = run_facts(checkpoint=output / "checkpoints" / "best.pt", method=report.get("method"))
    page = demo_page(
        metrics,
        report,
        links=links,
        pictures=[p.relative_to(output).as_posix() for p in pictures],
        footer=footer,
        minutes=minutes,
    )
    return write_report(page, output)
