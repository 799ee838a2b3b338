"""One image of the shortcut analysis: artefacts, regions, attention, null, counterfactuals.

Frames. Detection and inpainting run on the decoded copy the stream keeps (at most 1024
pixels a side; the *work* frame); boxes are reported in the file's own pixels. Attention
is measured on a copy at most ``attention_side`` pixels a side (256 by default: the
heatmaps have 7 x 7 cells at 224 px, so even then a cell spans about 36 pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from assurexray.annotations.labelme import load_labelme
from assurexray.annotations.masks import draw_annotation
from assurexray.engine.streaming import input_from_copy
from assurexray.imaging.preprocess import Geometry, PreprocessConfig, preprocess_image
from assurexray.shortcuts.artefact_masks import artefact_mask, dilation_px, user_artefacts
from assurexray.shortcuts.artefacts import Artefact, detect_artefacts
from assurexray.shortcuts.attention import RegionAttention, attention_on
from assurexray.shortcuts.attention_null import placement_p_value
from assurexray.shortcuts.model_pass import to_frame
from assurexray.shortcuts.options import ShortcutsOptions
from assurexray.shortcuts.regions import (
    body_mask,
    border_band,
    inpaint,
    place_at_random,
    random_placements,
)

#: A detection with at least this share of its pixels inside the tumour outline is dropped.
MAX_TUMOUR_OVERLAP = 0.5
#: Side of the common frame in which heatmaps are kept for the mean maps and strategies.
COMMON_SIDE = 48


@dataclass
class ImageFindings:
    """Everything measured on one image (the job fills the counterfactual fields)."""

    index: int
    path: Path
    size: tuple[int, int]
    artefacts: list[Artefact]
    boxes: list[list[int]]
    source: str
    dropped_on_tumour: int
    regions: dict[str, RegionAttention]
    p_value: float | None
    null_draws: int
    common_map: np.ndarray
    cells_px: float
    variants: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    control_placed: bool = False
    p_removed: float | None = None
    p_control: float | None = None
    p_baseline: float | None = None
    pred_removed: int | None = None
    pred_control: int | None = None
    baseline_predicted: int | None = None


def shrink(shape: tuple[int, int], side: int) -> tuple[int, int]:
    """``(H, W)`` scaled so the longer side is at most ``side`` (never enlarged)."""
    f = min(1.0, side / max(shape))
    return max(1, round(shape[0] * f)), max(1, round(shape[1] * f))


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A boolean mask at ``size``: a pixel is in when any part of it was (area resize > 0)."""
    if mask.shape == size:
        return mask.astype(bool)
    small = cv2.resize(mask.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return small > 0


def _annotation(
    path: str | None, work_shape: tuple[int, int], labels: tuple[str, ...]
) -> tuple[np.ndarray | None, list[Artefact] | None]:
    """Tumour mask (every shape not labelled an artefact) and the user's artefacts, if any."""
    if not path:
        return None, None
    annotation = load_labelme(path).resized(work_shape)
    keep = {s.label for s in annotation.shapes if s.label.lower() not in labels}
    tumour = None
    if keep:
        tumour = draw_annotation(annotation, labels=keep).mask
    drawn = None
    if labels and any(s.label.lower() in labels for s in annotation.shapes):
        shapes = [
            {"label": s.label, "points": s.points.tolist(), "shape_type": s.shape_type}
            for s in annotation.shapes
        ]
        drawn = user_artefacts(shapes, labels, work_shape)
    return tumour, drawn


def _allowed(masks: list[np.ndarray], band: np.ndarray) -> np.ndarray:
    """Where moved shapes may go: the border band when most artefact pixels lie in it."""
    union = np.logical_or.reduce(masks)
    in_band = float(band[union].mean()) if union.any() else 0.0
    return band if in_band >= 0.5 else np.ones_like(band)


def analyse_image(
    index: int,
    work: np.ndarray,
    size: tuple[int, int],
    heatmap: np.ndarray,
    geometry: Geometry,
    annotation: str | None,
    config: PreprocessConfig,
    options: ShortcutsOptions,
) -> ImageFindings:
    """Measure one image and make its counterfactual inputs.

    Args:
        index: Position in the run (seeds this image's draws).
        work: The decoded grey copy (work frame).
        size: ``(H, W)`` of the file.
        heatmap: The explained class's map at the network input or feature resolution.
        geometry: The image's preprocessing geometry (file frame).
        annotation: LabelMe file of the image, or None.
        config: The checkpoint's preprocessing.
        options: The job's options.
    """
    rng = np.random.default_rng([options.seed, index])
    shape = (int(work.shape[0]), int(work.shape[1]))
    tumour, drawn = _annotation(annotation, shape, options.artefact_labels)
    arts = drawn if drawn is not None else detect_artefacts(work)
    dropped = 0
    if tumour is not None and drawn is None:
        kept = []
        for a in arts:
            x0, y0, x1, y1 = a.box
            inside = tumour[y0:y1, x0:x1][a.mask]
            if inside.size and inside.mean() >= MAX_TUMOUR_OVERLAP:
                dropped += 1
            else:
                kept.append(a)
        arts = kept
    r = dilation_px(shape, options.dilate_fraction)
    one_each = [artefact_mask(shape, [a], dilate_px=r) for a in arts]
    small = shrink(shape, options.attention_side)
    heat = to_frame(heatmap, geometry, small)
    band = border_band(small, options.border_width)
    body = body_mask(work, small)
    art_small = [resize_mask(m, small) for m in one_each]
    art_union = np.logical_or.reduce(art_small) if art_small else np.zeros(small, bool)
    regions = {
        "artefacts": attention_on(heat, art_union),
        "off_anatomy": attention_on(heat, ~body),
        "border": attention_on(heat, band),
        "artefacts_or_border": attention_on(heat, art_union | band),
    }
    p_value, draws = None, 0
    if art_small:
        nulls = random_placements(art_small, _allowed(art_small, band), rng, options.null_draws)
        draws = len(nulls)
        if nulls:
            p_value = placement_p_value(heat, regions["artefacts"].mass, nulls)
    sy, sx = size[0] / shape[0], size[1] / shape[1]
    boxes = [
        [round(a.box[0] * sx), round(a.box[1] * sy), round(a.box[2] * sx), round(a.box[3] * sy)]
        for a in arts
    ]
    findings = ImageFindings(
        index=index,
        path=Path(),
        size=size,
        artefacts=arts,
        boxes=boxes,
        source="labelme" if drawn is not None else "detected",
        dropped_on_tumour=dropped,
        regions=regions,
        p_value=p_value,
        null_draws=draws,
        common_map=cv2.resize(heat, (COMMON_SIDE, COMMON_SIDE), interpolation=cv2.INTER_AREA),
        cells_px=0.0,
    )
    if arts:
        _counterfactuals(findings, work, one_each, tumour, size, config, rng, options)
    return findings


def _counterfactuals(
    findings: ImageFindings,
    work: np.ndarray,
    one_each: list[np.ndarray],
    tumour: np.ndarray | None,
    size: tuple[int, int],
    config: PreprocessConfig,
    rng: np.random.Generator,
    options: ShortcutsOptions,
) -> None:
    """Inputs with the artefacts inpainted, with the same shapes inpainted elsewhere
    (off the artefacts and the tumour, in the same kind of place), and the work copy."""
    union = np.logical_or.reduce(one_each)
    band = border_band(work.shape[:2], options.border_width)
    allowed = _allowed(one_each, band) & ~union
    if tumour is not None:
        k = 2 * dilation_px(work.shape, options.dilate_fraction) + 1  # at least 3
        allowed &= ~cv2.dilate(tumour.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)
    controls = place_at_random(one_each, allowed, rng, 1)
    if not input_from_copy(config):  # else the stream's own input: its prediction is known
        findings.variants["baseline"] = preprocess_image(work, config, size=size)[0]
    findings.variants["removed"] = preprocess_image(inpaint(work, union), config, size=size)[0]
    if controls:
        findings.control_placed = True
        control = inpaint(work, controls[0])
        findings.variants["control"] = preprocess_image(control, config, size=size)[0]
