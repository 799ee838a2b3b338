"""One image's result files of the ``infer`` job, written by a writer thread.

``<name>_overlay.png`` (the radiograph with the coloured heatmap and a
caption), ``<name>_heatmap.png`` (the coloured heatmap alone, an 8-bit palette
PNG whose pixel values are the map's levels), ``<name>.json`` (the record) and,
with ``--save-raw``, ``<name>_heatmap.npy``. :mod:`assurexray.inference.infer` runs the
job and records what these functions return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assurexray import __version__
from assurexray.core.files import atomic_path, write_json, write_png
from assurexray.core.naming import printable
from assurexray.reporting import render as draw

if TYPE_CHECKING:
    from assurexray.engine.streaming import ExplainedImage
    from assurexray.inference.infer_run import InferRun


@dataclass(frozen=True)
class RenderOptions:
    """How the per-image pictures are drawn."""

    alpha: float = 0.4
    colormap: str = "jet"
    images: bool = True
    save_raw: bool = False
    max_side: int = 1024


def write_heatmap_png(path: str | Path, levels: np.ndarray, colormap: str = "jet") -> Path:
    """Write a coloured heatmap as an 8-bit palette PNG, atomically.

    The pixels are the map's levels (:func:`assurexray.reporting.render.heat_levels`)
    and the palette is the colormap's (:func:`assurexray.reporting.render.palette`): a
    viewer shows exactly :func:`assurexray.reporting.render.colorize` of the map, from a
    third of the bytes of an RGB PNG, and ``np.asarray(Image.open(path)) / 255``
    is the map again, within half a level.
    """
    return write_png(path, levels, palette=draw.palette(colormap))


def write_image_result(
    item: ExplainedImage,
    name: str,
    run: InferRun,
    *,
    method: str,
    target_layers: Sequence[str],
    render: RenderOptions,
) -> dict[str, Any]:
    """Write one image's files and return its JSON record (the caller records it).

    Pictures are drawn from the image's reduced copy at display size; the
    heatmap is mapped straight to that size (to the full frame only for
    ``--save-raw``) and coloured once for both PNGs. Runs in a writer thread,
    so it changes nothing in ``run`` but its own entry of ``run.pictures``.
    """
    names = run.class_names
    predicted = names[item.predicted]
    confidence = float(item.probabilities[item.predicted])
    files: dict[str, str] = {}
    out = run.output
    radiograph = item.image.radiograph
    if render.images:
        shown = draw.fit_display(radiograph.data, render.max_side, frame=radiograph.size)
        gray = draw.to_rgb(shown)  # 8-bit once, for the overlay and the page's pictures
        heat = item.heatmap_at(gray.shape[:2])
        levels = draw.heat_levels(heat)
        colour = draw.colour_levels(levels, render.colormap)
        overlay = draw.blend(gray, colour, alpha=render.alpha)
        caption = f"{predicted} {confidence:.1%}"
        if item.target != item.predicted:
            caption += f" | heatmap: {names[item.target]}"
        files["overlay"] = str(
            write_png(out / f"{name}_overlay.png", draw.add_caption(overlay, caption))
        )
        heatmap_png = write_heatmap_png(out / f"{name}_heatmap.png", levels, render.colormap)
        files["heatmap"] = str(heatmap_png)
        if run.report_facts is not None:
            from assurexray.reporting.html_report import write_pictures

            run.pictures[str(item.image.path)] = write_pictures(
                out,
                name,
                np.ascontiguousarray(gray[:, :, 0]),
                overlay=overlay,
            )
    if render.save_raw:
        with atomic_path(out / f"{name}_heatmap.npy") as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, item.heatmap.astype(np.float32))
        files["heatmap_raw"] = str(out / f"{name}_heatmap.npy")
    record: dict[str, Any] = {
        "image_path": printable(item.image.path),
        "image_size": {"height": radiograph.height, "width": radiograph.width},
        "notes": list(radiograph.warnings),  # e.g. only the first page used, alpha composited
        "predicted_class": predicted,
        "predicted_index": item.predicted,
        "confidence": confidence,
        "probabilities": {n: float(p) for n, p in zip(names, item.probabilities, strict=True)},
        "explained_class": names[item.target],
        "explained_index": item.target,
        "heatmap_empty": item.empty,
        "method": method,
        "target_layers": list(target_layers),
        "checkpoint": run.checkpoint,
        "outputs": files,
        "package_version": __version__,
    }
    files["json"] = str(out / f"{name}.json")
    write_json(out / f"{name}.json", record)
    return record
