"""train's test table: accuracy with its interval beside the majority-class accuracy."""

from __future__ import annotations

from rich.console import Console

from assurexray.cli.printers import _test_table
from assurexray.evaluation.statistics import wilson_interval


def test_accuracy_has_its_interval_and_chance_level():
    metrics = {
        "num_images": 10, "accuracy": 0.8, "macro_f1": 0.7512, "macro_roc_auc": 0.9,
        "per_class": {"Normal": {"support": 6}, "Benign": {"support": 2},
                      "Malignant": {"support": 2}},
    }  # fmt: skip
    console = Console(width=120, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(_test_table(metrics))
    out = console.export_text()
    low, high = wilson_interval(8, 10)
    assert f"80% [{low:.0%}–{high:.0%}]" in out and low < 0.8 < high
    assert "60% (always the commonest class)" in out  # 6 of 10 are Normal
    assert "0.751" in out and "0.900" in out and "10 images" in out
