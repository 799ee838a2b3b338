"""PNG encoding of infer's pictures: assurexray's encoder against OpenCV's and Pillow's.

For each image (``--input-dir``: real radiographs; otherwise noise-textured
ones made here), draws the two PNGs ``infer`` writes, at display size (at most
1024 px a side): the captioned overlay (RGB) and the heatmap (an 8-bit
palette image of the map's levels), with a smooth made-up heatmap. Then
encodes them in turns, on one thread, with:

* opencv: ``cv2.imencode`` at zlib level 1, RLE strategy and UP filter (the
  settings infer used before) — every ratio is to this one;
* pillow: ``Image.save(format="PNG", compress_level=1)``;
* assurexray: :func:`assurexray.core.png.encode_png` (UP filter, ISA-L deflate).

Prints milliseconds per picture, the ratio of times, and KiB written.

    python benchmarks/bench_png.py --input-dir ../shared/radiographs --repeats 5
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from rounds import time_in_turns

from assurexray.core.png import encode_png
from assurexray.imaging.reading import read_image
from assurexray.inference.infer_inputs import collect_inputs
from assurexray.reporting import render as draw


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input-dir", type=Path, help="folder of images (default: synthetic)")
    parser.add_argument("--images", type=int, default=8, help="synthetic images to make")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds; the fastest counts")
    return parser.parse_args(argv)


def synthetic_radiographs(count: int) -> list[np.ndarray]:
    """Radiograph-like 8-bit images of 1500×1100 px: a bone, a texture and noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:1500, :1100].astype(np.float32)
    images = []
    for _ in range(count):
        bone = np.exp(-(((xx - rng.uniform(400, 700)) / rng.uniform(100, 250)) ** 2))
        texture = 0.05 * np.sin(yy / rng.uniform(5, 15)) * np.cos(xx / rng.uniform(5, 15))
        noise = rng.normal(0, 0.02, bone.shape).astype(np.float32)
        images.append(np.clip(0.15 + 0.6 * bone + texture + noise, 0, 1))
    return images


def pictures(radiograph: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """infer's overlay (captioned RGB) and heatmap levels of one radiograph."""
    gray = draw.to_rgb(draw.fit_display(radiograph, 1024))
    height, width = gray.shape[:2]
    yy, xx = np.mgrid[:height, :width]
    rows, columns = (yy - 0.4 * height) / (0.15 * height), (xx - width / 2) / (0.2 * width)
    heat = np.exp(-(rows**2 + columns**2))
    levels = draw.heat_levels(heat)
    overlay = draw.blend(gray, draw.colour_levels(levels))
    return draw.add_caption(overlay, "Malignant 87.0%"), levels


def opencv_png(rgb: np.ndarray, indexes: bool) -> bytes:
    colours = draw.palette()[rgb] if indexes else rgb  # OpenCV writes no palette PNG
    settings = [cv2.IMWRITE_PNG_COMPRESSION, 1]
    settings += [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    if hasattr(cv2, "IMWRITE_PNG_FILTER"):
        settings += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
    ok, data = cv2.imencode(".png", cv2.cvtColor(colours, cv2.COLOR_RGB2BGR), settings)
    assert ok
    return data.tobytes()


def pillow_png(pixels: np.ndarray, indexes: bool) -> bytes:
    image = Image.fromarray(pixels)
    if indexes:
        image.putpalette(draw.palette().tobytes())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def ours_png(pixels: np.ndarray, indexes: bool) -> bytes:
    return encode_png(pixels, palette=draw.palette() if indexes else None)


def encode_all(
    encode: Callable[[np.ndarray, bool], bytes],
    drawn: list[tuple[np.ndarray, np.ndarray]],
    index: int,
) -> list[bytes]:
    """Encode picture ``index`` (0 overlay, 1 heatmap levels) of every image."""
    return [encode(pictures[index], index == 1) for pictures in drawn]


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    args = parse_args(argv)
    cv2.setNumThreads(1)
    if args.input_dir:
        files = collect_inputs([args.input_dir]).files
        radiographs = [read_image(path, reduce_to=(1024, 1024)).data for path in files]
    else:
        radiographs = synthetic_radiographs(args.images)
    drawn = [pictures(radiograph) for radiograph in radiographs]
    encoders = {"opencv": opencv_png, "pillow": pillow_png, "assurexray": ours_png}
    print(f"{len(drawn)} images, PNGs at display size (1024 px), one thread, {args.repeats} rounds")
    results: dict[str, dict[str, float]] = {}
    for picture, index in (("overlay (RGB)", 0), ("heatmap (palette)", 1)):
        approaches: dict[str, Callable[[], object]] = {
            name: partial(encode_all, encode, drawn, index) for name, encode in encoders.items()
        }
        rounds, _ = time_in_turns(approaches, args.repeats)
        best = {name: min(r[name] for r in rounds) for name in encoders}
        print(picture)
        for name, encode in encoders.items():
            kib = sum(len(encode(d[index], index == 1)) for d in drawn) / len(drawn) / 1024
            ms = best[name] / len(drawn) * 1000
            ratio = best[name] / best["opencv"]
            results[f"{picture} {name}"] = {"ms": ms, "ratio": ratio, "kib": kib}
            print(f"  {name:12s} {ms:7.2f} ms  {ratio:5.2f}x opencv  {kib:7.1f} KiB")
    return results


if __name__ == "__main__":
    main()
