"""The demo's summary, as the terminal prints it, and its index ``report.html``
linking the pages of the jobs it ran."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assurexray.core.text import number, percent, with_interval
from assurexray.evaluation.metrics import majority_accuracy
from assurexray.reporting.html_report import (
    REPORT_FILE,
    ReportPage,
    Section,
    Table,
    run_facts,
    write_report,
)
from assurexray.reporting.page_parts import SCORE_NAMES, classification_sections


def demo_summary_rows(
    metrics: Mapping[str, Any],
    report: Mapping[str, Any],
    audit: Mapping[str, Any] | None = None,
) -> list[list[str]]:
    """The demo's summary: (measure, value, chance level) rows, as the terminal prints them.

    Args:
        metrics: The gallery's metrics.
        report: Compare's report.
        audit: The audit's report; None when the audit was skipped.
    """

    chance = percent(report.get("chance_level"))
    rows = [
        ["test accuracy", percent(metrics["accuracy"]), percent(majority_accuracy(metrics))],
        ["test macro-F1", number(metrics["macro_f1"]), ""],
        [f"mean IoU @{report['iou_threshold']}", number(report.get("mean_iou")), ""],
        ["hit rate (pointing game)", percent(report.get("hit_rate")), chance],
        ["relevance mass", percent(report.get("mean_relevance_mass")), chance],
    ]
    if audit is None:
        return [*rows, ["audit", "skipped: no true positive to score", ""]]
    recommended = audit.get("recommended")
    for entry in audit.get("candidates", []):
        if entry["name"] in (recommended, audit.get("seed_candidate")):
            role = "recommended" if entry["name"] == recommended else "configured"
            rows += [
                [
                    f"audit, {role}: {entry['name']} {SCORE_NAMES[score]}",
                    with_interval(entry.get(score), entry.get(f"{score}_ci"), as_percent=True),
                    percent(audit.get("chance_level")),
                ]
                for score in ("hit_rate", "relevance_mass")
            ]
    if not recommended:
        rows.append(["audit", "no trustworthy candidate", ""])
    return rows


def demo_page(
    metrics: Mapping[str, Any],
    report: Mapping[str, Any],
    *,
    audit: Mapping[str, Any] | None = None,
    links: Sequence[tuple[str, str]] = (),
    pictures: Sequence[str] = (),
    footer: Mapping[str, str] | None = None,
    minutes: float | None = None,
) -> ReportPage:
    """The demo's index page: the terminal summary, links to each job's page and pictures.

    Args:
        metrics: The gallery's metrics.
        report: Compare's report.
        audit: The audit's report; None when the audit was skipped.
        links: (label, relative href) of each job's report page.
        pictures: Relative paths of the PNGs the terminal lists.
        footer: Facts of the run.
        minutes: How long the demo took.
    """
    took = f" in {minutes:.1f} min" if minutes is not None else ""
    recommended = (audit or {}).get("recommended")
    summary = Section(
        f"assurexray demo finished{took}",
        highlight=f"Recommended heatmap (audit): {recommended}" if recommended else "",
        text="A model trained on synthetic phantoms, its test split classified and its "
        "heatmaps scored against the phantoms' lesion outlines.",
        tables=[
            Table(["measure", "value", "chance level"], demo_summary_rows(metrics, report, audit))
        ],
    )
    pages = Section("Reports", text="Each job's page, with every image:", links=list(links))
    sections = [summary, pages, *classification_sections(metrics)]
    if pictures:
        sections.append(Section("Pictures", links=[(Path(p).name, p) for p in pictures]))
    return ReportPage(
        title="assurexray demo", kind="demo", sections=sections, footer=dict(footer or {})
    )


JOB_PAGES = {
    "gallery": "Hits and misses per class",
    "compare": "Heatmaps against expert outlines",
    "audit": "Which heatmap can be trusted?",
    "shortcuts": "Does the model take shortcuts?",
    "inference": "One test image per class",
}


def write_demo_report(
    output: Path,
    metrics: Mapping[str, Any],
    report: Mapping[str, Any],
    *,
    audit: Mapping[str, Any] | None = None,
    pictures: Sequence[str | Path] = (),
    minutes: float | None = None,
) -> Path:
    """Write the demo's index page ``output/report.html`` beside its jobs' folders.

    Args:
        output: The demo's output folder (``gallery/``, ``compare/``, ``inference/``, ...).
        metrics: The gallery's metrics.
        report: Compare's report.
        audit: The audit's report; None when the audit was skipped.
        pictures: The PNGs the terminal lists (paths under ``output``).
        minutes: How long the demo took.
    """
    links = [
        (f"{label} ({job}/{REPORT_FILE})", f"{job}/{REPORT_FILE}")
        for job, label in JOB_PAGES.items()
        if (output / job / REPORT_FILE).is_file()
    ]
    page = demo_page(
        metrics,
        report,
        audit=audit,
        links=links,
        pictures=[Path(os.path.relpath(p, output)).as_posix() for p in pictures],
        footer=run_facts(
            checkpoint=output / "checkpoints" / "best.pt", method=report.get("method")
        ),
        minutes=minutes,
    )
    return write_report(page, output)
