"""What does a heatmap cost on top of a prediction?

Times three approaches on the same preprocessed images, in one run:

(a) plain batched inference (``torch.inference_mode`` forward + softmax);
(b) prediction + Grad-CAM through :class:`assurexray.explain.explainer.Explainer`
    (the exact forward-only path where the model allows it);
(c) the naive approach: per image, a forward pass for the prediction and then
    pytorch-grad-cam's ``GradCAM`` at batch size 1.

Each approach is warmed up once before it is timed; with ``--repeats`` the
approaches take turns and each keeps its fastest run. Prints seconds, images/s
and the ratios to (a); ``--json PATH`` writes the same figures, with the peak
resident memory (``ru_maxrss``) and, on CUDA, each approach's peak allocation.

    python benchmarks/bench_explain.py --images 32 --batch-size 16 --json bench.json
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_grad_cam as pgc
import torch
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from assurexray.core.errors import AssureXrayError
from assurexray.core.files import write_json
from assurexray.explain.explainer import Explainer
from assurexray.imaging.preprocess import PreprocessConfig, preprocess_image
from assurexray.models.model import build_model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="efficientnet_b0", help="timm architecture")
    parser.add_argument("--images", type=int, default=32, help="synthetic images to make")
    parser.add_argument("--input-dir", type=Path, help="read real images from this folder")
    parser.add_argument("--image-size", type=int, default=224, help="network input side")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs; the fastest counts")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def load_inputs(args: argparse.Namespace) -> np.ndarray:
    """Preprocessed ``N×3×S×S`` inputs from real files or synthetic radiograph-like arrays."""
    config = PreprocessConfig(image_size=args.image_size)
    if args.input_dir is not None:
        try:
            from assurexray.imaging.reading import is_image_file, read_image
        except ImportError:
            print(
                "assurexray.imaging.reading is not available; using synthetic images",
                file=sys.stderr,
            )
        else:
            files = sorted(p for p in args.input_dir.iterdir() if is_image_file(p))[: args.images]
            if not files:
                sys.exit(f"{args.input_dir}: no image files found")
            arrays = []
            for path in files:
                try:
                    arrays.append(preprocess_image(read_image(path).pixels, config)[0])
                except AssureXrayError as exc:
                    print(f"skipped: {exc}", file=sys.stderr)
            return np.stack(arrays)
    rng = np.random.default_rng(0)
    grays = []
    for _ in range(args.images):
        height, width = rng.integers(300, 600, size=2)
        yy, xx = np.mgrid[:height, :width]
        cy, cx = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width
        bone = np.exp(-(((yy - cy) / (0.3 * height)) ** 2 + ((xx - cx) / (0.1 * width)) ** 2))
        grays.append(np.clip(bone + rng.normal(0, 0.05, bone.shape), 0, 1).astype(np.float32))
    return np.stack([preprocess_image(g, config)[0] for g in grays])


def _time(
    approaches: dict[str, Callable[[torch.Tensor], Any]],
    inputs: torch.Tensor,
    args: argparse.Namespace,
    device: torch.device,
) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Warm up each approach on one batch, then time it (best of ``--repeats``)."""
    for run in approaches.values():
        run(inputs[: args.batch_size])
    figures = {name: {"seconds": float("inf")} for name in approaches}
    results = {}
    for _ in range(args.repeats):  # round robin, so background load hits all alike
        for name, run in approaches.items():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            _sync(device)
            start = time.perf_counter()
            results[name] = run(inputs)
            _sync(device)
            seconds = min(figures[name]["seconds"], time.perf_counter() - start)
            figures[name]["seconds"] = seconds
            figures[name]["images_per_second"] = len(inputs) / seconds
            if device.type == "cuda":
                figures[name]["cuda_peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return figures, results


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model(args.arch, num_classes=3).to(device).eval()
    inputs = torch.from_numpy(load_inputs(args))
    explainer = Explainer(model)
    layer = model.get_submodule(explainer.target_layer_names[0])
    used_fast_path = []

    def batches(images: torch.Tensor) -> list[torch.Tensor]:
        return [
            images[i : i + args.batch_size].to(device)
            for i in range(0, len(images), args.batch_size)
        ]

    def plain(images: torch.Tensor) -> list[np.ndarray]:
        with torch.inference_mode():
            return [torch.softmax(model(b), dim=1).cpu().numpy() for b in batches(images)]

    def packaged(images: torch.Tensor) -> np.ndarray:
        results = [explainer.explain(batch) for batch in batches(images)]
        used_fast_path.append(all(r.used_fast_path for r in results))
        return np.concatenate([r.heatmaps for r in results])

    def naive(images: torch.Tensor) -> np.ndarray:
        maps = []
        with pgc.GradCAM(model, [layer]) as cam:
            for image in images:
                x = image[None].to(device)
                with torch.inference_mode():
                    predicted = int(model(x).argmax(dim=1))
                maps.append(cam(x, [ClassifierOutputTarget(predicted)])[0])
        return np.stack(maps)

    approaches = {"plain": plain, "explainer": packaged, "naive": naive}
    figures, results = _time(approaches, inputs, args, device)
    plain_seconds = figures["plain"]["seconds"]
    report = {
        "arch": args.arch,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "images": len(inputs),
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "approaches": figures,
        "ratios": {
            "explainer_vs_plain": figures["explainer"]["seconds"] / plain_seconds,
            "naive_vs_plain": figures["naive"]["seconds"] / plain_seconds,
        },
        "explainer_used_fast_path": all(used_fast_path),
        "fast_path_reason": explainer.fast_path_reason,
        "max_abs_difference_explainer_vs_naive": float(
            np.abs(results["explainer"] - results["naive"]).max()
        ),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    _print(report)
    if args.json:
        write_json(args.json, report)
    return report


def _print(report: dict) -> None:
    print(
        f"{report['arch']} on {report['device']} ({report['threads']} threads): "
        f"{report['images']} images at {report['image_size']} px, batch {report['batch_size']}"
    )
    labels = {
        "plain": "(a) plain inference",
        "explainer": "(b) prediction + Grad-CAM (assurexray)",
        "naive": "(c) forward + pytorch-grad-cam, batch 1",
    }
    plain = report["approaches"]["plain"]["seconds"]
    for name, label in labels.items():
        figures = report["approaches"][name]
        print(
            f"  {label:42s} {figures['seconds']:8.3f} s  {figures['images_per_second']:8.1f} img/s"
            f"  {figures['seconds'] / plain:5.2f}× (a)"
        )
    print(f"  fast path: {report['explainer_used_fast_path']} ({report['fast_path_reason']})")
    difference = report["max_abs_difference_explainer_vs_naive"]
    print(f"  max |(b) - (c)| heatmap difference: {difference:.2e}")
    print(f"  peak resident memory: {report['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
