"""Regions for the shortcut audit: body, border band, inpainting and random placement.

All functions work in the original frame of the film and need only NumPy,
SciPy and OpenCV.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

#: :func:`body_mask` works on a copy whose short side is at most this many pixels (the mask
#: follows a blurred outline: its detail is a percent of the short side).
BODY_WORK_SIDE = 256
#: Blur before thresholding, as a fraction of the short side.
BODY_BLUR_FRACTION = 0.01
#: The dark Otsu class is empty background only when its mean level is at most this
#: fraction of the bright class's (air passes far more X-rays than any tissue).
BACKGROUND_LEVEL_RATIO = 0.35
#: Bright components smaller than this fraction of the frame are not anatomy.
MIN_BODY_FRACTION = 0.02
#: Context kept around each mask component when inpainting, in inpaint radii.
INPAINT_CONTEXT = 4
#: Random positions tried per shape and draw in :func:`place_at_random`.
MAX_TRIES = 200


def _grey(image: np.ndarray) -> np.ndarray:
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {image.shape}")
    return image.astype(np.float32)


def label_components(mask: np.ndarray, connectivity: int = 8) -> tuple[int, np.ndarray, np.ndarray]:
    """``cv2.connectedComponentsWithStats`` of a uint8 mask: count, labels and stats.

    Labels are 16-bit while they fit (OpenCV gathers the statistics several times faster
    so), 32-bit beyond 65535 components; the count and statistics are the same.
    """
    try:
        n, lab, stats, _ = cv2.connectedComponentsWithStats(
            mask, connectivity=connectivity, ltype=cv2.CV_16U
        )
    except cv2.error:  # more components than 16 bits can label
        n, lab, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=connectivity)
    return n, lab, stats


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_fill_holes`` (default structure) with OpenCV: the background
    components, 4-connected, that do not touch the frame's edge are holes."""
    m = mask.astype(bool)
    n, lab, stats = label_components((~m).astype(np.uint8), 4)
    x0, y0, w, h = (stats[:, i] for i in range(4))
    hole = (x0 > 0) & (y0 > 0) & (x0 + w < m.shape[1]) & (y0 + h < m.shape[0])
    hole[0] = False  # label 0: the mask itself
    return m | hole[lab]


