"""The parts the report pages share: formatted values, classification sections, score rows.

:class:`PageContext` is what every page takes from its job besides the results
(the per-image pictures, the footer's facts, the colormap); :func:`pct`,
Scores are formatted by :mod:`assurexray.core.text`, the same way on every page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from assurexray.core.text import number, percent
from assurexray.evaluation.metrics import majority_accuracy
from assurexray.reporting.html_report import (
    ImageRow,
    Pictures,
    ReportPage,
    Section,
    Table,
    run_facts,
)

CLASS_SCORES = ("precision", "recall", "f1", "roc_auc")
SCORE_NAMES = {
    "localisation": "localisation (mean of hit and mass)",
    "hit_rate": "hit rate (pointing game)",
    "relevance_mass": "relevance mass",
    "mean_iou": "mean IoU",
    "mean_otsu_iou": "mean Otsu IoU",
    "faithfulness": "ROAD faithfulness",
    "stability_ssim": "stability (SSIM)",
    "adversarial_ssim": "adversarial stability (SSIM, class kept)",
    "adversarial_flip_share": "adversarial flips (class changed)",
}
PERCENT = {"hit_rate", "relevance_mass", "adversarial_flip_share"}


def classification_sections(metrics: Mapping[str, Any]) -> list[Section]:
    """Accuracy against the majority-class chance, per-class scores, the confusion matrix."""
    names = list(metrics["class_names"])
    per_class = metrics["per_class"]
    majority = majority_accuracy(metrics)
    headline = Table(
        ["measure", "value", "chance level"],
        [
            [
                "accuracy",
                percent(metrics["accuracy"], 1),
                f"{percent(majority, 1)} (commonest class)",
            ],
            ["macro-F1", number(metrics["macro_f1"]), ""],
            ["macro ROC AUC", number(metrics.get("macro_roc_auc")), "0.50"],
        ],
    )
    scores = Table(
        ["class", "images", "precision", "recall", "F1", "ROC AUC"],
        [
            [n, str(per_class[n]["support"]), *(number(per_class[n].get(k)) for k in CLASS_SCORES)]
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
    supports = [per_class[n]["support"] for n in names]
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


@dataclass(frozen=True)
class PageContext:
    """What a page takes from its job besides the results.

    Attributes:
        pictures: The pictures of each image
            (:func:`~assurexray.reporting.html_report.write_pictures`),
            by image id (infer: by image path).
        footer: Facts of the run (:func:`~assurexray.reporting.html_report.run_facts`).
        colormap: The heatmaps' colormap, for the legend.
    """

    pictures: Mapping[str, Pictures] = field(default_factory=dict)
    footer: Mapping[str, str] = field(default_factory=dict)
    colormap: str = "jet"

    def pictures_of(self, image_id: Any) -> Pictures:
        """The pictures of one image (none written: empty)."""
        return self.pictures.get(str(image_id), Pictures())

    def with_report_footer(self, report: Mapping[str, Any]) -> PageContext:
        """This context, its footer (when empty) filled from a report's own ``checkpoint``
        (``path``, ``sha256``) and ``settings``."""
        if self.footer:
            return self
        checkpoint = report.get("checkpoint") or {}
        footer = run_facts(
            checkpoint=checkpoint.get("path"),
            sha256=checkpoint.get("sha256"),
            settings=report.get("settings"),
        )
        return replace(self, footer=footer)

    def page(self, kind: str, title: str, **parts: Any) -> ReportPage:
        """The :class:`~assurexray.reporting.html_report.ReportPage` of a job, with this context."""
        return ReportPage(
            title=title, kind=kind, footer=dict(self.footer), colormap=self.colormap, **parts
        )
