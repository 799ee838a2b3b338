"""Folder-mode throughput of ``assurexray infer``, decode included.

Times, on the same image files in one run (approaches take turns, so
background load hits all of them alike):

* decode: a bare OpenCV grayscale decode of every file, one after another
  (``cv2.imread(path, IMREAD_GRAYSCALE | IMREAD_ANYDEPTH)``);
* read_image: :func:`assurexray.imaging.reading.read_image` as the infer job calls it
  (a JPEG at reduced scale, never below the network input and the 1024 px
  pictures), and read_image_full, decoding every pixel;
* (a) plain: decode + plain batched inference, as a short script would do it:
  OpenCV decode and letterbox resize in the same number of threads, then a
  forward pass per batch, nothing written. Every ratio below is to (a);
* predict: assurexray's streamed prediction (no heatmaps, nothing written);
* (b) infer_no_images: the infer job with ``--no-images``: (a) plus Grad-CAM,
  JSON and CSV written;
* (c) infer: the full job, also the overlay and heatmap PNGs; with
  ``--writers-beside`` also as it ran before its writers took turns with a
  model using every core (one writer thread beside the model).

Prints seconds, images/s, ratios (the fastest run of each approach, the
range of the ratio over the rounds, and the ratio of CPU times, which a busy
shared machine disturbs less) and the peak resident memory; ``--json`` writes
them. Images: ``--input-dir``, or made by the benchmark: ``--synthetic
small`` (48 radiographs of 256-512 px), ``large-png16`` or ``large-jpeg``
(3000×4000 16-bit PNGs or 8-bit JPEGs).

With ``--threads 1 --workers 1`` no thread waits on another (torch's
threads spin while they wait, and spin longer on a busy machine), so the CPU
times are the work each approach does.

    python benchmarks/bench_infer.py --input-dir ../shared/radiographs --repeats 3 --json infer.json
    python benchmarks/bench_infer.py --synthetic large-png16 --images 12 --repeats 3
    python benchmarks/bench_infer.py --synthetic large-jpeg --threads 1 --workers 1 --repeats 3
    python benchmarks/bench_infer.py --input-dir radiographs/ --writers-beside --repeats 3
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest.mock import patch

import cv2
import numpy as np
import torch
from rounds import time_in_turns

from assurexray.core.config import CLASS_NAMES
from assurexray.core.files import write_json
from assurexray.engine.file_writers import WriterPlan
from assurexray.engine.jobs import StreamOptions
from assurexray.engine.model_opening import ModelOptions, open_model
from assurexray.engine.streaming import DISPLAY_SIDE, batched, predict_paths
from assurexray.imaging.preprocess import (
    PreprocessConfig,
    compute_geometry,
    decode_floor,
    normalise,
)
from assurexray.imaging.reading import read_image
from assurexray.inference import infer
from assurexray.inference.infer import InferOptions, RenderOptions
from assurexray.inference.infer_inputs import collect_inputs
from assurexray.models.checkpoint import save_checkpoint
from assurexray.models.model import build_model

DECODE_PASSES = 5  # the decode-only approaches read every file this many times per round
LABELS = {
    "decode": "bare OpenCV grayscale decode",
    "read_image": "read_image (reduced JPEG decode)",
    "read_image_full": "read_image (every pixel)",
    "plain": "(a) decode + plain inference",
    "predict": "assurexray prediction only",
    "infer_no_images": "(b) infer --no-images",
    "infer": "(c) infer (with PNGs)",
    "infer_beside": "(c) with one writer beside the model",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input-dir", type=Path, help="folder of images (default: synthetic)")
    parser.add_argument(
        "--synthetic",
        choices=("small", "large-png16", "large-jpeg"),
        default="small",
        help="images to make when no --input-dir is given",
    )
    parser.add_argument("--images", type=int, default=48, help="synthetic images to make")
    parser.add_argument("--arch", default="efficientnet_b0")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="decoding threads")
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (default: torch's; 1: CPU time is the work)"
    )
    parser.add_argument(
        "--writers-beside",
        action="store_true",
        help="also time (c) with one writer thread beside the model, however many cores it uses",
    )
    parser.add_argument("--repeats", type=int, default=1, help="timed rounds; the fastest counts")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def make_large(folder: Path, count: int, kind: str) -> Path:
    """``count`` 3000×4000 radiograph-like images: 16-bit PNG or 8-bit JPEG."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:3000, :4000].astype(np.float32)
    for index in range(count):
        centre = rng.uniform(1500, 2500)
        bone = np.exp(-(((xx - centre) / rng.uniform(300, 600)) ** 2))
        texture = 0.05 * np.sin(yy / rng.uniform(5, 15)) * np.cos(xx / rng.uniform(5, 15))
        noise = rng.normal(0, 0.02, bone.shape).astype(np.float32)
        image = np.clip(0.15 + 0.6 * bone + texture + noise, 0, 1)
        if kind == "large-png16":
            cv2.imwrite(str(folder / f"large{index:03d}.png"), (image * 65535).astype(np.uint16))
        else:
            cv2.imwrite(str(folder / f"large{index:03d}.jpg"), (image * 255).astype(np.uint8))
    return folder


def random_checkpoint(path: Path, arch: str, config: PreprocessConfig) -> Path:
    """A checkpoint of ``arch`` with seeded random weights (speed does not depend on them)."""
    torch.manual_seed(0)
    model = build_model(arch, num_classes=len(CLASS_NAMES))
    save_checkpoint(path, model, arch=arch, class_names=CLASS_NAMES, preprocess=config)
    return path


