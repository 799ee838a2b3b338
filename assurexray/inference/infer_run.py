"""One ``infer`` run's record: per-image results and failures in input order, and its files."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assurexray import __version__
from assurexray.core.files import write_csv, write_json


@dataclass
class InferRun:
    """Per-image results and failures of one run, and where its files went."""

    output: Path
    class_names: tuple[str, ...]
    checkpoint: dict[str, Any]
    results: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # predictions.csv, input order
    report_facts: dict[str, str] | None = None  # footer of report.html; None: no page
    pictures: dict[str, Any] = field(default_factory=dict)  # report.html's, by image path

    def summary(self) -> dict[str, Any]:
        counts = Counter(r["predicted_class"] for r in self.results)
        return {
            "package_version": __version__,
            "checkpoint": self.checkpoint,
            "num_processed": len(self.results),
            "num_failed": len(self.failures),
            "counts_per_class": {name: counts.get(name, 0) for name in self.class_names},
            "results": self.results,
            "errors": self.failures,
        }

    def write_batch_files(self) -> dict[str, Path]:
        """Write ``predictions.csv`` and ``batch_results.json``."""
        import pandas as pd

        columns = [
            "image",
            "predicted_class",
            "confidence",
            *(f"p_{name}" for name in self.class_names),
            "error",
        ]  # fixed, whichever image comes first or fails
        return {
            "predictions": write_csv(
                self.output / "predictions.csv", pd.DataFrame(self.rows, columns=columns)
            ),
            "batch_results": write_json(self.output / "batch_results.json", self.summary()),
        }

    def write_report(self, colormap: str) -> Path:
        """Write ``report.html``: every image with its prediction, heatmap and facts."""
        from assurexray.reporting.html_report import write_report
        from assurexray.reporting.report_pages import infer_page

        page = infer_page(
            self.summary(), pictures=self.pictures, footer=self.report_facts, colormap=colormap
        )
        return write_report(page, self.output)
