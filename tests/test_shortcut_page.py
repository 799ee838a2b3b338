"""report.html of ``shortcuts``: the verdict, each test beside its null, flags, pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assurexray.core.files import write_png
from assurexray.core.text import with_interval
from assurexray.reporting.html_report import render_html, write_report
from assurexray.reporting.page_parts import PageContext
from assurexray.reporting.shortcut_page import FIGURES, shortcuts_page
from assurexray.shortcuts.subgroups import subgroup_gap, subgroup_table
from tests.test_html_report import _Page

EVIL = "<b>Evil</b>"  # a class name with markup
EVIL_FILE = "<img src=x onerror=alert(1)>.png"


def _table() -> pd.DataFrame:
    """``shortcuts.csv`` as the job keeps it: two centers, center 2 mostly wrong."""
    n = 40
    center = np.repeat(["1", "2"], n // 2)
    label = np.where(np.arange(n) % 2, "Normal", EVIL)
    right = np.where(center == "1", np.arange(n) % 10 != 0, np.arange(n) % 10 < 3)
    predicted = np.where(right, label, np.where(label == "Normal", EVIL, "Normal"))
    has = np.arange(n) % 3 == 0
    return pd.DataFrame(
        {
            "image_id": [EVIL_FILE if i == 0 else f"IMG{i:03d}" for i in range(n)],
            "path": [f"/data/{i}.png" for i in range(n)],
            "label": label,
            "predicted": predicted,
            "explained": predicted,
            "p_explained": np.linspace(0.5, 0.99, n),
            "artefacts": has.astype(int),
            "kinds": np.where(has, "marker", ""),
            "mass_artefacts": np.where(has, 0.25, np.nan),
            "p_baseline": np.where(has, 0.8, np.nan),
            "p_removed": np.where(has, 0.3, np.nan),
            "p_control": np.where(has, 0.79, np.nan),
            "center": center,
        }
    )


def _report(table: pd.DataFrame) -> dict:
    """The sections of ``shortcuts_report.json`` (keys as ``shortcuts/report.py`` writes them);
    the subgroups from the job's own functions."""
    sub = subgroup_table(table, "center", "label", "predicted", [EVIL, "Normal"])
    gap = subgroup_gap(sub, 0.05, 0.05)
    flags = ["artefact_attention", "artefact_reliance", "subgroup_gap"]
    return {
        "num_images": len(table),
        "checkpoint": {"path": "/models/best.pt", "sha256": "ab" * 32, "arch": "x"},
        "settings": {"alpha": 0.05, "split": "test"},
        "interrupted": False,
        "errors": [{"image": "/data/broken.png", "error": "broken.png: not an image"}],
        "artefacts": {"images_with_artefacts": 14, "detector": "detector"},
        "attention": {
            "n_images": 14,
            "mass_on_artefacts": 0.25,
            "mass_on_artefacts_ci": [0.2, 0.3],
            "area_on_artefacts": 0.04,
            "area_on_artefacts_ci": [0.03, 0.05],
            "enrichment": 6.25,
            "enrichment_ci": [5.0, 7.5],
            "p_value": 1.2e-5,
            "off_anatomy": {
                "n_images": 40,
                "mass": 0.31,
                "mass_ci": [0.28, 0.34],
                "area": 0.3,
                "area_ci": [0.29, 0.31],
                "enrichment": 1.03,
                "enrichment_ci": [0.95, 1.1],
                "p_value": 0.41,
            },
            "border": {
                "n_images": 40,
                "mass": 0.5,
                "mass_ci": [0.45, 0.55],
                "area": 0.51,
                "area_ci": [0.5, 0.52],
                "enrichment": 0.98,
                "enrichment_ci": [0.9, 1.06],
                "p_value": 0.62,
            },
        },  # fmt: skip
        "counterfactual": {
            "n_images": 14,
            "flip_rate": 0.64,
            "flip_rate_ci": [0.39, 0.84],
            "control_flip_rate": 0.07,
            "control_flip_rate_ci": [0.01, 0.31],
            "mean_delta_probability": -0.5,
            "mean_delta_probability_ci": [-0.6, -0.4],
            "mean_abs_delta_probability": 0.5,
            "mean_abs_delta_probability_ci": [0.4, 0.6],
            "control_mean_delta_probability": -0.01,
            "control_mean_delta_probability_ci": [-0.02, 0.0],
            "control_mean_abs_delta_probability": 0.01,
            "p_value": 0.00012,
            "mcnemar_p_value": 0.0039,
        },
        "strategies": {
            EVIL: {
                "k": 2,
                "clusters": [
                    {
                        "cluster": 0,
                        "size": 14,
                        "share": 0.7,
                        "mean_artefact_mass": 0.2,
                        "rest_artefact_mass": 0.6,
                        "mass_p": 0.9,
                        "accuracy": 0.8,
                        "centers": {"1": 9, "2": 5},
                        "suspect": False,
                        "reason": "",
                    },
                    {
                        "cluster": 1,
                        "size": 6,
                        "share": 0.3,
                        "mean_artefact_mass": 0.6,
                        "rest_artefact_mass": 0.2,
                        "mass_p": 0.004,
                        "accuracy": 0.3,
                        "centers": {"2": 6},
                        "dominant_center": "2",
                        "suspect": True,
                        "reason": "mass excess 0.4; center 2 makes 1",
                    },
                ],
            },
        },  # fmt: skip
        "subgroups": {
            "status": "ok",
            "alpha_per_column": 0.05,
            "columns": {"center": {"table": sub.to_dict(), "gap": gap.to_dict()}},
        },
        "site_probe": {
            "status": "ok",
            "n": 40,
            "balanced_accuracy": 0.71,
            "ci": [0.55, 0.85],
            "chance": 0.5,
            "null_mean": 0.49,
            "p_value": 0.03,
            "metadata": {"status": "ok", "balanced_accuracy": 0.52, "ci": [0.4, 0.64]},
        },
        "flags": flags,
        "flag_reasons": {name: f"because of {name}" for name in flags},
        "verdict": ["Removing the artefacts flips 64% [39%–84%] of the predictions.", "Flags: …"],
    }


