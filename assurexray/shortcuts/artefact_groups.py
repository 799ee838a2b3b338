"""Glyph components grouped into markers, words and rulers (for :mod:`.artefacts`).

A component is a dict with ``box`` (working-frame ``x0, y0, x1, y1``), ``h``, ``w``,
``kind`` (``"ruler"`` or ``None``) and ``lab`` (its label in the label image).
"""

from __future__ import annotations

import numpy as np

#: Components whose heights differ by less than this factor may join one word.
HEIGHT_RATIO = 2.0
#: Glyphs closer than this fraction of their height join one word.
GROUP_GAP = 0.8
#: Regular ticks: at least this many, with gaps of relative spread below RULER_GAP_CV.
RULER_MIN_TICKS = 5
RULER_GAP_CV = 0.3


def group_glyphs(comps: list[dict]) -> list[list[dict]]:
    """Union glyphs that nest (letter in a circle) or sit side by side at similar height."""
    parent = list(range(len(comps)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(comps):
        for j in range(i + 1, len(comps)):
            b = comps[j]
            ax0, ay0, ax1, ay1 = a["box"]
            bx0, by0, bx1, by1 = b["box"]
            nested = inside(a["box"], b["box"], slack=0) or inside(b["box"], a["box"], slack=0)
            hmin, hmax = sorted((a["h"], b["h"]))
            gap = GROUP_GAP * hmin
            near = (
                a["kind"] != "ruler"
                and b["kind"] != "ruler"
                and hmax <= HEIGHT_RATIO * hmin
                and max(ax0, bx0) - min(ax1, bx1) <= gap
                and max(ay0, by0) - min(ay1, by1) <= gap
            )
            if nested or near:
                parent[find(i)] = find(j)
    groups: dict[int, list[dict]] = {}
    for i, c in enumerate(comps):
        groups.setdefault(find(i), []).append(c)
    return list(groups.values())


def group_kind(group: list[dict]) -> str:
    """``"ruler"``, ``"text"`` (two or more glyphs side by side) or ``"marker"``."""
    if max(group, key=lambda c: c["h"] * c["w"])["kind"] == "ruler":
        return "ruler"  # a bar inside an arrow's outline is not a ruler
    boxes = np.array([c["box"] for c in group])
    outer = (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())
    if any(tuple(b) == outer for b in boxes.tolist()) or len(group) == 1:
        return "marker"
    if len(group) >= RULER_MIN_TICKS:
        heights = boxes[:, 3] - boxes[:, 1]
        widths = boxes[:, 2] - boxes[:, 0]
        x_c = np.sort((boxes[:, 0] + boxes[:, 2]) / 2)
        gaps = np.diff(x_c)
        if heights.std() < 0.15 * heights.mean() + 1 and widths.max() < 0.5 * heights.min() + 2:
            if gaps.std() < RULER_GAP_CV * gaps.mean():
                return "ruler"
    return "text"


def box_of(group: list[dict]) -> tuple[int, int, int, int]:
    """The working-frame box around a group's components."""
    boxes = np.array([c["box"] for c in group])
    x0, y0 = boxes[:, :2].min(axis=0)
    x1, y1 = boxes[:, 2:].max(axis=0)
    return int(x0), int(y0), int(x1), int(y1)


def inside(inner: tuple[int, ...], outer: tuple[int, ...], slack: int = 2) -> bool:
    """True when box ``inner`` lies within box ``outer`` grown by ``slack`` pixels."""
    return (
        inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack
        and inner[2] <= outer[2] + slack and inner[3] <= outer[3] + slack
    )  # fmt: skip