def body_mask(image: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Boolean mask of the exposed anatomy versus empty background and collimation.

    Rule: on a copy blurred by :data:`BODY_BLUR_FRACTION` of the short side, Otsu
    splits dark from bright. The dark class is background only if its mean level is
    at most :data:`BACKGROUND_LEVEL_RATIO` of the bright class's mean (else the
    whole frame is tissue, e.g. bone against soft tissue, and the mask is all
    True). Bright components (4-connected) under :data:`MIN_BODY_FRACTION` of the
    frame (markers, text) are dropped, and holes are filled. Inverted films (bright
    air) are not handled: invert them first.

    Args:
        image: 2-D grey film, any numeric dtype.
        shape: ``(H, W)`` of the returned mask; default the image's (a smaller frame
            saves resizing the mask up and down again).

    Returns:
        Boolean mask of ``shape``.
    """
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {image.shape}")
    h, w = shape or image.shape
    f = min(1.0, BODY_WORK_SIDE / min(image.shape))
    size = (max(1, round(image.shape[1] * f)), max(1, round(image.shape[0] * f)))
    native = image if image.dtype in (np.uint8, np.uint16) else _grey(image)
    small = _grey(cv2.resize(native, size, interpolation=cv2.INTER_AREA))
    small = cv2.GaussianBlur(small, (0, 0), max(1.0, BODY_BLUR_FRACTION * min(small.shape)))
    lo, hi = float(small.min()), float(small.max())
    if hi - lo <= 1e-6:
        return np.ones((h, w), bool)
    u8 = np.round((small - lo) / (hi - lo) * 255).astype(np.uint8)
    t, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = u8 > t
    dark_mean, bright_mean = float(small[~bright].mean()), float(small[bright].mean())
    if dark_mean > BACKGROUND_LEVEL_RATIO * bright_mean:
        return np.ones((h, w), bool)
    _, lab, stats = label_components(bright.astype(np.uint8), 4)
    keep = stats[:, cv2.CC_STAT_AREA] >= MIN_BODY_FRACTION * bright.size
    keep[0] = False  # label 0: the dark class
    body = fill_holes(keep[lab])
    return cv2.resize(body.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)


def border_band(shape: tuple[int, int], width_fraction: float = 0.15) -> np.ndarray:
    """Boolean mask of the film's outer band.

    Args:
        shape: ``(height, width)``.
        width_fraction: Band width as a fraction of each axis: columns within
            ``width_fraction * width`` of the left or right edge and rows within
            ``width_fraction * height`` of the top or bottom edge.

    Returns:
        Boolean mask of ``shape`` (all False for ``width_fraction <= 0``).
    """
    h, w = shape[:2]
    band = np.zeros((h, w), bool)
    bx, by = round(width_fraction * w), round(width_fraction * h)
    if bx > 0:
        band[:, :bx] = band[:, w - bx :] = True
    if by > 0:
        band[:by] = band[h - by :] = True
    return band


def inpaint(image: np.ndarray, mask: np.ndarray, radius: int | None = None) -> np.ndarray:
    """Fill ``mask`` from its surroundings (OpenCV Telea), same shape and dtype.

    Each connected cluster of the mask is inpainted in a crop around it (context of
    :data:`INPAINT_CONTEXT` radii), so small artefacts on a 3000x4000 film take
    milliseconds rather than a full-frame pass (about 0.1 s). uint8 and uint16 go
    to OpenCV as they are; other dtypes (floats) through 16 bits of their range.

    Args:
        image: 2-D grey film.
        mask: Boolean mask of the same shape (True = replace).
        radius: Telea neighbourhood; default 0.5 % of the short side, at least 3.

    Returns:
        A new image; pixels outside ``mask`` are unchanged.
    """
    if image.ndim != 2 or mask.shape != image.shape:
        raise ValueError(f"image {image.shape} and mask {mask.shape} must be the same 2-D shape")
    out = image.copy()
    box = _bounds(mask)
    if box is None:
        return out
    r = radius if radius is not None else max(3, round(0.005 * min(image.shape)))
    work, lo, span = image, 0.0, 1.0
    if image.dtype not in (np.uint8, np.uint16):
        # OpenCV's Telea fills float images badly: go through 16 bits of the range.
        lo, span = float(image.min()), float(image.max() - image.min()) or 1.0
        work = np.round((image.astype(np.float64) - lo) / span * 65535).astype(np.uint16)
    pad = INPAINT_CONTEXT * r
    top, left = max(0, box[0] - pad), max(0, box[2] - pad)  # the grown mask lies in here
    m8 = mask.astype(np.uint8)
    near = m8[top : box[1] + pad, left : box[3] + pad]
    grown = cv2.dilate(near, np.ones((2 * pad + 1, 2 * pad + 1), np.uint8))
    n, _, stats = label_components(grown)
    for x0, y0, w, h, _ in stats[1:]:
        sl = np.s_[top + y0 : top + y0 + h, left + x0 : left + x0 + w]
        filled = cv2.inpaint(np.ascontiguousarray(work[sl]), m8[sl], r, cv2.INPAINT_TELEA)
        vals = filled[mask[sl]]
        if work is not image:
            vals = vals.astype(np.float64) / 65535 * span + lo
        out[sl][mask[sl]] = vals.astype(image.dtype)
    return out


def _bounds(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(top, bottom, left, right)`` of the mask's bounding box (end-exclusive), or None."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _crop(mask: np.ndarray) -> np.ndarray | None:
    """The mask cut to its bounding box, or None when it is empty."""
    box = _bounds(mask)
    return None if box is None else mask[box[0] : box[1], box[2] : box[3]]


def _shapes(mask_shapes: np.ndarray | Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Crops to move (one per 4-connected component, or one per given mask) and the union."""
    if isinstance(mask_shapes, np.ndarray):
        union = mask_shapes.astype(bool)
        n, lab, stats = label_components(union.astype(np.uint8), 4)
        crops = []
        for i in range(1, n):
            x0, y0, w, h = (int(v) for v in stats[i, :4])
            crops.append(lab[y0 : y0 + h, x0 : x0 + w] == i)
        return crops, union
    masks = [m.astype(bool) for m in mask_shapes]
    union = np.logical_or.reduce(masks)
    return [c for c in map(_crop, masks) if c is not None], union


