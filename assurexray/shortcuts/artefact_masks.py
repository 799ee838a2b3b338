"""Artefact masks: detected or user-drawn artefacts as full-frame boolean masks.

:func:`artefact_mask` pastes :class:`~assurexray.shortcuts.artefacts.Artefact` crops into
one dilated mask; :func:`user_artefacts` turns LabelMe shapes whose label is an artefact
label (``--artefact-label``) into artefacts, replacing detection for that image.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import cv2
import numpy as np

from assurexray.shortcuts.artefacts import DILATE_FRACTION, Artefact


def dilation_px(shape: tuple[int, ...], fraction: float = DILATE_FRACTION) -> int:
    """The artefact masks' dilation radius: ``fraction`` of the short side, at least 1."""
    return max(1, round(fraction * min(shape[:2])))


def artefact_mask(
    shape: tuple[int, int], artefacts: Iterable[Artefact], dilate_px: int | None = None
) -> np.ndarray:
    """Full-frame boolean mask of the artefacts, dilated to swallow anti-aliased halos.

    Args:
        shape: ``(height, width)`` of the original frame.
        artefacts: Artefacts whose ``mask`` is a crop at ``box``.
        dilate_px: Dilation radius in pixels; default :data:`DILATE_FRACTION` of
            the short side, at least 1.

    Returns:
        Boolean array of ``shape``.
    """
    out: np.ndarray = np.zeros(shape, np.uint8)
    for a in artefacts:
        x0, y0, x1, y1 = a.box
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        out[cy0:cy1, cx0:cx1] |= a.mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0].astype(np.uint8)
    r = dilation_px(shape) if dilate_px is None else int(dilate_px)
    if r > 0:
        out = cv2.dilate(out, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return out.astype(bool)


def user_artefacts(
    shapes: Sequence[Mapping], labels: Iterable[str], image_shape: tuple[int, int]
) -> list[Artefact]:
    """Artefacts from LabelMe-like shapes whose label (case-insensitive) is in ``labels``.

    Args:
        shapes: Dicts with ``label``, ``points`` and ``shape_type`` (``polygon``,
            ``rectangle`` or ``circle``: centre then a point on the rim).
        labels: Labels to keep, e.g. ``["marker", "ruler"]``.
        image_shape: ``(height, width)`` of the image the points refer to.

    Returns:
        One :class:`Artefact` per kept shape, ``kind`` its label (lower case), with
        the exact drawn mask; shapes entirely outside the image are skipped.
    """
    keep = {str(s).lower() for s in labels}
    out: list[Artefact] = []
    for s in shapes:
        label = str(s.get("label", "")).lower()
        if label not in keep:
            continue
        pts = np.asarray(s.get("points", []), np.float64).reshape(-1, 2)
        full = np.zeros(image_shape[:2], np.uint8)
        kind = s.get("shape_type") or "polygon"
        if kind == "rectangle" and len(pts) >= 2:
            (ax, ay), (bx, by) = np.round(pts[:2]).astype(int)
            cv2.rectangle(full, (min(ax, bx), min(ay, by)), (max(ax, bx), max(ay, by)), 1, -1)
        elif kind == "circle" and len(pts) >= 2:
            c = np.round(pts[0]).astype(int)
            cv2.circle(
                full, (int(c[0]), int(c[1])), round(float(np.hypot(*(pts[1] - pts[0])))), 1, -1
            )
        elif len(pts) >= 3:
            cv2.fillPoly(full, [np.round(pts).astype(np.int32)], 1)
        else:
            continue
        ys, xs = np.nonzero(full)
        if ys.size == 0:
            continue
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        out.append(Artefact(box, label, full[box[1] : box[3], box[0] : box[2]].astype(bool)))
    return out
