"""Pictures: heatmap colouring, overlays, legends, captions, outlines and grids.

Every function takes and returns ``H×W×3`` RGB ``uint8`` images (grey or float
[0, 1] inputs are accepted where noted). OpenCV works in BGR; the conversion
happens here, once, so a red pixel in a returned array is red on screen.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from assurexray.core.config_ranges import colormap_names
from assurexray.core.errors import ConfigError

COLORMAPS = colormap_names()
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WHITE = (255, 255, 255)


def colorize(heatmap: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """Colour a [0, 1] heatmap (for ``jet``: 0 blue, 1 red).

    Raises:
        ConfigError: Unknown colormap (the message lists the valid ones).
    """
    return colour_levels(heat_levels(heatmap), colormap)


def heat_levels(heatmap: np.ndarray) -> np.ndarray:
    """A [0, 1] heatmap as the 256 levels (uint8) that :func:`colorize` colours; NaN is 0."""
    return np.round(np.clip(np.nan_to_num(heatmap), 0.0, 1.0) * 255).astype(np.uint8)


def colour_levels(levels: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """Colour uint8 levels (``palette(colormap)[levels]``): RGB, one more axis."""
    bgr = cv2.applyColorMap(levels, _colormap_code(colormap))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def palette(colormap: str = "jet") -> np.ndarray:
    """The colour of each of the 256 levels of a colormap: ``256×3`` RGB uint8."""
    return colour_levels(np.arange(256, dtype=np.uint8)[None], colormap)[0]


def overlay(
    gray: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.4, colormap: str = "jet"
) -> np.ndarray:
    """Blend a coloured heatmap over a radiograph: ``(1 - alpha)·image + alpha·colour``.

    Args:
        gray: ``H×W`` float image in [0, 1] (or uint8, uint16, or RGB).
        heatmap: ``H×W`` map in [0, 1], in the same frame as ``gray``.
        alpha: Weight of the heatmap colour, in [0, 1].
        colormap: An OpenCV colormap name, e.g. ``jet``, ``turbo``, ``inferno``.
    """
    if heatmap.shape[:2] != gray.shape[:2]:
        raise ValueError(f"heatmap shape {heatmap.shape[:2]} differs from image {gray.shape[:2]}")
    return blend(gray, colorize(heatmap, colormap), alpha=alpha)


def blend(gray: np.ndarray, colour: np.ndarray, *, alpha: float = 0.4) -> np.ndarray:
    """``(1 - alpha)·image + alpha·colour`` for an already coloured heatmap (RGB uint8).

    The weighted sum is OpenCV's (``addWeighted``, in uint8, rounded), so a
    picture costs one pass over its pixels.
    """
    if colour.shape[:2] != gray.shape[:2]:
        raise ValueError(f"heatmap shape {colour.shape[:2]} differs from image {gray.shape[:2]}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return cv2.addWeighted(to_rgb(gray), 1.0 - alpha, colour, alpha, 0.0)


def colorbar(
    height: int,
    colormap: str = "jet",
    *,
    width: int | None = None,
    ticks: Sequence[float] = (0.0, 0.5, 1.0),
) -> np.ndarray:
    """A vertical legend, 1 at the top, with tick labels on a white background."""
    height = max(int(height), 24)
    font = _font_scale(min(height / 600, 1.0))
    label_w = max(cv2.getTextSize(f"{t:g}", _FONT, font, 1)[0][0] for t in ticks)
    bar_w = max(8, height // 20)
    margin = max(4, height // 40)
    width = width or bar_w + label_w + 3 * margin
    panel = np.full((height, width, 3), 255, np.uint8)
    top, bottom = margin, height - margin
    ramp = np.linspace(1.0, 0.0, bottom - top, dtype=np.float32)[:, None]
    panel[top:bottom, margin : margin + bar_w] = colorize(np.repeat(ramp, bar_w, axis=1), colormap)
    for tick in ticks:
        y = round(top + (1.0 - tick) * (bottom - top - 1))
        text_h = cv2.getTextSize(f"{tick:g}", _FONT, font, 1)[0][1]
        y_text = min(max(y + text_h // 2, text_h + 1), height - 3)
        cv2.putText(
            panel, f"{tick:g}", (2 * margin + bar_w, y_text), _FONT, font, (0, 0, 0), 1, cv2.LINE_AA
        )
    return panel


def add_caption(rgb: np.ndarray, text: str, *, position: str = "top") -> np.ndarray:
    """Add a black band with white text (one line per ``\\n``) above or below the image."""
    if position not in ("top", "bottom"):
        raise ValueError(f"position must be 'top' or 'bottom', not {position!r}")
    image = to_rgb(rgb)
    width = image.shape[1]
    lines = [line.encode("ascii", "replace").decode() for line in text.split("\n")]
    font = _font_scale(min(width / 700, 1.2))
    while font > 0.35 and max(_text_width(line, font) for line in lines) > width - 8:
        font *= 0.9
    lines = [_shorten(line, font, width - 8) for line in lines]
    thickness = 2 if font >= 1.2 else 1
    line_h = cv2.getTextSize("Ag", _FONT, font, thickness)[0][1]
    step = int(line_h * 1.8)
    band = np.zeros((step * len(lines) + line_h // 2, width, 3), np.uint8)
    for row, line in enumerate(lines):
        baseline = step * row + (step + line_h) // 2
        cv2.putText(band, line, (4, baseline), _FONT, font, _WHITE, thickness, cv2.LINE_AA)
    parts = [band, image] if position == "top" else [image, band]
    return np.vstack(parts)


def display_size(size: tuple[int, int], max_side: int = 1024) -> tuple[int, int]:
    """``(height, width)`` of a picture of an image of ``size``, at most ``max_side`` a side."""
    height, width = size
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return int(height), int(width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def fit_display(
    image: np.ndarray, max_side: int = 1024, *, frame: tuple[int, int] | None = None
) -> np.ndarray:
    """Shrink an image (any dtype, grey or colour) so its longest side is at most ``max_side``.

    Args:
        image: The picture's source.
        max_side: Longest side of the result.
        frame: ``(H, W)`` of the image that ``image`` shows when it is a
            reduced copy (:attr:`assurexray.imaging.reading.Radiograph.size`). The
            result then has :func:`display_size` of the frame, the size of
            every other picture of the image (heatmaps, masks).
    """
    height, width = display_size(frame or image.shape[:2], max_side)
    if (height, width) == image.shape[:2]:
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def outline(
    rgb: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = (0, 255, 0), thickness: int = 2
) -> np.ndarray:
    """Draw the contour of a boolean mask (same frame as the image) in an RGB colour."""
    image = to_rgb(rgb).copy()
    if mask.shape[:2] != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape[:2]} differs from image {image.shape[:2]}")
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(image, contours, -1, tuple(int(c) for c in color), thickness, cv2.LINE_AA)
    return image


def grid(
    cells: Sequence[np.ndarray],
    ncols: int,
    pad: int = 4,
    *,
    cell_size: tuple[int, int] | None = None,
    background: int = 255,
) -> np.ndarray:
    """Arrange images in rows of ``ncols``, each letterboxed into one cell size.

    Args:
        cells: Images of any sizes (grey, RGB, float or uint8).
        ncols: Cells per row.
        pad: Pixels between and around cells.
        cell_size: ``(height, width)`` of a cell; default: the largest of each.
        background: Grey level of the padding.
    """
    if not cells:
        raise ValueError("grid needs at least one cell")
    cell_h, cell_w = cell_size or (max(c.shape[0] for c in cells), max(c.shape[1] for c in cells))
    nrows = -(-len(cells) // ncols)
    canvas = np.full(
        (nrows * (cell_h + pad) + pad, ncols * (cell_w + pad) + pad, 3), background, np.uint8
    )
    for index, cell in enumerate(cells):
        row, col = divmod(index, ncols)
        y, x = pad + row * (cell_h + pad), pad + col * (cell_w + pad)
        canvas[y : y + cell_h, x : x + cell_w] = letterbox(cell, (cell_h, cell_w), background)
    return canvas


def hstack_panels(
    panels: Sequence[np.ndarray], pad: int = 4, *, background: int = 255
) -> np.ndarray:
    """Side by side, each panel scaled to the tallest panel's height (aspect kept)."""
    if not panels:
        raise ValueError("hstack_panels needs at least one panel")
    height = max(p.shape[0] for p in panels)
    gap = np.full((height, pad, 3), background, np.uint8)
    row: list[np.ndarray] = []
    for panel in panels:
        width = max(1, round(panel.shape[1] * height / panel.shape[0]))
        row.extend([gap] if row else [])
        row.append(letterbox(panel, (height, width), background))
    return np.hstack(row)


