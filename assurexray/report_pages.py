"""Adapters: each job's own results turned into one :class:`~assurexray.html_report.ReportPage`.

Every adapter takes what its job already holds (the gallery's predictions and
metrics, compare's ``annotation_report``, infer's ``batch_results``, the
audit's ``audit_report``, the demo's summary) plus the per-image pictures the
job wrote with :func:`~assurexray.html_report.write_pictures`, keyed by image id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assurexray.html_report import ImageRow, Pictures, ReportPage, Section, Table, run_facts

CLASS_SCORES = ("precision", "recall", "f1", "roc_auc")
SCORE_NAMES = {
    "localisation": "localisation (mean of hit and mass)",
    "hit_rate": "hit rate (pointing game)",
    "relevance_mass": "relevance mass",
    "mean_iou": "mean IoU",
    "mean_otsu_iou": "mean Otsu IoU",
    "faithfulness": "ROAD faithfulness",
    "stability_ssim": "stability (SSIM)",
}
PERCENT = {"hit_rate", "relevance_mass"}


def pct(value: float | None, digits: int = 0) -> str:
    """A share as a percentage; "n/a" when unknown."""
    return "n/a" if value is None else f"{value:.{digits}%}"


def num(value: float | None) -> str:
    """A score with two decimals; "n/a" when unknown."""
    return "n/a" if value is None else f"{value:.2f}"


def with_ci(value: float | None, ci: Sequence[float | None] | None, *, percent: bool) -> str:
    """``value`` followed by its 95 % confidence interval in brackets, when one is given."""
    show = pct if percent else num
    text = show(value)
    if ci and len(ci) == 2 and None not in ci:
        text += f" [{show(ci[0])}–{show(ci[1])}]"
    return text


def classification_sections(metrics: Mapping[str, Any]) -> list[Section]:
    """Accuracy against the majority-class chance, per-class scores, the confusion matrix."""
    names = list(metrics["class_names"])
    per_class = metrics["per_class"]
    supports = [per_class[n]["support"] for n in names]
    majority = max(supports) / sum(supports) if sum(supports) else None
    headline = Table(
        ["measure", "value", "chance level"],
        [
            ["accuracy", pct(metrics["accuracy"], 1), f"{pct(majority, 1)} (commonest class)"],
            ["macro-F1", num(metrics["macro_f1"]), ""],
            ["macro ROC AUC", num(metrics.get("macro_roc_auc")), "0.50"],
        ],
    )
    scores = Table(
        ["class", "images", "precision", "recall", "F1", "ROC AUC"],
        [
            [n, str(per_class[n]["support"]), *(num(per_class[n].get(k)) for k in CLASS_SCORES)]
            for n in names
        ],
    )
    matrix = metrics["confusion_matrix"]
    totals = [max(sum(row), 1) for row in matrix]
    confusion = Table(
        ["true \\ predicted", *names],
        [[n, *(str(c) for c in matrix[i])] for i, n in enumerate(names)],
        caption="rows: true class; columns: predicted class; green: right, red: wrong",
        shades=[
            [
                None,
                *(((1 if i == j else -1) * c / totals[i]) or None for j, c in enumerate(matrix[i])),
            ]
            for i in range(len(names))
        ],
    )
    title = f"Classification of {metrics.get('num_images', sum(supports))} images"
    return [
        Section(title, tables=[headline, scores]),
        Section("Confusion matrix", tables=[confusion]),
    ]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def scored_rows(
    per_image: Sequence[Mapping[str, Any]], threshold: str, pictures: Mapping[str, Pictures]
) -> list[ImageRow]:
    """Table rows from per-image score entries (compare's ``per_image`` layout)."""
    rows = []
    for entry in per_image:
        iou = entry.get("iou")
        if isinstance(iou, Mapping):
            iou = iou.get(threshold)
        rows.append(
            ImageRow(
                image_id=str(entry["image_id"]),
                true_class=entry.get("class") if entry.get("class_known", True) else None,
                predicted_class=entry.get("predicted_class"),
                confidence=_float(entry.get("confidence")),
                iou=_float(iou),
                hit=entry.get("hit"),
                relevance_mass=_float(entry.get("relevance_mass")),
                pictures=pictures.get(str(entry["image_id"]), Pictures()),
                facts=dict(entry),
            )
        )
    return rows


def compare_page(
    report: Mapping[str, Any],
    *,
    pictures: Mapping[str, Pictures] | None = None,
    footer: Mapping[str, str] | None = None,
    colormap: str = "jet",
    title: str = "Heatmaps against expert outlines",
) -> ReportPage:
    """The page of ``compare``: scores against chance per class, one row per scored image."""
    pictures = pictures or {}
    threshold = f"{report['iou_threshold']:g}"
    chance = report.get("chance_level")
    rows = [
        ["mean IoU @" + threshold, num(report.get("mean_iou")), ""],
        ["mean Otsu IoU", num(report.get("mean_otsu_iou")), ""],
        ["hit rate (pointing game)", pct(report.get("hit_rate")), pct(chance)],
        ["relevance mass", pct(report.get("mean_relevance_mass")), pct(chance)],
    ]
    by_class = Table(
        ["class", "scored", f"IoU @{threshold}", "Otsu IoU", "hit", "mass", "chance"],
        [
            [
                name,
                str(row.get("num_images", 0)),
                num(row["iou"].get(threshold)),
                num(row.get("otsu_iou")),
                pct(row.get("hit_rate")),
                pct(row.get("relevance_mass")),
                pct(row.get("mask_fraction")),
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
    return ReportPage(
        title=title,
        kind="compare",
        sections=[verdict],
        rows=scored_rows(report.get("per_image", []), threshold, pictures),
        footer=dict(footer or {}),
        class_names=list(report.get("class_names", [])),
        notes=[e["error"] for e in report.get("errors", [])],
        iou_label=f"IoU @{threshold}",
        colormap=colormap,
    )


def gallery_page(
    predictions: Any,
    metrics: Mapping[str, Any],
    *,
    pictures: Mapping[str, Pictures] | None = None,
    footer: Mapping[str, str] | None = None,
    failures: Sequence[str] = (),
    colormap: str = "jet",
    title: str = "Hits and misses per class",
) -> ReportPage:
    """The page of ``gallery``: class metrics, and every predicted image of the split.

    Args:
        predictions: The gallery's predictions table (``image_id``, ``path``,
            ``true_label``, ``predicted_label``, ``p_<Class>``).
        metrics: Its ``metrics.json``.
        pictures: Pictures of the explained examples, by image id.
        footer: Facts of the run (:func:`~assurexray.html_report.run_facts`).
        failures: One line per file that could not be read.
        colormap: The heatmaps' colormap, for the legend.
        title: The page's title.
    """
    pictures = pictures or {}
    records = predictions.to_dict("records")
    rows = [
        ImageRow(
            image_id=str(r["image_id"]),
            true_class=r["true_label"],
            predicted_class=r["predicted_label"],
            confidence=float(r[f"p_{r['predicted_label']}"]),
            pictures=pictures.get(str(r["image_id"]), Pictures()),
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
    return ReportPage(
        title=title,
        kind="gallery",
        sections=sections,
        rows=rows,
        footer=dict(footer or {}),
        class_names=list(metrics.get("class_names", [])),
        notes=list(failures),
        colormap=colormap,
    )


def infer_page(
    summary: Mapping[str, Any],
    *,
    pictures: Mapping[str, Pictures] | None = None,
    footer: Mapping[str, str] | None = None,
    colormap: str = "jet",
    title: str = "Predictions and heatmaps",
) -> ReportPage:
    """The page of ``infer`` on several images (its ``batch_results.json``); rows by image path."""
    pictures = pictures or {}
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
            pictures=pictures.get(r["image_path"], Pictures()),
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
    return ReportPage(
        title=title,
        kind="infer",
        sections=[section],
        rows=rows,
        footer=dict(footer or {}),
        class_names=list(counts),
        notes=[e["error"] for e in summary.get("errors", [])],
        colormap=colormap,
    )


def _candidate_list(value: Any) -> list[dict[str, Any]]:
    """Candidates or baselines as a list of dicts (a name-keyed dict is accepted too)."""
    if isinstance(value, Mapping):
        return [{"name": name, **entry} for name, entry in value.items()]
    return [dict(entry) for entry in value or []]


def audit_page(
    report: Mapping[str, Any],
    *,
    pictures: Mapping[str, Pictures] | None = None,
    footer: Mapping[str, str] | None = None,
    colormap: str = "jet",
    title: str = "Which heatmap can be trusted?",
) -> ReportPage:
    """The page of ``audit`` (its ``audit_report.json``): candidates and baselines side by side.

    Reads ``candidates`` and ``baselines`` (lists of objects with ``name``,
    ``method``, ``layers`` and the scores ``hit_rate``, ``relevance_mass``,
    ``mean_iou``, ``mean_otsu_iou``, ..., each with an optional ``<score>_ci``
    pair), ``recommended`` (a name), ``verdict`` (a line or a list of lines),
    ``chance_level``, ``iou_thresholds`` and ``per_image`` (``image_id``,
    ``class`` and ``scores`` per candidate name); the rows show the recommended
    candidate's scores (else the first candidate's). Without ``footer``, the
    report's own ``checkpoint`` and ``settings`` fill it.
    """
    candidates = _candidate_list(report.get("candidates"))
    baselines = _candidate_list(report.get("baselines"))
    scores = [k for k in SCORE_NAMES if any(k in c for c in candidates + baselines)]

    def line(entry: dict[str, Any], kind: str) -> list[str]:
        return [entry.get("name", "?"), kind] + [
            with_ci(entry.get(k), entry.get(f"{k}_ci"), percent=k in PERCENT) for k in scores
        ]

    recommended = report.get("recommended")
    if isinstance(recommended, Mapping):
        recommended = recommended.get("name")
    entries = [(c, "candidate") for c in candidates] + [(b, "baseline") for b in baselines]
    table = Table(
        ["heatmap (method@layers)", "kind", *(SCORE_NAMES[k] for k in scores)],
        [line(entry, kind) for entry, kind in entries],
        caption="[brackets]: 95 % confidence interval; green: the recommended heatmap; "
        "baselines use no model, and a heatmap must beat them to count as evidence",
        shades=[
            [0.3 if entry.get("name") == recommended else None] * (2 + len(scores))
            for entry, _ in entries
        ],
    )
    verdict = report.get("verdict", "")
    text = " ".join(verdict) if isinstance(verdict, (list, tuple)) else str(verdict)
    if report.get("chance_level") is not None:
        text += f" Chance level of hit rate and relevance mass: {pct(report['chance_level'])}."
    shown = recommended or (candidates[0]["name"] if candidates else None)
    thresholds = report.get("iou_thresholds") or [report.get("iou_threshold", 0.5)]
    threshold = f"{thresholds[0]:g}"
    per_image = [
        {**entry, **entry.get("scores", {}).get(shown, {}), "shown_heatmap": shown}
        for entry in report.get("per_image", [])
    ]
    highlight = f"Recommended heatmap: {recommended}" if recommended else "No heatmap recommended"
    if footer is None:
        checkpoint = report.get("checkpoint") or {}
        footer = run_facts(
            checkpoint=checkpoint.get("path"),
            sha256=checkpoint.get("sha256"),
            settings=report.get("settings"),
        )
    return ReportPage(
        title=title,
        kind="audit",
        sections=[Section("Verdict", highlight=highlight, text=text.strip(), tables=[table])],
        rows=scored_rows(per_image, threshold, pictures or {}),
        footer=dict(footer),
        notes=[e["error"] for e in report.get("errors", [])],
        class_names=sorted({str(e["class"]) for e in per_image if e.get("class")}),
        iou_label=f"IoU @{threshold} ({shown})" if shown else f"IoU @{threshold}",
        colormap=colormap,
    )
