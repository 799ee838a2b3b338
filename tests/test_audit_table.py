"""The audit's terminal table fits the terminal: columns go in order, names are never cut."""

from __future__ import annotations

from rich.console import Console

from assurexray.cli.audit_table import DROP_ORDER, audit_table, flip_line


def _entry(name: str, rank: int | str, value: float, passed: bool | None) -> dict:
    return {
        "name": name, "rank": rank, "localisation": value, "hit_rate": value,
        "hit_rate_ci": [value - 0.1, value + 0.1], "relevance_mass": value / 2,
        "relevance_mass_ci": [value / 2 - 0.05, value / 2 + 0.05], "mean_iou": 0.12,
        "mean_otsu_iou": 0.3, "faithfulness": 0.406, "stability_ssim": 0.92,
        "adversarial_ssim": 0.79,
        "sanity": {} if passed is None else {"passed": passed, "spearman": 0.44},
    }  # fmt: skip


REPORT = {
    "num_images": 40, "selection": "true positives", "num_checked": 12,
    "rank_by": "localisation", "iou_thresholds": [0.5], "recommended": "layercam@blocks.2",
    "candidates": [
        _entry("layercam@blocks.2", 1, 0.61, True),
        _entry("layercam@blocks.2+blocks.4+bn2", 2, 0.52, False),
    ],
    "baselines": [_entry("centre", "-", 0.27, None)],
    "adversarial": {"pairs": 24, "flipped": 14},
}  # fmt: skip


def _render(width: int) -> tuple[str, list[str]]:
    table, left_out = audit_table(REPORT, width)
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    return console.export_text(), left_out


def test_a_wide_terminal_shows_every_column_with_intervals():
    text, left_out = _render(200)
    assert left_out == []
    for header in ("IoU@0.5", "Otsu IoU", "stability", "adv. SSIM", "sanity", "ROAD"):
        assert header in text
    assert "0.61 [0.51–0.71]" in text and "layercam@blocks.2+blocks.4+bn2" in text


def test_a_narrow_terminal_drops_columns_in_order_and_never_cuts_a_name():
    text, left_out = _render(80)
    assert left_out[: len(DROP_ORDER)] == ["IoU@0.5", "Otsu IoU", "adv. SSIM", "stability"]
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text  # names fold onto a second line instead
    names = "".join(line.split("│")[2].strip() for line in text.splitlines() if "│" in line)
    assert "layercam@blocks.2layercam@blocks.2+blocks.4+bn2centre" in names
    middle, middle_out = _render(130)
    assert 0 < len(middle_out) < len(left_out) and "[0.51–0.71]" in middle


def test_the_flip_line_counts_attacks_once():
    assert flip_line(REPORT) == (
        "adversarial attacks that changed the class: 14 of 24 (58%), the same for every candidate"
    )
    assert flip_line({"adversarial": {"pairs": 0, "flipped": 0}}) is None