def letterbox(image: np.ndarray, size: tuple[int, int], background: int = 255) -> np.ndarray:
    """Scale an image to fit ``(height, width)`` keeping its aspect ratio; centre and pad."""
    rgb = to_rgb(image)
    height, width = size
    scale = min(height / rgb.shape[0], width / rgb.shape[1])
    new_w, new_h = max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))
    shrinking = scale < 1.0
    resized = cv2.resize(
        rgb, (new_w, new_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )
    canvas = np.full((height, width, 3), background, np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float in [0, 1] (NaN is 0), uint8 or uint16 (white 65535) pixels as uint8, same shape."""
    array = np.asarray(image)
    if array.dtype == np.uint16:
        return np.round(array.astype(np.float32) / np.float32(257)).astype(np.uint8)
    if array.dtype != np.uint8:
        return heat_levels(array.astype(np.float32))
    return array


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Grey or RGB(A), float in [0, 1], uint8 or uint16 (white 65535), to RGB uint8."""
    array = to_uint8(image)
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)  # four times numpy's repeat
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return np.ascontiguousarray(array[:, :, :3])
    raise ValueError(f"expected a grey or RGB image, got shape {array.shape}")


def _colormap_code(name: str) -> int:
    key = name.strip().lower()
    if key not in COLORMAPS:
        raise ConfigError(f"unknown colormap {name!r}; valid: {', '.join(COLORMAPS)}")
    return getattr(cv2, f"COLORMAP_{key.upper()}")


def _text_width(text: str, font: float) -> int:
    return cv2.getTextSize(text, _FONT, font, 1)[0][0]


def _shorten(line: str, font: float, room: int) -> str:
    """Cut a line that does not fit, ending it with ``...``."""
    while len(line) > 3 and _text_width(line, font) > room:
        line = line[:-4] + "..."
    return line


def _font_scale(scale: float) -> float:
    return float(min(max(scale, 0.35), 3.0))


def text_cell(
    text: str, size: tuple[int, int], *, grey: bool = False, font_scale: float = 0.8
) -> np.ndarray:
    """A cell of ``size`` (height, width) with centred lines of dark text.

    ``grey`` gives a light grey background, to mark an empty gallery cell.
    """
    height, width = size
    cell = np.full((height, width, 3), 225 if grey else 255, np.uint8)
    lines = [line.encode("ascii", "replace").decode() for line in text.split("\n") if line] or [""]
    scale = font_scale
    while scale > 0.35 and max(_text_width(line, scale) for line in lines) > width - 12:
        scale *= 0.9
    line_h = cv2.getTextSize("Ag", _FONT, scale, 1)[0][1]
    step = int(line_h * 1.9)
    top = (height - step * len(lines)) // 2 + line_h
    for row, line in enumerate(lines):
        x = max(6, (width - _text_width(line, scale)) // 2)
        thickness = 2 if row == 0 else 1
        cv2.putText(
            cell, line, (x, top + row * step), _FONT, scale, (30, 30, 30), thickness, cv2.LINE_AA
        )
    return cell


def confusion_matrix_image(
    matrix: np.ndarray, class_names: Sequence[str], *, cell: int = 120
) -> np.ndarray:
    """A confusion matrix (rows true, columns predicted) drawn with counts and row shares."""
    matrix = np.asarray(matrix, dtype=np.int64)
    n = len(class_names)
    margin = cell + 20
    image = np.full((margin + n * cell + 10, margin + n * cell + 10, 3), 255, np.uint8)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    for i in range(n):
        for j in range(n):
            y, x = margin + i * cell, margin + j * cell
            level = int(255 - 180 * shares[i, j])
            image[y : y + cell - 2, x : x + cell - 2] = (
                (255, level, level) if i != j else (level, 255, level)
            )
            label = f"{matrix[i, j]}\n{shares[i, j]:.0%}"
            image[y : y + cell - 2, x : x + cell - 2] = _blend_text(
                image[y : y + cell - 2, x : x + cell - 2], label
            )
    for k, name in enumerate(class_names):
        _put(image, name, (margin + k * cell + 4, margin - 10), cell - 8)
        _put(image, name, (6, margin + k * cell + cell // 2), margin - 12)
    _put(image, "true \\ predicted", (6, 24), margin + cell)
    return image


def _blend_text(tile: np.ndarray, text: str) -> np.ndarray:
    """Centred dark text over a coloured tile."""
    lines = text.split("\n")
    height, width = tile.shape[:2]
    out = tile.copy()
    for row, line in enumerate(lines):
        scale = 0.9 if row == 0 else 0.6
        x = max(2, (width - _text_width(line, scale)) // 2)
        y = height // 2 + (row * 2 - 1) * height // 7 + 8
        cv2.putText(
            out, line, (x, y), _FONT, scale, (20, 20, 20), 2 if row == 0 else 1, cv2.LINE_AA
        )
    return out


def _put(image: np.ndarray, text: str, origin: tuple[int, int], max_width: int) -> None:
    scale = 0.6
    while scale > 0.3 and _text_width(text, scale) > max_width:
        scale *= 0.9
    cv2.putText(image, text, origin, _FONT, scale, (20, 20, 20), 1, cv2.LINE_AA)
