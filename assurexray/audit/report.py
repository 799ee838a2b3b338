"""The audit's files: ``audit_report.json``, ``audit.csv``, ``audit_leaderboard.png``
and ``audit_methods.png``, each written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pandas as pd

from assurexray.core.files import write_csv, write_json, write_png
from assurexray.reporting import render as draw
from assurexray.reporting.figures import figure_pixels, pyplot

if TYPE_CHECKING:
    from assurexray.audit.options import AuditOptions
    from assurexray.audit.scoring import AuditResult

SCORES = (
    "localisation",
    "hit_rate",
    "relevance_mass",
    "mean_iou",
    "mean_otsu_iou",
    "faithfulness",
    "stability_ssim",
    "adversarial_ssim",
    "adversarial_flip_share",
)
TILE = 176


def write_outputs(result: AuditResult, options: AuditOptions) -> list[Path]:
    """Write every file of the audit into ``options.output``; return their paths."""
    out = options.output
    files = [
        write_json(out / "audit_report.json", result.report),
        write_csv(out / "audit.csv", leaderboard_table(result.report)),
        write_png(out / "audit_leaderboard.png", leaderboard_figure(result.report)),
    ]
    if result.shown:
        files.append(write_png(out / "audit_methods.png", methods_figure(result, options)))
    return files


def write_page(result: AuditResult, options: AuditOptions) -> Path:
    """``report.html``: the leaderboard and verdict, and the shown images with the map of the
    recommended candidate (else the top-ranked one) and the expert outline."""
    from assurexray.reporting.html_report import write_pictures, write_report
    from assurexray.reporting.page_parts import PageContext
    from assurexray.reporting.report_pages import audit_page

    report = result.report
    best = report["recommended"] or report["candidates"][0]["name"]
    pictures = {}
    for image in result.shown:
        assert image.gray is not None  # set for every shown image
        heat = image.geometry.heatmap_to_original(image.maps[best])
        pictures[image.image_id] = write_pictures(
            options.output, image.image_id, image.gray, heat, image.mask, colormap=options.colormap
        )
    page = audit_page(report, PageContext(pictures, colormap=options.colormap))
    return write_report(page, options.output)


def leaderboard_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per candidate (in rank order) and per baseline, with every score and interval."""
    rows = []
    for kind, entries in (("candidate", report["candidates"]), ("baseline", report["baselines"])):
        for entry in entries:
            row: dict[str, Any] = {
                "name": entry["name"],
                "kind": kind,
                "rank": entry.get("rank"),
                "method": entry["method"],
                "layers": "+".join(entry["layers"]),
            }
            for score in SCORES:
                interval = entry.get(f"{score}_ci") or [None, None]
                row.update(
                    {
                        score: entry.get(score),
                        f"{score}_low": interval[0],
                        f"{score}_high": interval[1],
                    }
                )
            sanity = entry.get("sanity") or {}
            row.update(
                {
                    "stability_ssim_worst": entry.get("stability_ssim_worst"),
                    "adversarial_ssim_worst": entry.get("adversarial_ssim_worst"),
                    "sanity_passed": sanity.get("passed"),
                    "sanity_spearman": sanity.get("spearman"),
                    "beats_random_faithfulness": entry.get("faithfulness_vs_random", {}).get(
                        "beats_random"
                    ),
                    "beats_centre": entry.get("vs_centre", {}).get("beats_centre"),
                    "eligible": entry.get("eligible"),
                    "recommended": entry["name"] == report.get("recommended"),
                    "chance_level": report["chance_level"],
                }
            )
            rows.append(row)
    return pd.DataFrame(rows)


