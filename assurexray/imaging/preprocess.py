"""Prepare a radiograph for the network, and map heatmaps back.

The parameters (:class:`PreprocessConfig`) are stored in every checkpoint, so
training and inference always prepare images the same way. :func:`preprocess`
also returns the :class:`Geometry` of the resize, which maps points and
heatmaps between the network input and the original image frame.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import cv2
import numpy as np

from assurexray.core.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_MODES = ("letterbox", "stretch")
INTERPOLATIONS = ("area", "linear", "cubic")
"""How the image is resized to the network input. ``area``: OpenCV's area filter
when shrinking, linear when enlarging (what assurexray has always done);
``linear`` and ``cubic``: OpenCV's ``INTER_LINEAR`` / ``INTER_CUBIC`` at any
scale, e.g. to match a trainer that resized with albumentations' ``Resize``."""


@dataclass(frozen=True)
class PreprocessConfig:
    """How an image becomes a network input.

    Attributes:
        image_size: Side of the square network input, in pixels.
        resize_mode: ``letterbox`` keeps the aspect ratio and pads with black;
            ``stretch`` squashes the image to the square.
        mean: Per-channel mean subtracted after scaling to [0, 1].
        std: Per-channel standard deviation divided by.
        clahe: Apply contrast-limited adaptive histogram equalisation first.
        interpolation: ``area``, ``linear`` or ``cubic`` (:data:`INTERPOLATIONS`).
        channels: Number of channels the network takes (grey is replicated).
    """

    image_size: int = 224
    resize_mode: str = "letterbox"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    clahe: bool = False
    channels: int = 3
    interpolation: str = "area"

    def __post_init__(self) -> None:
        if self.resize_mode not in RESIZE_MODES:
            raise ConfigError(
                f"resize_mode {self.resize_mode!r} is not one of {', '.join(RESIZE_MODES)}"
            )
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(
                f"interpolation {self.interpolation!r} is not one of {', '.join(INTERPOLATIONS)}"
            )
        if self.image_size < 8:
            raise ConfigError(f"image_size {self.image_size} is too small (at least 8)")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ConfigError(f"mean and std need {self.channels} values each")
        if not all(math.isfinite(v) for v in (*self.mean, *self.std)):
            raise ConfigError("mean and std values must be finite numbers")
        if any(s <= 0 for s in self.std):
            raise ConfigError("std values must be positive")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for a checkpoint (lists, not tuples)."""
        data = asdict(self)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessConfig:
        """Build from a checkpoint's dict; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown preprocessing keys: {', '.join(unknown)}")
        values = dict(data)
        for key, kind in _FIELD_KINDS.items():
            if key in values and not _is_kind(values[key], kind):
                raise ConfigError(f"preprocessing key {key!r} must be {kind}, got {values[key]!r}")
        for key in ("mean", "std"):
            if key in values:
                values[key] = tuple(float(v) for v in values[key])
        return cls(**values)


_FIELD_KINDS = {
    "image_size": "a whole number",
    "resize_mode": "text",
    "mean": "a list of numbers",
    "std": "a list of numbers",
    "clahe": "true or false",
    "channels": "a whole number",
    "interpolation": "text",
}


def _is_kind(value: Any, kind: str) -> bool:
    """Whether a checkpoint value has the type :data:`_FIELD_KINDS` asks for."""
    if kind == "a whole number":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "text":
        return isinstance(value, str)
    if kind == "true or false":
        return isinstance(value, bool)
    return isinstance(value, (list, tuple)) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value
    )


