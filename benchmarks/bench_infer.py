"""Folder-mode throughput of ``assurexray infer``, decode included.

Times, on the same image files in one run:

(a) plain batched inference: decode + preprocess (background threads) and a
    forward pass per batch, nothing written;
(b) the infer job without pictures (``--no-images``): (a) plus Grad-CAM, the
    heatmap mapped back to each image's frame, and JSON/CSV written;
(c) the full infer job: (b) plus the overlay and heatmap PNGs.

(b) and (c) call the job function itself, ``assurexray.infer.run``, on a
checkpoint opened with ``assurexray.jobs.open_model`` (as the command does).

Prints seconds, images/s and the ratios to (a); ``--json PATH`` writes them.
Without ``--input-dir`` it generates synthetic radiographs first.

    python benchmarks/bench_infer.py --input-dir ../shared/radiographs --json infer.json
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import torch

from assurexray import infer
from assurexray.config import CLASS_NAMES
from assurexray.infer import InferOptions, RenderOptions, collect_inputs
from assurexray.jobs import ModelOptions, StreamOptions, open_model
from assurexray.model import build_model, save_checkpoint
from assurexray.preprocess import PreprocessConfig
from assurexray.report import write_json
from assurexray.streaming import predict_paths


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input-dir", type=Path, help="folder of images (default: synthetic)")
    parser.add_argument("--images", type=int, default=48, help="synthetic images to generate")
    parser.add_argument("--arch", default="efficientnet_b0")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="decoding threads")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs; the fastest counts")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="bench_infer_"))
    folder = args.input_dir
    if folder is None:
        from assurexray.synthetic import generate_dataset

        generate_dataset(scratch / "data", num_images=args.images, seed=0)
        folder = scratch / "data" / "images"
    files = collect_inputs([folder]).files
    torch.manual_seed(0)
    checkpoint = scratch / "model.pt"
    save_checkpoint(
        checkpoint,
        build_model(args.arch, num_classes=len(CLASS_NAMES)),
        arch=args.arch,
        class_names=CLASS_NAMES,
        preprocess=PreprocessConfig(image_size=args.image_size),
    )
    stream = StreamOptions(device="cpu", batch_size=args.batch_size, workers=args.workers)
    model = open_model(ModelOptions(checkpoint), stream.device)

    def plain() -> None:
        for _ in predict_paths(files, model.checkpoint.model, model.preprocess, stream):
            pass

    def infer_job(images: bool) -> None:
        options = InferOptions(
            inputs=(folder,),
            output=scratch / f"out_{images}",
            render=RenderOptions(images=images),
            stream=stream,
        )
        infer.run(model, options)

    approaches = {
        "plain": plain,
        "infer_no_images": lambda: infer_job(False),
        "infer": lambda: infer_job(True),
    }
    for run in approaches.values():  # warm-up: first decode from disk, first forward
        run()
    seconds = {name: float("inf") for name in approaches}
    for _ in range(args.repeats):
        for name, run in approaches.items():
            start = time.perf_counter()
            run()
            seconds[name] = min(seconds[name], time.perf_counter() - start)
    sizes = [f.stat().st_size for f in files]
    report = {
        "input": str(folder),
        "images": len(files),
        "mean_file_kib": sum(sizes) / len(sizes) / 1024,
        "arch": args.arch,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "threads": torch.get_num_threads(),
        "approaches": {
            n: {"seconds": s, "images_per_second": len(files) / s} for n, s in seconds.items()
        },
        "ratios": {n: s / seconds["plain"] for n, s in seconds.items()},
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(
        f"{report['images']} images from {folder} (mean {report['mean_file_kib']:.0f} KiB), "
        f"{args.arch} at {args.image_size} px, batch {args.batch_size}, {report['threads']} threads"
    )
    labels = {
        "plain": "(a) decode + plain inference",
        "infer_no_images": "(b) infer --no-images",
        "infer": "(c) infer (with PNGs)",
    }
    for name, label in labels.items():
        figures = report["approaches"][name]
        print(
            f"  {label:32s} {figures['seconds']:8.2f} s {figures['images_per_second']:8.1f} img/s"
            f"  {report['ratios'][name]:5.2f}x (a)"
        )
    print(f"  peak resident memory: {report['peak_rss_mib']:.0f} MiB")
    if args.json:
        write_json(args.json, report)
    shutil.rmtree(scratch, ignore_errors=True)
    return report


if __name__ == "__main__":
    main()