def leaderboard_figure(report: dict[str, Any], path: Path | None = None) -> np.ndarray:
    """Hit rate and relevance mass with their 95 % intervals, chance and baselines marked.

    Returns the picture's RGB pixels; with ``path``, also writes it there as PNG.
    """
    plt = pyplot()

    entries = [*report["candidates"], *report["baselines"]]
    names = [e["name"] for e in entries]
    height = max(3.0, 0.32 * len(entries) + 1.5)
    figure, axes = plt.subplots(1, 2, figsize=(13, height), sharey=True)
    for axis, score in zip(axes, ("relevance_mass", "hit_rate"), strict=True):
        for y, entry in enumerate(entries):
            value, interval = entry.get(score), entry.get(f"{score}_ci")
            if value is None:
                continue
            colour = _colour(entry, report)
            if interval:
                axis.errorbar(
                    value,
                    y,
                    xerr=[[value - interval[0]], [interval[1] - value]],
                    fmt="o",
                    color=colour,
                    capsize=3,
                )
            else:
                axis.plot(value, y, "o", color=colour)
        chance = report.get("chance_level")
        if chance is not None:
            axis.axvline(chance, color="black", linestyle="--", linewidth=1)
            axis.text(chance, -0.9, " chance", fontsize=8, va="bottom")
        centre = next((b for b in report["baselines"] if b["name"] == "centre"), None)
        if centre and centre.get(score) is not None:
            axis.axvline(centre[score], color="grey", linestyle=":", linewidth=1)
        axis.set_xlabel(score.replace("_", " ") + " (95 % CI)")
        axis.set_xlim(0, 1)
        axis.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(names)), names, fontsize=8)
    axes[0].invert_yaxis()
    figure.suptitle(
        f"Audit over {report['num_images']} images — green: recommended, blue: passes the "
        "checks, orange: fails a check, grey: baselines; dashed: chance, dotted: centre baseline",
        fontsize=9,
    )
    figure.tight_layout()
    pixels = figure_pixels(figure, dpi=100)
    if path is not None:
        write_png(path, pixels)
    return pixels


def _colour(entry: dict[str, Any], report: dict[str, Any]) -> str:
    if entry["name"] in {b["name"] for b in report["baselines"]}:
        return "grey"
    if entry["name"] == report.get("recommended"):
        return "green"
    return "tab:blue" if entry.get("eligible") else "tab:orange"


def methods_figure(result: AuditResult, options: AuditOptions) -> np.ndarray:
    """One row per shown image: the radiograph with the outline, then every map over it."""
    report = result.report
    order = [e["name"] for e in report["candidates"]] + [b["name"] for b in report["baselines"]]
    tiles = []
    for image in result.shown:
        assert image.gray is not None and image.mask is not None  # set for every shown image
        gray = draw.fit_display(image.gray, TILE)
        mask = cv2.resize(
            image.mask.astype(np.uint8), gray.shape[::-1][:2], interpolation=cv2.INTER_NEAREST
        ).astype(bool)
        tiles.append(
            draw.add_caption(draw.outline(gray, mask), f"{image.image_id} ({image.label})")
        )
        for name in order:
            heat = image.geometry.heatmap_to_original(image.maps[name])
            heat = cv2.resize(heat, gray.shape[::-1][:2], interpolation=cv2.INTER_LINEAR)
            picture = draw.outline(draw.overlay(gray, heat, colormap=options.colormap), mask)
            tiles.append(draw.add_caption(picture, name))
    figure = draw.grid(tiles, ncols=len(order) + 1, cell_size=(TILE + 40, TILE))
    title = "Each map over the radiograph, expert outline in green (columns in rank order, "
    return draw.add_caption(figure, title + "then the baselines)")


def versions() -> dict[str, str]:
    """Versions of the packages whose code produced the numbers."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("assurexray", "torch", "timm", "grad-cam", "numpy", "scipy", "scikit-image"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def settings_record(options: AuditOptions) -> dict[str, Any]:
    """The settings that shaped the numbers, for the report."""
    return {
        "methods": list(options.methods),
        "layers": list(options.layers) or "auto",
        "rank_by": options.rank_by,
        "check_images": options.check_images,
        "sanity_depth": options.sanity_depth,
        "sanity_threshold": options.sanity_threshold,
        "road_percentiles": list(options.road_percentiles),
        "adversarial": {
            "attacks": list(options.adversarial_attacks),
            "epsilon_grey_levels": options.adversarial_epsilon,
            "pgd_steps": options.adversarial_steps,
            "pgd_step_size_grey_levels": options.adversarial_step_size,
        },
        "thresholds": list(options.choice.thresholds),
        "annotation_mode": options.choice.annotation_mode,
        "per_class": options.choice.per_class,
        "seed": options.seed,
    }
