"""Adapters: each job's own results turned into one
:class:`~assurexray.reporting.html_report.ReportPage`.

Every adapter takes what its job already holds (the gallery's predictions and
metrics, compare's ``annotation_report``, infer's ``batch_results``, the
audit's ``audit_report``, the demo's summary) plus the per-image pictures the
job wrote with :func:`~assurexray.reporting.html_report.write_pictures`, keyed by image id,
in a :class:`~assurexray.reporting.page_parts.PageContext`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assurexray.core.text import number, percent, with_interval
from assurexray.reporting.html_report import (
    ImageRow,
    Pictures,
    ReportPage,
    Section,
    Table,
)
from assurexray.reporting.page_parts import (
    PERCENT,
    SCORE_NAMES,
    PageContext,
    classification_sections,
    scored_rows,
)

NO_CONTEXT = PageContext()


def compare_page(report: Mapping[str, Any], context: PageContext = NO_CONTEXT) -> ReportPage:
    """The page of ``compare``: scores against chance per class, one row per scored image."""
    threshold = f"{report['iou_threshold']:g}"
    chance = report.get("chance_level")
    rows = [
        ["mean IoU @" + threshold, number(report.get("mean_iou")), ""],
        ["mean Otsu IoU", number(report.get("mean_otsu_iou")), ""],
        ["hit rate (pointing game)", percent(report.get("hit_rate")), percent(chance)],
        ["relevance mass", percent(report.get("mean_relevance_mass")), percent(chance)],
    ]
    by_class = Table(
        ["class", "scored", f"IoU @{threshold}", "Otsu IoU", "hit", "mass", "chance"],
        [
            [
                name,
                str(row.get("num_images", 0)),
                number(row["iou"].get(threshold)),
                number(row.get("otsu_iou")),
                percent(row.get("hit_rate")),
                percent(row.get("relevance_mass")),
                percent(row.get("mask_fraction")),
            ]
            for name, row in report.get("per_class", {}).items()
        ],
        caption="chance: the tumour's share of the image (where a random point would land)",
    )
    verdict = Section(
        f"Localisation ({report.get('selection', 'scored images')})",
        text=report.get("summary", ""),
        tables=[Table(["score", "value", "chance level"], rows), by_class],
    )
    return context.page(
        "compare",
        "Heatmaps against expert outlines",
        sections=[verdict],
        rows=scored_rows(report.get("per_image", []), threshold, context.pictures),
        class_names=list(report.get("class_names", [])),
        notes=[e["error"] for e in report.get("errors", [])],
        iou_label=f"IoU @{threshold}",
    )


def gallery_page(
    predictions: Any,
    metrics: Mapping[str, Any],
    context: PageContext = NO_CONTEXT,
    failures: Sequence[str] = (),
) -> ReportPage:
    """The page of ``gallery``: class metrics, and every predicted image of the split.

    Args:
        predictions: The gallery's predictions table (``image_id``, ``path``,
            ``true_label``, ``predicted_label``, ``p_<Class>``).
        metrics: Its ``metrics.json``.
        context: The pictures of the explained examples, the footer, the colormap.
        failures: One line per file that could not be read.
    """
    records = predictions.to_dict("records")
    rows = [
        ImageRow(
            image_id=str(r["image_id"]),
            true_class=r["true_label"],
            predicted_class=r["predicted_label"],
            confidence=float(r[f"p_{r['predicted_label']}"]),
            pictures=context.pictures_of(r["image_id"]),
            facts=r,
        )
        for r in records
    ]
    explained = sum(1 for r in rows if r.pictures.overlay)
    sections = classification_sections(metrics) if metrics else []
    if rows:
        sections.append(
            Section(
                "Heatmaps",
                text=f"{explained} of {len(rows)} images have a heatmap: the most confident "
                "true positives, false positives and false negatives of each class (as in "
                "the gallery_<Class>.png grids). Click a row to see it large.",
            )
        )
    return context.page(
        "gallery",
        "Hits and misses per class",
        sections=sections,
        rows=rows,
        class_names=list(metrics.get("class_names", [])),
        notes=list(failures),
    )


def infer_page(
    summary: Mapping[str, Any],
    *,
    pictures: Mapping[str, Pictures] | None = None,
    footer: Mapping[str, str] | None = None,
    colormap: str = "jet",
) -> ReportPage:
    """The page of ``infer`` on several images (its ``batch_results.json``); rows by image path."""
    context = PageContext(pictures or {}, footer or {}, colormap)
    counts = summary.get("counts_per_class", {})
    table = Table(
        ["predicted class", "images"],
        [[name, str(n)] for name, n in counts.items()]
        + [["could not be read", str(summary.get("num_failed", 0))]],
    )
    rows = [
        ImageRow(
            image_id=Path(r["image_path"]).name,
            predicted_class=r["predicted_class"],
            confidence=float(r["confidence"]),
            pictures=context.pictures_of(r["image_path"]),
            facts=r,
        )
        for r in summary.get("results", [])
    ]
    section = Section(
        f"{summary.get('num_processed', len(rows))} images explained",
        text="The true classes are not known here, so there is no accuracy; the heatmap "
        "shows the evidence for the explained class.",
        tables=[table],
    )
    return context.page(
        "infer",
        "Predictions and heatmaps",
        sections=[section],
        rows=rows,
        class_names=list(counts),
        notes=[e["error"] for e in summary.get("errors", [])],
    )


def _candidate_list(value: Any) -> list[dict[str, Any]]:
    """Candidates or baselines as a list of dicts (a name-keyed dict is accepted too)."""
    if isinstance(value, Mapping):
        return [{"name": name, **entry} for name, entry in value.items()]
    return [dict(entry) for entry in value or []]


def _adversarial_note(adversarial: Mapping[str, Any] | None) -> str:
    """What the adversarial columns measured, for the audit table's caption."""
    if not adversarial or not adversarial.get("attacks"):
        return ""
    return (
        f"; adversarial: {' and '.join(a.upper() for a in adversarial['attacks'])} within "
        f"±{adversarial['epsilon_grey_levels']:g}/255 grey levels (L∞), "
        f"{adversarial.get('flipped', 0)} of {adversarial.get('pairs', 0)} attacks changed "
        "the class (the same attacks for every heatmap)"
    )


