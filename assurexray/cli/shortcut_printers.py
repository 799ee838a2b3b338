"""What the command line prints for a shortcut analysis (``assurexray shortcuts`` and the demo)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from assurexray.cli.terminal import console, show_failures, text, warn
from assurexray.core.text import number, with_interval

if TYPE_CHECKING:
    from assurexray.shortcuts.result import ShortcutsResult


def print_shortcuts(result: ShortcutsResult) -> None:
    """The shortcut analysis: its numbers beside their nulls, flags, verdict, files."""
    from rich.table import Table

    show_failures([f["error"] for f in result.failures])
    report = result.report
    if result.interrupted:
        warn(f"interrupted: the report holds the {report['num_images']} images analysed so far")
    table = Table(title=f"Shortcuts: {report['num_images']} images")
    for column in ("test", "observed", "null / control", "p", "flag"):
        table.add_column(column, justify="left" if column == "test" else "right")
    flags = set(report.get("flags", []))
    att, cf = report["attention"], report["counterfactual"]

    def p(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3g}"

    def mark(name: str) -> str:
        return "[bold red]yes[/bold red]" if name in flags else "no"

    if att.get("n_images"):
        table.add_row(
            "attention on artefacts (enrichment)",
            with_interval(att["enrichment"], att["enrichment_ci"]),
            "1 (moved shapes)",
            p(att["p_value"]),
            mark("artefact_attention"),
        )
    off = att.get("off_anatomy") or {}
    if off:
        table.add_row(
            "attention off the anatomy (enrichment)",
            with_interval(off["enrichment"], off["enrichment_ci"]),
            "1",
            p(off["p_value"]),
            mark("off_anatomy_attention"),
        )
    if cf.get("n_images"):
        table.add_row(
            "flips when artefacts are removed",
            with_interval(cf["flip_rate"], cf["flip_rate_ci"], as_percent=True),
            with_interval(cf["control_flip_rate"], cf["control_flip_rate_ci"], as_percent=True),
            p(cf["mcnemar_p_value"]),
            mark("artefact_reliance"),
        )
    probe = report["site_probe"]
    if probe.get("status") == "ok":
        table.add_row(
            "center from features (balanced acc.)",
            with_interval(probe["balanced_accuracy"], probe["ci"]),
            number(probe["chance"]),
            p(probe["p_value"]),
            mark("site_encoded"),
        )
    console.print(table)
    for sentence in report.get("verdict", []):
        console.print(f"• {text(sentence)}", soft_wrap=True)
    console.print(
        f"Results in {text(str(result.output))}: "
        + ", ".join(text(Path(f).name) for f in result.files)
    )