def _rows_of(html: str, caption_start: str) -> list[list[str]]:
    """The cells of the verdict table whose caption starts with ``caption_start``."""
    import re

    tables = re.findall(r"<table class=\"small\">(.*?)</table>", html, re.S)
    chosen = [t for t in tables if re.search(rf"<caption>{re.escape(caption_start)}", t)]
    assert len(chosen) == 1
    rows = re.findall(r"<tr>(.*?)</tr>", chosen[0].split("<tbody>")[1], re.S)
    return [[c.strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)] for r in rows]


@pytest.fixture
def page_text(tmp_path: Path) -> tuple[str, dict]:
    table = _table()
    report = _report(table)
    for name, _ in FIGURES:
        write_png(tmp_path / name, np.zeros((20, 30, 3), np.uint8))
    page = shortcuts_page(report, PageContext(), table, figures=[n for n, _ in FIGURES])
    return write_report(page, tmp_path).read_text(), report


def test_verdict_flags_and_every_test_beside_its_null(page_text) -> None:
    html, report = page_text
    assert report["verdict"][0] in html
    assert "Flags: artefact_attention, artefact_reliance, subgroup_gap" in html
    rows = _rows_of(html, "[brackets]: 95 % interval; a flag")
    assert len(rows) == 10 and len({r[0] for r in rows}) == 10  # one row per test
    attention = next(r for r in rows if r[0].startswith("attention on artefacts (14"))
    assert attention[1:] == ["25% [20%–30%]", "4% [3%–5%]", "1.2e-05", "0.05",
                             "yes (artefact_attention)"]  # fmt: skip
    off = next(r for r in rows if r[0].startswith("off the anatomy"))
    assert off[1:] == ["31% [28%–34%]", "30% [29%–31%]", "0.41", "0.05", "no"]
    flips = next(r for r in rows if "flipped" in r[0])
    assert flips[1:] == ["64% [39%–84%]", "7% [1%–31%]", "0.0039", "0.025",
                         "yes (artefact_reliance)"]  # fmt: skip
    probe = next(r for r in rows if r[0].startswith("site probe: center"))
    assert probe[1] == with_interval(0.71, [0.55, 0.85]) and probe[3:] == ["0.03", "0.05", "no"]
    assert probe[2].startswith("0.50 chance")
    meta = next(r for r in rows if "metadata" in r[0])
    assert meta[2] == "0.52 [0.40–0.64] from metadata"
    # the subgroup row is center 2 (the weak one), its accuracy beside the rest's, flagged
    gap = next(r for r in rows if r[0].startswith("subgroup gap"))
    groups = report["subgroups"]["columns"]["center"]["gap"]["tests"]
    weak = next(t for t in groups if t["group"] == "2")
    assert weak["flagged"] and "center = 2" in gap[0] and gap[-1] == "yes (subgroup_gap)"
    assert gap[2] == f"{weak['rest_accuracy']:.0%} the rest"


def test_strategies_name_the_suspect_and_subgroups_show_chance(page_text) -> None:
    html, _ = page_text
    strategies = _rows_of(html, "a cluster is suspect")
    assert [r[-1] for r in strategies] == ["", "SUSPECT"]
    assert strategies[1][1] == "6 (30%)" and strategies[1][4] == "2: 6"
    assert "Suspect: &lt;b&gt;Evil&lt;/b&gt; #1: mass excess 0.4" in html
    subgroups = _rows_of(html, "[brackets]: 95 % Wilson")
    assert [r[0] for r in subgroups] == ["center = 1", "center = 2"]
    assert subgroups[1][-1] == "yes" and subgroups[0][-1] == "no"


def test_pictures_rows_and_escaping(page_text, tmp_path: Path) -> None:
    html, _ = page_text
    parsed = _Page(html)
    images = [a["src"] for tag, a in parsed.tags if tag == "img" and a.get("src")]
    assert [name for name, _ in FIGURES] == [s for s in images if s.endswith(".png")]
    assert all((tmp_path / s).is_file() for s in images)
    assert parsed.row_headers[-5:] == [
        "Artefacts", "Mass on artefacts", "Δp removed", "Δp control", "Outcome"
    ]  # fmt: skip
    rows = {r["image_id"]: r for r in parsed.rows()}
    assert len(rows) == 40 and rows["IMG003"]["values"]["delta_p"] == pytest.approx(-0.5)
    assert rows["IMG001"]["values"]["artefacts"] == "none"
    assert "<td>marker</td>" in html and ">-0.50</td>" in html and ">25%</td>" in html
    # markup in a file name and a class name is text, never a tag
    assert EVIL not in html and EVIL_FILE not in html
    assert "&lt;b&gt;Evil&lt;/b&gt;" in html and EVIL_FILE in rows
    assert not [t for t, a in parsed.tags if t == "b" or "onerror" in a]
    assert "broken.png: not an image" in parsed.text_by_id["notes"]


def test_a_skipped_probe_and_no_figures_say_so() -> None:
    table = _table()
    report = _report(table)
    report["site_probe"] = {"status": "skipped", "reason": "no center column"}
    report["subgroups"] = {"status": "skipped", "reason": "no labels (--images)"}
    html = render_html(shortcuts_page(report))
    assert "skipped: no center column" in html and "Skipped: no labels (--images)." in html
    assert "<figure>" not in html and "/models/best.pt" in html  # footer from the report
