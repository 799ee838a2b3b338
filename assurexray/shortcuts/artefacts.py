"""Label-free detection of burned-in artefacts on radiographs: markers, text and rulers.

Burned-in laterality letters ("R", "L", a circled "L"), arrows, view text ("AP",
"200 mm") and rulers are drawn onto the film by the acquisition software. They
are physically unlike anatomy: a flat, near-saturated fill (near-black on
inverted films), edges sharp to a pixel or two, thin strokes, and a strong step
against whatever surrounds them. Bone cortex, trabeculae and tumours are larger,
textured and have soft edges. The detector uses only those physical cues:

1. normalise to [0, 1] (robust low percentile to maximum) and work on a copy
   whose short side is at most :data:`WORK_SHORT_SIDE` pixels;
2. white top-hat (black top-hat on inverted films) with a square of
   :data:`TOPHAT_FRACTION` of the short side, keeping pixels that stand out by
   :data:`MIN_TOPHAT` and are near the bright end of the range
   (:data:`MIN_LEVEL`);
3. connected components filtered by size, stroke width (distance transform),
   contrast against a ring around them (less for a compact glyph whose stroke
   centres are all saturated: a letter burned in over soft tissue), flatness of
   their fill and the sharpness of their edges;
4. nearby components of similar height are grouped into one box per marker or
   word; a component inside another (the letter in a circle) joins it
   (:mod:`.artefact_groups`), and a detection inside another's box is folded into it;
5. each group is classified as ``"ruler"`` (long thin bar or a row of regularly
   spaced ticks), ``"text"`` (two or more glyphs side by side) or
   ``"marker"`` (one symbol: a letter, a circled letter, an arrow);
6. solid stamps too wide for the top-hat (a filled square, a dot, a blank block)
   are found by :func:`assurexray.shortcuts.patches.find_patches` as ``"patch"``.

Boxes and masks are refined in the original frame. Every threshold is a named
module constant (those of the first three steps are also keyword arguments);
sizes are fractions of the short side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from assurexray.shortcuts.artefact_groups import (
    RULER_GAP_CV,
    RULER_MIN_TICKS,
    box_of,
    group_glyphs,
    group_kind,
    inside,
)
from assurexray.shortcuts.film_levels import normalised, polarity_levels, white_tophat
from assurexray.shortcuts.patches import find_patches, median, robust_spread
from assurexray.shortcuts.polarity import frame_depths, in_frame, is_inverted
from assurexray.shortcuts.regions import label_components

#: Detection runs on a copy whose short side is at most this many pixels.
WORK_SHORT_SIDE = 1024
#: Side of the top-hat's square, as a fraction of the short side (bigger than strokes).
TOPHAT_FRACTION = 0.04
#: A candidate pixel stands out of its neighbourhood by at least this much (of the range).
MIN_TOPHAT = 0.2
#: A candidate pixel is at least this bright (burned-in markers are near-saturated).
MIN_LEVEL = 0.6
#: A glyph's long side is at least this fraction of the short side ...
MIN_GLYPH_FRACTION = 0.012
#: ... and at least this many working pixels.
MIN_GLYPH_PX = 6
#: A solid stamp's long side is at least this fraction of the short side and pixels
#: (smaller than a glyph: its flat, convex fill is the stronger cue).
MIN_PATCH_FRACTION = 0.006
MIN_PATCH_PX = 5
#: A glyph's long side is at most this fraction of the short side (rulers may be longer).
MAX_GLYPH_FRACTION = 0.2
#: Strokes are thin: widest stroke (twice the distance transform's peak) over the long side.
MAX_STROKE_RATIO = 0.4
#: Mean level of a component minus the median of the ring around it.
MIN_CONTRAST = 0.55
#: Robust spread of the level along a component's stroke centres (burned-in fills are flat).
MAX_CORE_STD = 0.04
#: A compact glyph (elongation below SATURATED_MAX_ELONGATION) with at least
#: SATURATED_CORE_SHARE of its stroke centres at SATURATED_LEVEL or above needs only
#: SATURATED_CONTRAST_SHARE of the contrast: a letter burned in over soft tissue, where
#: the ring is bright too (metal over bone, brighter still, stays below it).
SATURATED_CONTRAST_SHARE = 0.76
SATURATED_LEVEL = 0.97
SATURATED_CORE_SHARE = 0.95
SATURATED_MAX_ELONGATION = 3.0
#: A ruler is at least this elongated (long side over short side of its box).
RULER_ELONGATION = 5.0
#: A ruler is at least this long, as a fraction of the short side.
RULER_MIN_FRACTION = 0.05
#: Pixels added around each box when refining its mask in the original frame.
REFINE_PAD_FRACTION = 0.004
#: Default dilation of :func:`artefact_mask`, as a fraction of the short side.
DILATE_FRACTION = 0.004


@dataclass(frozen=True)
class Artefact:
    """One burned-in artefact in the original frame.

    Attributes:
        box: ``(x0, y0, x1, y1)`` pixels, inclusive-exclusive.
        kind: ``"marker"``, ``"text"``, ``"ruler"``, ``"patch"`` (or a user label).
        mask: Boolean crop of shape ``(y1 - y0, x1 - x0)``: the artefact's pixels
            inside ``box`` (paste it at ``box`` for a full-frame mask, or use
            :func:`artefact_mask`).
    """

    box: tuple[int, int, int, int]
    kind: str
    mask: np.ndarray = field(repr=False, compare=False)


def _ruler_ticks(sub: np.ndarray) -> bool:
    """True when a component's profile along its long axis has regular ticks."""
    prof = sub.sum(axis=0 if sub.shape[1] >= sub.shape[0] else 1).astype(np.float32)
    if prof.size < 3 * RULER_MIN_TICKS:
        return False
    ticks = prof > np.median(prof) + 0.5 * (prof.max() - np.median(prof))
    starts = np.flatnonzero(ticks[1:] & ~ticks[:-1])
    if starts.size < RULER_MIN_TICKS:
        return False
    gaps = np.diff(starts).astype(np.float32)
    return float(gaps.std() / max(gaps.mean(), 1e-6)) < RULER_GAP_CV


