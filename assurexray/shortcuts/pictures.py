"""The shortcut report's pictures (drawn by matplotlib, written atomically).

* ``shortcut_mean_heatmaps.png``: the mean heatmap per predicted class and per center, in
  a common square frame (each image's map stretched to it, so top-left is top-left).
* ``shortcut_artefacts.png``: the images whose prediction moved most when their artefacts
  were inpainted: the film with its detections, the heatmap, the inpainted film, and dp.
* ``shortcut_strategies.png``: per predicted class, the Laplacian's eigenvalue spectrum
  and each strategy cluster's mean map with its size and center make-up.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from assurexray.core.files import write_png
from assurexray.engine.model_opening import OpenedModel
from assurexray.engine.streaming import DISPLAY_SIDE
from assurexray.imaging.preprocess import decode_floor
from assurexray.imaging.reading import read_image
from assurexray.reporting.figures import figure_pixels, pyplot
from assurexray.reporting.render import fit_display
from assurexray.shortcuts.artefact_masks import artefact_mask, dilation_px
from assurexray.shortcuts.options import ShortcutsOptions
from assurexray.shortcuts.regions import inpaint

if TYPE_CHECKING:
    from assurexray.shortcuts.result import ShortcutsResult

#: Longest side, in pixels, of each film drawn in ``shortcut_artefacts.png``.
PANEL_SIDE = 400


def _save(figure: Any, path: Path) -> Path:
    return write_png(path, figure_pixels(figure, dpi=90))


def write_pictures(
    result: ShortcutsResult, model: OpenedModel, options: ShortcutsOptions
) -> list[Path]:
    """The three pictures (the artefact examples only when some image has artefacts)."""
    files = [mean_heatmaps(result, options.output / "shortcut_mean_heatmaps.png")]
    shown = examples(result, options.examples)
    if shown:
        files.append(artefact_examples(result, shown, model, options))
    files.append(strategies_figure(result, options.output / "shortcut_strategies.png"))
    return files


def mean_heatmaps(result: ShortcutsResult, path: Path) -> Path:
    """Mean heatmap per predicted class (top row) and per center (bottom row)."""
    plt = pyplot()
    table = result.table
    maps = np.stack([f.common_map for f in result.findings])
    rows = [("predicted", sorted(table["predicted"].astype(str).unique()))]
    if "center" in table and table["center"].notna().any():
        rows.append(("center", sorted(table["center"].dropna().astype(str).unique())))
    cols = max(len(levels) for _, levels in rows)
    figure, axes = plt.subplots(len(rows), cols, figsize=(2.6 * cols, 2.8 * len(rows)))
    axes = np.atleast_2d(axes).reshape(len(rows), cols)
    for r, (column, levels) in enumerate(rows):
        for c in range(cols):
            axis = axes[r, c]
            _image_panel(axis)
            if c >= len(levels):
                continue
            chosen = (table[column].astype(str) == levels[c]).to_numpy()
            mean = maps[chosen].mean(axis=0)
            axis.imshow(mean / max(float(mean.max()), 1e-12), cmap="jet", vmin=0, vmax=1)
            axis.set_title(f"{column} {levels[c]} (n={int(chosen.sum())})", fontsize=9)
    figure.suptitle("Mean heatmap in a common frame (each map stretched to a square)")
    figure.tight_layout()
    return _save(figure, path)


def examples(result: ShortcutsResult, count: int) -> list[int]:
    """Positions of the images with artefacts whose probability moved most on removal."""
    table = result.table
    if count <= 0 or "p_removed" not in table or table["p_removed"].isna().all():
        return []
    moved = (table["p_removed"] - table["p_baseline"]).abs().fillna(-1.0)
    order = np.argsort(-moved.to_numpy(), kind="stable")
    return [int(i) for i in order[:count] if moved.iloc[i] >= 0]


def artefact_examples(
    result: ShortcutsResult, rows: list[int], model: OpenedModel, options: ShortcutsOptions
) -> Path:
    """Film with detections, heatmap, film with the artefacts inpainted, and dp."""
    plt = pyplot()
    figure, axes = plt.subplots(len(rows), 3, figsize=(9, 3.1 * len(rows)), squeeze=False)
    floor = decode_floor(model.preprocess, DISPLAY_SIDE)
    side = max(DISPLAY_SIDE, model.preprocess.image_size)
    for axis_row, i in zip(axes, rows, strict=True):
        found = result.findings[i]
        row = result.table.iloc[i]
        work = read_image(found.path, reduce_to=floor).reduced(side).data
        # the same mask as the model's input was inpainted with
        r = dilation_px(work.shape, options.dilate_fraction)
        mask = artefact_mask(work.shape[:2], found.artefacts, dilate_px=r)
        # Inpainted in the frame the model's input came from, then drawn small (matplotlib
        # resamples large arrays slowly; each panel shows about 270 pixels).
        inpainted = fit_display(inpaint(work, mask), PANEL_SIDE)
        small = fit_display(work, PANEL_SIDE)
        scale = small.shape[0] / work.shape[0]
        work = small
        heat = cv2.resize(found.common_map, (work.shape[1], work.shape[0]))
        axis_row[0].imshow(work, cmap="gray")
        for a in found.artefacts:
            x0, y0, x1, y1 = (v * scale for v in a.box)
            axis_row[0].add_patch(
                plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="lime", lw=1.5)
            )
        kinds = Counter(a.kind for a in found.artefacts)
        found_kinds = ", ".join(f"{n} {_plural(k, n)}" for k, n in sorted(kinds.items()))
        axis_row[0].set_title(f"{Path(found.path).name}\n{found_kinds}", fontsize=8)
        axis_row[1].imshow(work, cmap="gray")
        axis_row[1].imshow(heat, cmap="jet", alpha=0.45)
        axis_row[1].set_title(f"heatmap of {row['explained']}", fontsize=8)
        axis_row[2].imshow(inpainted, cmap="gray")
        dp = row["p_removed"] - row["p_baseline"]
        axis_row[2].set_title(
            f"inpainted: p({row['explained']}) {row['p_baseline']:.2f} -> "
            f"{row['p_removed']:.2f}\n(dp {dp:+.2f}), now {row['predicted_removed']}",
            fontsize=8,
        )
        for axis in axis_row:
            _image_panel(axis)
    # fixed margins: every panel is an image without axes, and tight_layout would cost
    # more than drawing the figure; the space above each row holds a two-line title
    title = 0.45 / (3.1 * len(rows))
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - title, wspace=0.05,
                           hspace=0.2)  # fmt: skip
    return _save(figure, options.output / "shortcut_artefacts.png")


def strategies_figure(result: ShortcutsResult, path: Path) -> Path:
    """Per class: eigenvalues (left) and each cluster's mean pooled map."""
    plt = pyplot()
    strategies = result.report.get("strategies", {})
    classes = [c for c in strategies if isinstance(strategies[c], dict) and "k" in strategies[c]]
    cols = 1 + max([strategies[c]["k"] for c in classes] or [1])
    figure, axes = plt.subplots(
        max(1, len(classes)), cols, figsize=(2.8 * cols, 2.8 * max(1, len(classes))),
        squeeze=False,
    )  # fmt: skip
    for axis_row, name in zip(axes, classes, strict=False):
        entry = strategies[name]
        values = entry["eigenvalues"]
        axis_row[0].plot(range(1, len(values) + 1), values, "o-")
        axis_row[0].set_title(f"{name}: eigenvalues (k = {entry['k']})", fontsize=8)
        axis_row[0].set_xlabel("index", fontsize=8)
        for c, mean_map in enumerate(entry["mean_maps"]):
            axis = axis_row[1 + c]
            axis.imshow(np.asarray(mean_map), cmap="jet")
            info = entry["clusters"][c]
            centers = ", ".join(f"{k}:{v}" for k, v in info["centers"].items()) or "no centers"
            mark = " SUSPECT" if info["suspect"] else ""
            axis.set_title(f"#{c} n={info['size']}{mark}\n{centers}", fontsize=8)
            _image_panel(axis)
        for axis in axis_row[1 + len(entry["mean_maps"]) :]:
            _image_panel(axis)
    if not classes:
        _image_panel(axes[0][0])
    figure.tight_layout()
    return _save(figure, path)


def _image_panel(axis: Any) -> None:
    """No axes, and no ticks measured: matplotlib lays out the ticks of an axis that is
    merely switched off each time it places a title, most of these figures' time."""
    axis.axis("off")
    axis.xaxis.set_visible(False)
    axis.yaxis.set_visible(False)


def _plural(kind: str, n: int) -> str:
    """``"marker"`` -> ``"markers"``, ``"patch"`` -> ``"patches"``; text stays text."""
    if n == 1 or kind == "text":
        return kind
    return kind + ("es" if kind.endswith(("ch", "sh", "s", "x")) else "s")