def plain_inference(
    files: list[Path], model: torch.nn.Module, config: PreprocessConfig, args: argparse.Namespace
) -> None:
    """What a short script does: OpenCV decode + letterbox in threads, forward per batch."""

    def prepare(path: Path) -> np.ndarray:
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH)
        geometry = compute_geometry(grey.shape, config)
        left, top, right, bottom = geometry.content_box
        small = cv2.resize(grey, (right - left, bottom - top), interpolation=cv2.INTER_AREA)
        square = np.zeros((config.image_size,) * 2, np.float32)
        square[top:bottom, left:right] = small / np.float32(np.iinfo(grey.dtype).max)
        return normalise(square, config)

    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for batch in batched(pool.map(prepare, files), args.batch_size):
            with torch.inference_mode():
                torch.softmax(model(torch.from_numpy(np.stack(batch))), dim=1).numpy()


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    scratch = Path(tempfile.mkdtemp(prefix="bench_infer_"))
    folder = args.input_dir
    if folder is None and args.synthetic == "small":
        from assurexray.data.synthetic import generate_dataset

        generate_dataset(scratch / "data", num_images=args.images, seed=0)
        folder = scratch / "data" / "images"
    elif folder is None:
        folder = make_large(scratch / "large", args.images, args.synthetic)
    files = collect_inputs([folder]).files
    config = PreprocessConfig(image_size=args.image_size)
    checkpoint = random_checkpoint(scratch / "model.pt", args.arch, config)
    stream = StreamOptions(device="cpu", batch_size=args.batch_size, workers=args.workers)
    model = open_model(ModelOptions(checkpoint), stream.device)
    network = model.checkpoint.model.eval()
    floor = decode_floor(config, DISPLAY_SIDE)

    def infer_job(images: bool, beside: bool = False) -> None:
        options = InferOptions(
            inputs=(folder,),
            output=scratch / f"out_{images}",
            render=RenderOptions(images=images),
            stream=stream,
        )
        if beside:  # the writer plan infer used before it took turns with the model
            with patch.object(infer, "plan_writers", lambda **_: WriterPlan(1, take_turns=False)):
                infer.run(model, options)
        else:
            infer.run(model, options)

    grey = cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH
    passes = range(DECODE_PASSES)  # decoding alone is quick: several passes per timing
    approaches: dict[str, Callable[[], object]] = {
        "decode": lambda: [cv2.imread(str(f), grey) for _ in passes for f in files],
        "read_image": lambda: [read_image(f, reduce_to=floor) for _ in passes for f in files],
        "read_image_full": lambda: [read_image(f) for _ in passes for f in files],
        "plain": lambda: plain_inference(files, network, config, args),
        "predict": lambda: list(predict_paths(files, network, model.preprocess, stream)),
        "infer_no_images": lambda: infer_job(False),
        "infer": lambda: infer_job(True),
    }
    if args.writers_beside:
        approaches["infer_beside"] = lambda: infer_job(True, beside=True)
    rounds, cpu = time_in_turns(approaches, args.repeats)
    report = summarise(rounds, cpu, files, folder, args)
    print_report(report)
    if args.json:
        write_json(args.json, report)
    shutil.rmtree(scratch, ignore_errors=True)
    return report


def summarise(
    rounds: list[dict[str, float]],
    cpu: dict[str, float],
    files: list[Path],
    folder: Path,
    args: argparse.Namespace,
) -> dict:
    """Fastest time per approach; ratios of the fastest times and their range over rounds.

    ``cpu_ratios`` compare the CPU time of this process (all its threads): the
    work done, which other programs on a shared machine disturb far less than
    the wall-clock time.
    """
    seconds = {name: min(r[name] for r in rounds) for name in rounds[0]}

    def base(name: str) -> str:
        return "decode" if name.startswith("read_image") else "plain"

    per_round = {
        name: [r[name] / r[base(name)] for r in rounds] for name in seconds if name != "decode"
    }
    for name in ("decode", "read_image", "read_image_full"):
        seconds[name] /= DECODE_PASSES
        cpu[name] /= DECODE_PASSES
    sizes = [f.stat().st_size for f in files]
    shapes = {read_image(f).size for f in files[:50]}
    return {
        "input": str(folder),
        "images": len(files),
        "mean_file_kib": sum(sizes) / len(sizes) / 1024,
        "largest_image": max(shapes, key=lambda s: s[0] * s[1]),
        "arch": args.arch,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "approaches": {
            n: {"seconds": s, "images_per_second": len(files) / s} for n, s in seconds.items()
        },
        "ratios": {n: seconds[n] / seconds[base(n)] for n in per_round},
        "ratio_ranges": {n: [min(v), max(v)] for n, v in per_round.items()},
        "cpu_seconds": cpu,
        "cpu_ratios": {n: cpu[n] / cpu[base(n)] for n in per_round},
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def print_report(report: dict) -> None:
    height, width = report["largest_image"]
    print(
        f"{report['images']} images from {report['input']} (mean {report['mean_file_kib']:.0f} "
        f"KiB, up to {width}x{height}), {report['arch']} at {report['image_size']} px, "
        f"batch {report['batch_size']}, {report['threads']} threads, {report['repeats']} rounds"
    )
    for name, label in LABELS.items():
        if name not in report["approaches"]:
            continue
        figures = report["approaches"][name]
        rate = figures["images_per_second"]
        line = f"  {label:34s} {figures['seconds']:8.2f} s {rate:8.1f} img/s"
        if name in report["ratios"]:
            low, high = report["ratio_ranges"][name]
            of = "decode" if name.startswith("read_image") else "(a)"
            line += f"  {report['ratios'][name]:5.2f}x {of} (rounds {low:.2f}-{high:.2f};"
            line += f" CPU time {report['cpu_ratios'][name]:.2f}x)"
        print(line)
    print(f"  peak resident memory: {report['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