#: One shape put at a position: ``(top, left, crop)``.
Placement = tuple[int, int, np.ndarray]


def random_placements(
    mask_shapes: np.ndarray | Sequence[np.ndarray],
    allowed: np.ndarray,
    rng: np.random.Generator,
    n: int,
    *,
    max_tries: int = MAX_TRIES,
) -> list[list[Placement]]:
    """Where :func:`place_at_random` puts the shapes, draw by draw, without painting frames.

    The same rule, the same use of ``rng`` and the same draws (dropped draws included) as
    :func:`place_at_random`; each draw is a list of ``(top, left, crop)``, one per shape,
    that do not overlap.
    """
    crops, union = _shapes(mask_shapes)
    free = (allowed.astype(bool) & ~union).ravel()
    where = np.flatnonzero(free)
    H, W = union.shape
    out: list[list[Placement]] = []
    if not crops or where.size == 0:
        return out
    # each crop's pixels as offsets from its top-left corner in the flattened frame
    offsets = [(ys * W + xs) for ys, xs in (np.nonzero(c) for c in crops)]
    placed = np.zeros(H * W, bool)  # this draw's shapes; cleared after each draw
    for _ in range(n):
        draw: list[Placement] = []
        taken: list[np.ndarray] = []
        for crop, offset in zip(crops, offsets, strict=True):
            ch, cw = crop.shape
            for _try in range(max_tries):
                y, x = divmod(int(where[rng.integers(where.size)]), W)
                y0, x0 = y - ch // 2, x - cw // 2
                if y0 < 0 or x0 < 0 or y0 + ch > H or x0 + cw > W:
                    continue
                pixels = offset + (y0 * W + x0)
                if free[pixels].all() and not (taken and placed[pixels].any()):
                    placed[pixels] = True
                    taken.append(pixels)
                    draw.append((y0, x0, crop))
                    break
            else:
                break
        for pixels in taken:
            placed[pixels] = False
        if len(draw) == len(crops):
            out.append(draw)
    return out


def paint(shape: tuple[int, int], draw: Sequence[Placement]) -> np.ndarray:
    """The full-frame boolean mask of one draw of placed shapes."""
    mask = np.zeros(shape, bool)
    for top, left, crop in draw:
        mask[top : top + crop.shape[0], left : left + crop.shape[1]] |= crop
    return mask


def place_at_random(
    mask_shapes: np.ndarray | Sequence[np.ndarray],
    allowed: np.ndarray,
    rng: np.random.Generator,
    n: int,
    *,
    max_tries: int = MAX_TRIES,
) -> list[np.ndarray]:
    """Move the same shapes to random positions inside ``allowed``, ``n`` times.

    Shapes are the connected components of a full-frame boolean mask, or the given
    full-frame masks one each (e.g. one per :class:`Artefact`, so a circled letter
    moves as one). In each draw every shape is put, unrotated, at a random position
    where all its pixels lie in ``allowed``, off the original mask and off the
    shapes already placed in that draw. Positions are drawn by centring the shape
    on a random allowed pixel, at most ``max_tries`` times per shape.

    Uses: the attention null (``allowed`` = the same border band) and the
    counterfactual control (``allowed`` = body or background minus artefacts minus
    the tumour).

    Args:
        mask_shapes: Full-frame boolean mask, or a sequence of them.
        allowed: Boolean mask of the frame where shapes may go.
        rng: NumPy random generator (the only source of randomness).
        n: Number of draws wanted.
        max_tries: Positions tried per shape and draw.

    Returns:
        Up to ``n`` full-frame boolean masks, each holding every shape once. A draw
        in which some shape could not be placed within ``max_tries`` is dropped, so
        fewer (possibly none) are returned when the shapes do not fit; the work is
        bounded by ``n * shapes * max_tries`` tries.
    """
    draws = random_placements(mask_shapes, allowed, rng, n, max_tries=max_tries)
    return [paint(allowed.shape[:2], draw) for draw in draws]
