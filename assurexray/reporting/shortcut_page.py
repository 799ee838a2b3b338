"""The page of ``shortcuts``: its ``shortcuts_report.json`` and ``shortcuts.csv`` as one
:class:`~assurexray.reporting.html_report.ReportPage`.

The verdict's sentences come first; then one table of the tests behind the flags, each
number beside its null or chance with its interval, the p-value, the level and the flag;
the strategies per class (cluster sizes, center make-up, the suspect ones named); the
subgroups; the three pictures; and one row per image (artefacts found, heatmap mass on
them, the change of the explained class's probability when they are inpainted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assurexray.core.text import percent
from assurexray.reporting.html_report import Column, ImageRow, ReportPage, Section, Table
from assurexray.reporting.page_parts import PageContext
from assurexray.reporting.shortcut_tests import TEST_COLUMNS, p_value, share, test_rows

FIGURES = (
    ("shortcut_mean_heatmaps.png", "Mean heatmap per predicted class and per center"),
    (
        "shortcut_artefacts.png",
        "Images whose prediction moved most when their artefacts were "
        "inpainted: detections, heatmap, inpainted film",
    ),  # fmt: skip
    ("shortcut_strategies.png", "Strategies (SpRAy): eigenvalues and each cluster's mean map"),
)
NO_CONTEXT = PageContext()
IMAGE_COLUMNS = [
    Column("artefacts", "Artefacts"),
    Column("mass_artefacts", "Mass on artefacts", "pct"),
    Column("delta_p", "Δp removed", "signed"),
    Column("delta_p_control", "Δp control", "signed"),
]


def strategy_section(strategies: Mapping[str, Any]) -> Section:
    """Clusters per predicted class: size, artefact/border mass, center make-up, suspects."""
    rows, shades, suspects = [], [], []
    for name, entry in strategies.items():
        if not isinstance(entry, Mapping) or "clusters" not in entry:
            continue
        for c in entry["clusters"]:
            centers = ", ".join(f"{k}: {v}" for k, v in c.get("centers", {}).items())
            rows.append(
                [
                    f"{name} #{c['cluster']}",
                    f"{c['size']} ({percent(c.get('share'), 0)})",
                    f"{percent(c.get('mean_artefact_mass'))} vs "
                    f"{percent(c.get('rest_artefact_mass'))} (p {p_value(c.get('mass_p')) or '–'})",
                    percent(c.get("accuracy")),
                    centers or "–",
                    "SUSPECT" if c.get("suspect") else "",
                ]
            )
            shades.append([-0.5 if c.get("suspect") else None] * 6)
            if c.get("suspect"):
                suspects.append(f"{name} #{c['cluster']}: {c.get('reason', '')}")
    table = Table(
        ["class #cluster", "images", "mass on artefacts or border vs rest of class",
         "accuracy", "centers (images)", "suspect"],
        rows,
        caption="a cluster is suspect when it sits on artefacts or the border more than the "
        "rest of its class and mostly comes from one center; red: suspect",
        shades=shades,
    )  # fmt: skip
    text = (
        "Suspect: " + "; ".join(suspects) + "."
        if suspects
        else "No strategy cluster is suspect."
        if rows
        else "No strategy clusters."
    )
    return Section("Strategies per predicted class", text=text, tables=[table] if rows else [])


def subgroup_section(sub: Mapping[str, Any]) -> Section:
    """Accuracy per subgroup beside its majority-class chance and the rest."""
    if sub.get("status") != "ok":
        return Section("Subgroups", text=f"Skipped: {sub.get('reason', 'not run')}.")
    rows, shades = [], []
    for column, entry in sub.get("columns", {}).items():
        tests = {t["group"]: t for t in entry["gap"]["tests"]}
        for r in entry["table"]["rows"]:
            t = tests.get(r["group"], {})
            rows.append(
                [
                    f"{column} = {r['group']}",
                    str(r["n"]),
                    share(r.get("accuracy"), r.get("accuracy_ci")),
                    f"{percent(r.get('majority_accuracy'))} ({r.get('majority_class') or '–'})",
                    percent(t.get("rest_accuracy")),
                    p_value(t.get("p_holm")),
                    "yes" if t.get("flagged") else "no",
                ]
            )
            shades.append([-0.5 if t.get("flagged") else None] * 7)
    table = Table(
        ["subgroup", "images", "accuracy", "chance (commonest class)", "rest",
         "p (Fisher, Holm)", "flagged"],
        rows,
        caption=f"[brackets]: 95 % Wilson interval; flagged at p < "
        f"{sub.get('alpha_per_column', 0):.3g} (level / number of columns) and a gap of at "
        "least the least material effect; red: flagged",
        shades=shades,
    )  # fmt: skip
    return Section("Subgroups", tables=[table])


def image_rows(table: Any, context: PageContext) -> list[ImageRow]:
    """One row per analysed image of ``shortcuts.csv`` (a DataFrame; failures left out)."""
    rows = []
    for r in table.to_dict("records"):
        if not isinstance(r.get("predicted"), str):
            continue
        image_id = str(r.get("image_id") if isinstance(r.get("image_id"), str) else r["path"])
        dp = _delta(r.get("p_removed"), r.get("p_baseline"))
        rows.append(
            ImageRow(
                image_id=image_id,
                true_class=r["label"] if isinstance(r.get("label"), str) else None,
                predicted_class=r["predicted"],
                confidence=float(r["p_explained"]),
                pictures=context.pictures_of(image_id),
                facts=r,
                values={
                    "artefacts": (r.get("kinds") or "") if r.get("artefacts") else "none",
                    "mass_artefacts": r["mass_artefacts"] if r.get("artefacts") else None,
                    "delta_p": dp,
                    "delta_p_control": _delta(r.get("p_control"), r.get("p_baseline")),
                },
            )
        )
    return rows


def _failure(entry: Mapping[str, Any]) -> str:
    name = Path(str(entry.get("image", ""))).name
    error = str(entry.get("error", ""))
    return error if name in error else f"{name}: {error}"


def _delta(after: Any, before: Any) -> float | None:
    try:
        value = float(after) - float(before)
    except (TypeError, ValueError):
        return None
    return None if value != value else value


def shortcuts_page(
    report: Mapping[str, Any],
    context: PageContext = NO_CONTEXT,
    table: Any = None,
    figures: Sequence[str] = (),
) -> ReportPage:
    """The page of ``shortcuts``.

    Args:
        report: Its ``shortcuts_report.json``.
        context: The per-image pictures by image id, the footer, the colormap. Without
            a footer, the report's own ``checkpoint`` and ``settings`` fill it.
        table: Its per-image table (``shortcuts.csv`` as a DataFrame); None shows no rows.
        figures: File names of the pictures written beside the page (of :data:`FIGURES`).
    """
    flags = list(report.get("flags", []))
    highlight = "Flags: " + (", ".join(flags) if flags else "none")
    verdict = Section("Verdict", highlight=highlight, points=list(report.get("verdict", [])))
    alpha = report.get("settings", {}).get("alpha", 0.05)
    tests = Section(
        "Tests behind the flags",
        tables=[
            Table(
                TEST_COLUMNS,
                test_rows(report),
                caption="[brackets]: 95 % interval; a flag needs p below its level and a "
                f"material effect (level {alpha:g}; the removal's two tests {alpha / 2:g} each)",
                shades=None,
            )
        ],
        points=[
            f"{name.replace('_', ' ')}: {why}"
            for name, why in report.get("flag_reasons", {}).items()
        ],
    )
    pictures = Section(
        "Pictures",
        figures=[(caption, name) for name, caption in FIGURES if name in figures],
        links=[("shortcuts_report.json", "shortcuts_report.json"),
               ("shortcuts.csv", "shortcuts.csv")],
    )  # fmt: skip
    context = context.with_report_footer(report)
    rows = [] if table is None else image_rows(table, context)
    return context.page(
        "shortcuts",
        "Does the model take shortcuts?",
        sections=[
            verdict,
            tests,
            strategy_section(report.get("strategies", {})),
            subgroup_section(report.get("subgroups", {})),
            pictures,
        ],
        rows=rows,
        class_names=sorted({r.predicted_class for r in rows if r.predicted_class}),
        notes=[_failure(e) for e in report.get("errors", [])],
        columns=IMAGE_COLUMNS,
    )