def audit_page(report: Mapping[str, Any], context: PageContext = NO_CONTEXT) -> ReportPage:
    """The page of ``audit`` (its ``audit_report.json``): candidates and baselines side by side.

    Reads ``candidates`` and ``baselines`` (lists of objects with ``name``,
    ``method``, ``layers`` and the scores ``hit_rate``, ``relevance_mass``,
    ``mean_iou``, ``mean_otsu_iou``, ..., each with an optional ``<score>_ci``
    pair), ``recommended`` (a name), ``verdict`` (a line or a list of lines),
    ``chance_level``, ``iou_thresholds`` and ``per_image`` (``image_id``,
    ``class`` and ``scores`` per candidate name); the rows show the recommended
    candidate's scores (else the first candidate's). Without a footer in
    ``context``, the report's own ``checkpoint`` and ``settings`` fill it.
    """
    candidates = _candidate_list(report.get("candidates"))
    baselines = _candidate_list(report.get("baselines"))
    scores = [k for k in SCORE_NAMES if any(k in c for c in candidates + baselines)]

    def line(entry: dict[str, Any], kind: str) -> list[str]:
        return [entry.get("name", "?"), kind] + [
            with_interval(entry.get(k), entry.get(f"{k}_ci"), as_percent=k in PERCENT)
            for k in scores
        ]

    recommended = report.get("recommended")
    if isinstance(recommended, Mapping):
        recommended = recommended.get("name")
    entries = [(c, "candidate") for c in candidates] + [(b, "baseline") for b in baselines]
    table = Table(
        ["heatmap (method@layers)", "kind", *(SCORE_NAMES[k] for k in scores)],
        [line(entry, kind) for entry, kind in entries],
        caption="[brackets]: 95 % confidence interval; green: the recommended heatmap; "
        "baselines use no model, and a heatmap must beat them to count as evidence"
        + _adversarial_note(report.get("adversarial")),
        shades=[
            [0.3 if entry.get("name") == recommended else None] * (2 + len(scores))
            for entry, _ in entries
        ],
    )
    verdict = report.get("verdict", "")
    text = " ".join(verdict) if isinstance(verdict, (list, tuple)) else str(verdict)
    if report.get("chance_level") is not None:
        text += f" Chance level of hit rate and relevance mass: {percent(report['chance_level'])}."
    shown = recommended or (candidates[0]["name"] if candidates else None)
    thresholds = report.get("iou_thresholds") or [report.get("iou_threshold", 0.5)]
    threshold = f"{thresholds[0]:g}"
    per_image = [
        {**entry, **entry.get("scores", {}).get(shown, {}), "shown_heatmap": shown}
        for entry in report.get("per_image", [])
    ]
    highlight = f"Recommended heatmap: {recommended}" if recommended else "No heatmap recommended"
    context = context.with_report_footer(report)
    return context.page(
        "audit",
        "Which heatmap can be trusted?",
        sections=[Section("Verdict", highlight=highlight, text=text.strip(), tables=[table])],
        rows=scored_rows(per_image, threshold, context.pictures),
        notes=[e["error"] for e in report.get("errors", [])],
        class_names=sorted({str(e["class"]) for e in per_image if e.get("class")}),
        iou_label=f"IoU @{threshold} ({shown})" if shown else f"IoU @{threshold}",
    )