@dataclass(frozen=True)
class Geometry:
    """The affine map from the original image frame to the network input.

    A point ``(x, y)`` of the original image lands at
    ``(x * scale_x + pad_left, y * scale_y + pad_top)`` in the network input,
    using pixel-centre coordinates (``x + 0.5``).
    """

    original_size: tuple[int, int]  # (H, W)
    network_size: int
    scale_x: float
    scale_y: float
    pad_left: int
    pad_top: int

    @property
    def content_box(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` of the image inside the network input."""
        height, width = self.original_size
        right = self.pad_left + round(width * self.scale_x)
        bottom = self.pad_top + round(height * self.scale_y)
        return self.pad_left, self.pad_top, right, bottom

    def to_network(self, points: np.ndarray) -> np.ndarray:
        """Map ``N×2`` (x, y) points of the original frame to the network frame."""
        pts = np.asarray(points, dtype=np.float64)
        out = np.empty_like(pts)
        out[:, 0] = (pts[:, 0] + 0.5) * self.scale_x + self.pad_left - 0.5
        out[:, 1] = (pts[:, 1] + 0.5) * self.scale_y + self.pad_top - 0.5
        return out

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Map ``N×2`` (x, y) points of the network frame to the original frame."""
        pts = np.asarray(points, dtype=np.float64)
        out = np.empty_like(pts)
        out[:, 0] = (pts[:, 0] + 0.5 - self.pad_left) / self.scale_x - 0.5
        out[:, 1] = (pts[:, 1] + 0.5 - self.pad_top) / self.scale_y - 0.5
        return out

    def heatmap_to_original(
        self, heatmap: np.ndarray, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """Crop the padding from a network-size heatmap, rescale it to [0, 1] within
        the image itself, and resize it to the image.

        Args:
            heatmap: ``S×S`` float map at the network input size.
            size: ``(H, W)`` to resize to, e.g. a picture of the whole image;
                default the original frame.

        Returns:
            ``H×W`` float32 map of the whole image, clipped to [0, 1].
        """
        if heatmap.shape != (self.network_size, self.network_size):
            raise ValueError(
                f"heatmap has shape {heatmap.shape}, expected "
                f"{(self.network_size, self.network_size)}"
            )
        left, top, right, bottom = self.content_box
        crop = np.ascontiguousarray(heatmap[top:bottom, left:right], dtype=np.float32)
        crop = _rescale(crop)  # padding must not set the scale (nor the thresholds)
        height, width = size or self.original_size
        resized = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
        return np.clip(resized, 0.0, 1.0)


def _rescale(heatmap: np.ndarray) -> np.ndarray:
    """Min–max scale to [0, 1]; a flat map stays as it is (all zero stays zero)."""
    low, high = float(heatmap.min()), float(heatmap.max())
    if high <= low or (low == 0.0 and high == 1.0):
        return heatmap
    return (heatmap - low) / (high - low)


def compute_geometry(original_size: tuple[int, int], config: PreprocessConfig) -> Geometry:
    """Work out scale and padding for an image of ``original_size`` (H, W)."""
    height, width = original_size
    size = config.image_size
    if config.resize_mode == "stretch":
        return Geometry(original_size, size, size / width, size / height, 0, 0)
    scale = size / max(height, width)
    new_w = max(1, round(width * scale))
    new_h = max(1, round(height * scale))
    return Geometry(
        original_size,
        size,
        new_w / width,
        new_h / height,
        (size - new_w) // 2,
        (size - new_h) // 2,
    )


def apply_clahe(pixels: np.ndarray, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of a grey image, as uint16.

    Args:
        pixels: ``uint8``, ``uint16`` or float in [0, 1] (all become 16-bit levels).
    """
    if pixels.dtype == np.uint8:
        as_u16 = pixels.astype(np.uint16) * np.uint16(257)  # 255 -> 65535, exactly
    elif pixels.dtype == np.uint16:
        as_u16 = pixels
    else:
        as_u16 = np.round(np.clip(pixels, 0.0, 1.0) * 65535).astype(np.uint16)
    clahe = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles))
    return clahe.apply(np.ascontiguousarray(as_u16))


_CV2_FILTERS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}


def resize_to_network(
    pixels: np.ndarray, geometry: Geometry, interpolation: str = "area"
) -> np.ndarray:
    """Resize (and pad) a grey image into the ``S×S`` network frame, as float32 in [0, 1].

    Args:
        pixels: ``uint8`` (white 255), ``uint16`` (white 65535) or float in
            [0, 1], covering the whole image at any resolution (the file's, or
            a reduced decode of it): the content box comes from ``geometry``.
        geometry: From :func:`compute_geometry` for the image's own size.
        interpolation: One of :data:`INTERPOLATIONS`.

    Integer images are resized in their own type (OpenCV rounds each result
    to the nearest level, at most half a grey level away from a float resize)
    and only the network-size result becomes float.
    """
    left, top, right, bottom = geometry.content_box
    size = geometry.network_size
    shrinking = (right - left) < pixels.shape[1]
    area = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    flag = _CV2_FILTERS.get(interpolation, area)
    white = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(pixels.dtype)
    source = np.ascontiguousarray(pixels if white else pixels.astype(np.float32, copy=False))
    resized = cv2.resize(source, (right - left, bottom - top), interpolation=flag)
    canvas = np.zeros((size, size), dtype=np.float32)
    canvas[top:bottom, left:right] = resized
    if white:
        canvas /= np.float32(white)
    return canvas


def to_network_gray(
    pixels: np.ndarray, config: PreprocessConfig, *, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, Geometry]:
    """CLAHE (if on) and resize a grey image into the ``S×S`` frame (float32, [0, 1]).

    Args:
        pixels: Grey ``h×w`` image, ``uint8``, ``uint16`` or float in [0, 1].
        config: The checkpoint's preprocessing.
        size: ``(H, W)`` of the image's own frame when ``pixels`` is a reduced
            copy of it (:attr:`assurexray.imaging.reading.Radiograph.size`); default
            ``pixels.shape``. The geometry always refers to this frame.
    """
    if pixels.ndim != 2:
        raise ValueError(f"expected a grey H×W image, got shape {pixels.shape}")
    geometry = compute_geometry(size or pixels.shape, config)
    image = apply_clahe(pixels) if config.clahe else pixels
    return resize_to_network(image, geometry, config.interpolation), geometry


def decode_floor(config: PreprocessConfig, display_side: int = 0) -> tuple[int, int] | None:
    """The ``(long, short)`` sides below which a reduced decode must not go.

    The network needs ``image_size`` pixels along both sides (a stretch
    resize fills the square), pictures need ``display_side`` along the
    longest; pass this as ``reduce_to`` to :func:`assurexray.imaging.reading.read_image`.
    None (decode every pixel) for a ``linear`` or ``cubic`` resize: a reduced
    JPEG decode averages blocks, which only the ``area`` filter does too.
    """
    if config.interpolation != "area":
        return None
    return max(config.image_size, display_side), config.image_size


def normalise(square: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Replicate a grey ``S×S`` [0,1] image to channels and apply mean/std."""
    mean = np.asarray(config.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(config.std, dtype=np.float32)[:, None, None]
    stacked = np.repeat(square[None].astype(np.float32), config.channels, axis=0)
    return ((stacked - mean) / std).astype(np.float32)


def preprocess_image(
    pixels: np.ndarray, config: PreprocessConfig, *, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, Geometry]:
    """Turn a grey image into a normalised ``C×S×S`` network input.

    Args:
        pixels: Grey image: ``uint8``, ``uint16`` or float in [0, 1], such as
            :attr:`assurexray.imaging.reading.Radiograph.data`.
        config: The checkpoint's preprocessing parameters.
        size: The image's own ``(H, W)`` when ``pixels`` is a reduced copy
            (:attr:`assurexray.imaging.reading.Radiograph.size`); default its shape.

    Returns:
        The float32 input array and the geometry that maps back to the
        ``size`` frame.
    """
    square, geometry = to_network_gray(pixels, config, size=size)
    return normalise(square, config), geometry


from assurexray.core.deprecation import renamed_names  # noqa: E402

# Renamed in 0.1 (issue 20); kept for one minor release.
__getattr__ = renamed_names(
    __name__,
    {
        "preprocess": "assurexray.imaging.preprocess:preprocess_image",
    },
)