def _plausible(stats: np.ndarray, shape: tuple[int, int], min_len: float) -> np.ndarray:
    """Labels (from 1) whose box could hold a glyph or a ruler, judged by size alone."""
    x0, y0, w, h, area = (stats[1:, k].astype(np.int64) for k in range(5))
    long, short = np.maximum(w, h), np.minimum(w, h)
    elong = long / np.maximum(short, 1)
    ruler_like = elong >= RULER_ELONGATION
    ok = (long >= min_len) & (area >= 8)
    ok &= (long <= MAX_GLYPH_FRACTION * min(shape)) | (ruler_like & (long < 0.9 * max(shape)))
    # Film or collimation edges: long thin bars lying on the frame's border.
    on_edge = ((h > w) & ((x0 == 0) | (x0 + w == shape[1]))) | (
        (w > h) & ((y0 == 0) | (y0 + h == shape[0]))
    )
    ok &= ~(ruler_like & on_edge)
    return np.flatnonzero(ok) + 1


def _components(
    x: np.ndarray, tophat_fraction: float, min_tophat: float, min_level: float,
    min_contrast: float, max_core_std: float, max_stroke_ratio: float,
    levels: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[list[dict], np.ndarray]:  # fmt: skip
    """Candidate glyph components in the working image (bright polarity), and labels
    (``levels``: see :func:`.film_levels.white_tophat`)."""
    s = min(x.shape)
    k = max(7, int(round(tophat_fraction * s)) | 1)
    th = white_tophat(x, k, levels)
    cand = ((th >= min_tophat) & (x >= min_level)).astype(np.uint8)
    n, lab, stats = label_components(cand)
    min_len = max(MIN_GLYPH_PX, MIN_GLYPH_FRACTION * s)
    out = []
    for i in _plausible(stats, x.shape, min_len):
        x0, y0, w, h, _ = (int(v) for v in stats[i])
        long, short = max(w, h), min(w, h)
        elong = long / max(short, 1)
        sl = np.s_[y0 : y0 + h, x0 : x0 + w]
        comp = lab[sl] == i
        depth = _depth(comp, (y0, x0), x.shape)
        stroke = 2.0 * float(depth[comp].max())
        if stroke > max_stroke_ratio * long and elong < RULER_ELONGATION:
            continue
        r = max(2, int(round(stroke)))
        py0, px0 = max(0, y0 - r), max(0, x0 - r)
        py1, px1 = min(x.shape[0], y0 + h + r), min(x.shape[1], x0 + w + r)
        big = np.zeros((py1 - py0, px1 - px0), np.uint8)
        big[y0 - py0 : y0 - py0 + h, x0 - px0 : x0 - px0 + w] = comp
        ring = cv2.dilate(big, np.ones((2 * r + 1, 2 * r + 1), np.uint8)).astype(bool)
        ring &= ~cand[py0:py1, px0:px1].astype(bool)
        if ring.sum() < 4:
            continue
        vals = x[sl][comp]
        contrast = float(vals.mean() - median(x[py0:py1, px0:px1][ring]))
        if contrast < SATURATED_CONTRAST_SHARE * min_contrast:
            continue  # too faint even for a saturated glyph (spares the spread below)
        core = comp & (depth >= max(1.5, 0.3 * stroke))
        core_std = robust_spread(x[sl][core]) if core.sum() >= 4 else 0.0
        if core_std > max_core_std:
            continue
        if contrast < min_contrast and not (
            contrast >= SATURATED_CONTRAST_SHARE * min_contrast
            and elong < SATURATED_MAX_ELONGATION and core.sum() >= 4
            and float(np.mean(x[sl][core] >= SATURATED_LEVEL)) >= SATURATED_CORE_SHARE
        ):  # fmt: skip
            continue
        kind = None
        ruler_long = long >= RULER_MIN_FRACTION * s  # else a glyph's stroke ("I", "1")
        if (
            ruler_long
            and elong >= RULER_ELONGATION
            and (stroke <= 0.25 * short + 2 or _ruler_ticks(comp))
        ):
            kind = "ruler"
        out.append(dict(box=(x0, y0, x0 + w, y0 + h), h=h, w=w, kind=kind, lab=i))
    return out, lab


def _depth(comp: np.ndarray, corner: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Distance to the nearest background pixel, on a component's box (``comp`` at
    ``corner`` of a frame of ``shape``): its own distance transform with one pixel of
    background around it inside the frame, as OpenCV's on the whole mask gives (any
    path out of a component leaves it through background)."""
    (h, w), (y0, x0) = comp.shape, corner
    pad = (int(y0 > 0), int(y0 + h < shape[0]), int(x0 > 0), int(x0 + w < shape[1]))
    ring = cv2.copyMakeBorder(comp.astype(np.uint8), *pad, cv2.BORDER_CONSTANT, value=0)
    return cv2.distanceTransform(ring, cv2.DIST_L2, 3)[pad[0] : pad[0] + h, pad[2] : pad[2] + w]


def detect_artefacts(
    image: np.ndarray,
    *,
    polarity: str = "auto",
    tophat_fraction: float = TOPHAT_FRACTION,
    min_tophat: float = MIN_TOPHAT,
    min_level: float = MIN_LEVEL,
    min_contrast: float = MIN_CONTRAST,
    max_core_std: float = MAX_CORE_STD,
    max_stroke_ratio: float = MAX_STROKE_RATIO,
    work_short_side: int = WORK_SHORT_SIDE,
) -> list[Artefact]:
    """Find burned-in markers, text, rulers and solid stamps, without labels.

    Args:
        image: 2-D grey film, uint8, uint16 or float in [0, 1] (convert RGB first).
        polarity: ``"bright"`` (white markers), ``"dark"`` (black markers on an
            inverted film), ``"both"``, or ``"auto"``: dark when the film's outer
            band inside any uniform bright frame is mostly bright, else bright
            (:mod:`.polarity`). Components lying in such a frame are its edges.
        tophat_fraction, min_tophat, min_level, min_contrast, max_core_std,
            max_stroke_ratio, work_short_side: Override the module constant of
            the same name in upper case (e.g. :data:`MIN_CONTRAST`).

    Returns:
        One :class:`Artefact` per marker, word, ruler or stamp, in the original frame,
        sorted top to bottom then left to right. Each ``mask`` is a boolean crop
        at ``box``.
    """
    full, table = normalised(image)
    H, W = full.shape
    f = min(1.0, work_short_side / min(H, W))
    size = (max(1, round(W * f)), max(1, round(H * f)))
    x = full if f == 1.0 else cv2.resize(full, size, interpolation=cv2.INTER_AREA)
    if f != 1.0:
        table = None  # the working copy is no longer a look-up of the film's levels
    frame = frame_depths(x)
    if polarity == "auto":
        polarity = "dark" if is_inverted(x, frame) else "bright"
    signs = {"bright": [1], "dark": [-1], "both": [1, -1]}[polarity]
    found: list[Artefact] = []
    for sign in signs:
        xs = x if sign == 1 else 1.0 - x
        fs = full if sign == 1 else 1.0 - full
        comps, lab = _components(
            xs, tophat_fraction, min_tophat, min_level, min_contrast, max_core_std,
            max_stroke_ratio, polarity_levels(image, table, sign),
        )  # fmt: skip
        patches, patch_lab = find_patches(
            xs, min_len=max(MIN_PATCH_PX, MIN_PATCH_FRACTION * min(xs.shape)),
            min_level=min_level, min_contrast=min_contrast, max_core_std=max_core_std,
        )  # fmt: skip
        if sign == 1:  # a bright frame's edges; on an inverted film it is air
            comps = [c for c in comps if not in_frame(c["box"], frame, xs.shape)]
            patches = [p for p in patches if not in_frame(p["box"], frame, xs.shape)]
        # the top-hat leaves thin slivers along a wide stamp's sides: they are the stamp;
        # a stamp inside a word is one of its glyphs ("I") or a letter's counter
        groups = [
            g for g in group_glyphs(comps)
            if not any(inside(box_of(g), p["box"]) for p in patches)
        ]  # fmt: skip
        words = [box_of(g) for g in groups]
        patches = [p for p in patches if not any(inside(p["box"], w) for w in words)]
        for group in groups:
            art = _refine(fs, lab, group, f, group_kind(group))
            if art is not None:
                found.append(art)
        for patch in patches:
            art = _refine(fs, patch_lab, [patch], f, "patch")
            if art is not None:
                found.append(art)
    return sorted(_merge_nested(found), key=lambda a: (a.box[1], a.box[0]))


def _merge_nested(found: list[Artefact]) -> list[Artefact]:
    """Fold each artefact lying inside another's box into it (one shape, one mask).

    A glyph too small to join its word's group can still lie within the word's box;
    left apart it would be counted twice and placed twice by the control.
    """
    kept: list[Artefact] = []
    for a in sorted(found, key=lambda a: -(a.box[2] - a.box[0]) * (a.box[3] - a.box[1])):
        outer = next((k for k in kept if inside(a.box, k.box, slack=0)), None)
        if outer is None:
            kept.append(a)
            continue
        x0, y0 = outer.box[0], outer.box[1]
        ax0, ay0, ax1, ay1 = a.box
        outer.mask[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0] |= a.mask
    return kept


def _refine(
    full: np.ndarray, lab: np.ndarray, group: list[dict], f: float, kind: str
) -> Artefact | None:
    """Box and mask of a group in the original frame (bright polarity image ``full``)."""
    H, W = full.shape
    wx0, wy0, wx1, wy1 = box_of(group)
    work = np.isin(lab[wy0:wy1, wx0:wx1], [c["lab"] for c in group]).astype(np.uint8)
    pad = max(2, int(np.ceil(1.0 / f)) + int(REFINE_PAD_FRACTION * min(H, W)))
    X0, Y0 = max(0, int(wx0 / f) - pad), max(0, int(wy0 / f) - pad)
    X1, Y1 = min(W, int(np.ceil(wx1 / f)) + pad), min(H, int(np.ceil(wy1 / f)) + pad)
    crop = full[Y0:Y1, X0:X1]
    up = np.zeros((Y1 - Y0, X1 - X0), np.uint8)
    ox, oy = int(wx0 / f) - X0, int(wy0 / f) - Y0
    tw, th = (
        max(1, int(np.ceil(wx1 / f)) - int(wx0 / f)),
        max(1, int(np.ceil(wy1 / f)) - int(wy0 / f)),
    )
    patch = cv2.resize(work, (tw, th), interpolation=cv2.INTER_NEAREST)
    ph, pw = min(th, up.shape[0] - oy), min(tw, up.shape[1] - ox)
    up[oy : oy + ph, ox : ox + pw] = patch[:ph, :pw]
    near = cv2.dilate(up, np.ones((2 * pad + 1, 2 * pad + 1), np.uint8)).astype(bool)
    within, outside = crop[up.astype(bool)], crop[~near]
    if within.size == 0:
        return None
    bg = float(np.median(outside)) if outside.size else 0.0
    thr = bg + 0.5 * (float(np.percentile(within, 90)) - bg)
    mask = near & (crop >= thr)
    if not mask.any():
        mask = up.astype(bool)
    ys, xs = np.nonzero(mask)
    bx0, by0, bx1, by1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    box = (int(X0 + bx0), int(Y0 + by0), int(X0 + bx1), int(Y0 + by1))
    return Artefact(box=box, kind=kind, mask=mask[by0:by1, bx0:bx1].copy())
