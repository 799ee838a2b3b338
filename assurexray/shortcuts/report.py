"""The shortcut report: ``shortcuts_report.json``, ``shortcuts.csv`` and the pictures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from assurexray.audit.report import versions
from assurexray.core.callbacks import Warn
from assurexray.core.files import write_csv, write_json
from assurexray.engine.model_opening import OpenedModel
from assurexray.shortcuts.aggregate import (
    attention_section,
    counterfactual_section,
    probe_section,
    strategies_section,
    subgroup_section,
)
from assurexray.shortcuts.image_analysis import ImageFindings
from assurexray.shortcuts.model_pass import ModelTap
from assurexray.shortcuts.options import ShortcutsOptions
from assurexray.shortcuts.verdict import verdict

if TYPE_CHECKING:
    from assurexray.reporting.html_report import Pictures
    from assurexray.shortcuts.result import ShortcutsResult

DETECTOR = (
    "label-free OpenCV detector (top-hat, connected components, stroke, edge and "
    "solid-stamp tests; assurexray.shortcuts.artefacts)"
)
FLAG_ORDER = (
    "artefact_attention",
    "artefact_reliance",
    "off_anatomy_attention",
    "site_encoded",
    "subgroup_gap",
)


def build_report(
    table: pd.DataFrame,
    findings: list[ImageFindings],
    features: np.ndarray | None,
    model: OpenedModel,
    options: ShortcutsOptions,
    tap: ModelTap,
    failures: list[dict[str, str]],
    interrupted: bool,
    warn: Warn,
) -> dict[str, Any]:
    """Every section of ``shortcuts_report.json``; flags only for an uninterrupted run."""
    described = model.describe()
    report: dict[str, Any] = {
        "num_images": len(table),
        "checkpoint": described,
        "checkpoint_sha256": described["sha256"],
        "settings": options.settings_record(),
        "versions": versions(),
        "interrupted": interrupted,
        "errors": failures,
    }
    sources = sorted({f.source for f in findings})
    report["artefacts"] = {
        "images_with_artefacts": int(sum(bool(f.artefacts) for f in findings)),
        "detector": DETECTOR if sources != ["labelme"] else "the user's LabelMe outlines",
        "sources": sources,
        "dropped_on_tumour": int(sum(f.dropped_on_tumour for f in findings)),
        "per_image": [
            {"image": str(f.path), "boxes": f.boxes, "kinds": [a.kind for a in f.artefacts]}
            for f in findings
        ],
    }
    reasons: dict[str, str] = {}
    timings: dict[str, float] = {}
    report["timings"] = timings  # seconds; the job adds its image pass
    empty = table.empty
    if empty:
        for key in ("attention", "counterfactual", "strategies", "subgroups", "site_probe"):
            report[key] = {"status": "skipped", "reason": "no image analysed"}
        report["attention"].update(off_anatomy={}, border={})
    else:
        names = model.class_names
        attention, got = attention_section(table, [f.regions for f in findings], options)
        reasons.update(got)
        attention["heatmap"] = _heatmap_facts(model, tap, findings, options)
        report["attention"] = attention
        report["counterfactual"], got = counterfactual_section(table, names, options)
        reasons.update(got)
        maps = np.stack([f.common_map for f in findings])
        report["strategies"] = strategies_section(table, maps, options)
        report["subgroups"], got = subgroup_section(table, names, options)
        reasons.update(got)
        start = time.perf_counter()
        report["site_probe"], got = probe_section(table, features, options)
        timings["site_probe"] = time.perf_counter() - start
        reasons.update(got)
    report["flags"] = [] if interrupted else [f for f in FLAG_ORDER if f in reasons]
    report["flag_reasons"] = {} if interrupted else reasons
    report["verdict"] = verdict(report) if not empty else ["No image could be analysed."]
    for note in [] if empty else _skips(report):
        warn(note)
    return report


def _skips(report: dict[str, Any]) -> list[str]:
    return [
        f"{name.replace('_', ' ')} skipped: {report[name]['reason']}"
        for name in ("subgroups", "site_probe")
        if report[name].get("status") == "skipped"
    ]


def _heatmap_facts(
    model: OpenedModel, tap: ModelTap, findings: list[ImageFindings], o: ShortcutsOptions
) -> dict[str, Any]:
    size = model.preprocess.image_size
    cells = list(tap.cells) if tap.cells else None
    return {
        "method": model.explainer.method,
        "layers": list(model.explainer.target_layer_names),
        "scale": tap.scale_note,
        "cells": cells,
        "network_size": size,
        "pixels_per_cell": size / max(cells) if cells else None,
        "attention_frame": f"a copy at most {o.attention_side} px a side of each image",
    }


def write_outputs(
    result: ShortcutsResult, model: OpenedModel, options: ShortcutsOptions
) -> list[Path]:
    """``shortcuts_report.json``, ``shortcuts.csv`` and the three pictures."""
    from assurexray.shortcuts.pictures import write_pictures

    out = options.output
    files = [write_json(out / "shortcuts_report.json", result.report)]
    table = result.table.copy()
    if result.failures:
        failed = pd.DataFrame(
            {"path": [f["image"] for f in result.failures],
             "error": [f["error"] for f in result.failures]}
        )  # fmt: skip
        table = pd.concat([table, failed], ignore_index=True)
    files.append(write_csv(out / "shortcuts.csv", table))
    if not result.table.empty:
        files += write_pictures(result, model, options)
    return files


def write_page(
    result: ShortcutsResult,
    model: OpenedModel,
    options: ShortcutsOptions,
    pictures: dict[str, Pictures],
) -> Path:
    """``report.html``: the verdict, the tests beside their nulls, strategies, subgroups, the
    three pictures and one row per image (its radiograph and heatmap in ``report_images/``)."""
    from assurexray.reporting.html_report import job_facts, write_report
    from assurexray.reporting.page_parts import PageContext
    from assurexray.reporting.shortcut_page import shortcuts_page

    facts = job_facts(model, split=options.split, level=options.alpha, seed=options.seed)
    written = [path.name for path in result.files]
    page = shortcuts_page(
        result.report, PageContext(pictures, facts), table=result.table, figures=written
    )
    return write_report(page, options.output)
