"""The audit's leaderboard as a terminal table that fits the terminal.

Every column is worth having on a wide terminal; on a narrow one the least needed go
first (the IoU columns, then the stability columns), then the intervals, rather than
squeezing every number into a few letters; a long candidate name folds onto a second line
rather than losing its end. What is left out is named under the table; ``audit.csv``
and ``report.html`` always hold all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from rich.table import Table

from assurexray.core.text import number, percent, with_interval

#: Columns dropped first when the table is too wide, in order.
DROP_ORDER = ("IoU", "Otsu IoU", "adv. SSIM", "stability")
#: Space rich spends per column (padding and border).
COLUMN_PADDING = 3


@dataclass(frozen=True)
class Column:
    """One column: its header and how an entry of the report becomes its cell."""

    header: str
    cell: Callable[[dict[str, Any], bool], str]  # (entry, with intervals) -> text
    right: bool = True


def _score(key: str, digits: int = 2) -> Callable[[dict[str, Any], bool], str]:
    return lambda entry, _: number(entry.get(key), digits)


def _interval(key: str) -> Callable[[dict[str, Any], bool], str]:
    def cell(entry: dict[str, Any], intervals: bool) -> str:
        if not intervals:
            return number(entry.get(key))
        return with_interval(entry.get(key), entry.get(f"{key}_ci"))

    return cell


def _sanity(entry: dict[str, Any], _: bool) -> str:
    sanity = entry.get("sanity") or {}
    if sanity.get("passed") is None:
        return "n/a"
    verdict = "[green]pass[/green]" if sanity["passed"] else "[red]fail[/red]"
    return f"{verdict} {sanity['spearman']:.2f}"


def columns(report: dict[str, Any]) -> list[Column]:
    """Every column of the leaderboard, in order."""
    threshold = report["iou_thresholds"][0]
    return [
        Column("#", lambda e, _: str(e.get("rank", "-"))),
        Column("candidate", lambda e, _: escape(e["name"]), right=False),
        Column("localis.", _score("localisation")),
        Column("hit rate", _interval("hit_rate")),
        Column("rel. mass", _interval("relevance_mass")),
        Column(f"IoU@{threshold:g}", _score("mean_iou")),
        Column("Otsu IoU", _score("mean_otsu_iou")),
        Column("ROAD", _score("faithfulness", 3)),
        Column("stability", _score("stability_ssim")),
        Column("adv. SSIM", _score("adversarial_ssim")),
        Column("sanity", _sanity),
    ]


def _width(chosen: list[Column], entries: list[dict[str, Any]], intervals: bool) -> int:
    from rich.text import Text

    total = 1
    for column in chosen:
        cells = [Text.from_markup(column.cell(e, intervals)).cell_len for e in entries]
        total += max([len(column.header), *cells]) + COLUMN_PADDING
    return total


def audit_table(report: dict[str, Any], width: int) -> tuple[Table, list[str]]:
    """The leaderboard fitted to ``width`` columns, and the headers left out."""
    entries = [*report["candidates"], *report["baselines"]]
    chosen, left_out, intervals = columns(report), [], True
    for name in DROP_ORDER:
        if _width(chosen, entries, intervals) <= width:
            break
        dropped = next(c for c in chosen if c.header.startswith(name))
        chosen.remove(dropped)
        left_out.append(dropped.header)
    if _width(chosen, entries, intervals) > width:
        intervals = False
        left_out.append("the 95 % intervals")
    title = (
        f"Audit: {report['num_images']} images ({report['selection']}); "
        f"checks on {report['num_checked']}; ranked by {report['rank_by'].replace('_', ' ')}"
    )
    table = Table(title=title)
    for column in chosen:
        table.add_column(
            column.header, justify="right" if column.right else "left", overflow="fold"
        )
    baselines = {b["name"] for b in report["baselines"]}
    for entry in entries:
        style = "bold green" if entry["name"] == report["recommended"] else ""
        table.add_row(
            *(column.cell(entry, intervals) for column in chosen),
            style="dim" if entry["name"] in baselines else style,
        )
    return table, left_out


def flip_line(report: dict[str, Any]) -> str | None:
    """How many adversarial attacks changed the class (the same for every candidate)."""
    adversarial = report.get("adversarial") or {}
    pairs, flipped = adversarial.get("pairs"), adversarial.get("flipped")
    if not pairs or flipped is None:
        return None
    return (
        f"adversarial attacks that changed the class: {flipped} of {pairs} "
        f"({percent(flipped / pairs)}), the same for every candidate"
    )
