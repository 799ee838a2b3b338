"""Training throughput: ``assurexray train``'s loop against a plain timm loop.

Times, in one run and on the same device, image size, batch size and model:

(a) plain: a minimal timm training loop over ready-made tensors (no
    augmentation, no data loading at all): ``timm.create_model``, AdamW,
    cross-entropy, ``loss.backward()``, ``optimizer.step()``. On CUDA it uses
    the same mixed precision and ``channels_last`` as assurexray. It is the
    ceiling: the model's own speed.
(b) assurexray: one epoch of :func:`assurexray.training.train_steps.train_epoch` as
    ``assurexray train`` runs it: batches augmented by the BatchLoader's
    threads from the image cache, class-weighted loss, gradient clipping,
    one-cycle schedule (and AMP, channels_last, pinned memory on CUDA).

(c) contiguous: loop (a) with the model and its inputs in the default contiguous layout
    instead of ``channels_last`` (which assurexray uses on every device): the layout's gain.

All are warmed up with one epoch, then take turns; the fastest epoch of each
counts. Prints images/s, the ratio (b)/(a) of the times (1.0: data loading
and the extras cost nothing) and the peak resident memory; ``--json`` writes
them. ``--compile`` wraps both models in ``torch.compile`` to see whether it
helps.

    python benchmarks/bench_train.py --images 128 --batch-size 32 --repeats 3
"""

from __future__ import annotations

import argparse
import resource
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from rounds import time_in_turns
from torch import nn

from assurexray.core.files import write_json
from assurexray.imaging.preprocess import PreprocessConfig
from assurexray.models.model import build_model
from assurexray.training.train_data import BatchLoader
from assurexray.training.train_steps import Accelerator, class_weights, train_epoch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="efficientnet_b0")
    parser.add_argument("--images", type=int, default=128, help="images per epoch")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="BatchLoader threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs; the fastest counts")
    parser.add_argument("--compile", action="store_true", help="torch.compile both models")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    accelerator = Accelerator(device)
    rng = np.random.default_rng(0)
    size = args.image_size
    cache = rng.random((args.images, size, size)).astype(np.float16)  # letterboxed greys
    labels = rng.integers(0, 3, args.images)
    config = PreprocessConfig(image_size=size)
    torch.manual_seed(0)

    def model(layout: torch.memory_format = accelerator.memory_format) -> nn.Module:
        net = build_model(args.arch, num_classes=3).to(device, memory_format=layout)
        return torch.compile(net) if args.compile else net

    ours, plain_model = model(), model()
    contiguous_model = model(torch.contiguous_format)
    loader = BatchLoader(
        cache,
        labels,
        config,
        batch_size=args.batch_size,
        workers=args.workers,
        rng=rng,
        pin_memory=device.type == "cuda",
    )
    optimizer = torch.optim.AdamW(ours.parameters(), lr=1e-3, weight_decay=1e-4)
    total_steps = (args.repeats + 1) * len(loader)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, 1e-3, total_steps=total_steps)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(labels, 3).to(device))

    batches = [
        (
            accelerator.to_device(torch.randn(len(keys), 3, size, size)),
            torch.from_numpy(labels[[i for i, _ in keys]]).to(device),
        )
        for keys in loader.epoch_keys()
    ]
    plain_loss = nn.CrossEntropyLoss()

    def plain_loop(net: nn.Module, layout: torch.memory_format) -> Callable[[], None]:
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)

        def epoch() -> None:
            net.train()
            for images, targets in batches:
                optimizer.zero_grad(set_to_none=True)
                with accelerator.autocast():
                    loss = plain_loss(net(images.contiguous(memory_format=layout)), targets)
                accelerator.scaler.scale(loss).backward()
                accelerator.scaler.step(optimizer)
                accelerator.scaler.update()
            _sync(device)

        return epoch

    def assurexray_epoch() -> None:
        train_epoch(ours, loader, optimizer, scheduler, loss_fn, accelerator, None)
        _sync(device)

    approaches = {
        "plain": plain_loop(plain_model, accelerator.memory_format),
        "assurexray": assurexray_epoch,
        "contiguous": plain_loop(contiguous_model, torch.contiguous_format),
    }
    # The warm-up epoch also compiles, with --compile.
    timings, cpu = time_in_turns(approaches, args.repeats)
    seconds = {name: min(t[name] for t in timings) for name in approaches}
    rounds = [t["assurexray"] / t["plain"] for t in timings]
    images = sum(len(t) for _, t in batches)
    report = {
        "arch": args.arch,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "images_per_epoch": images,
        "image_size": size,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "amp": accelerator.enabled,
        "compile": args.compile,
        "approaches": {
            n: {"seconds": s, "images_per_second": images / s} for n, s in seconds.items()
        },
        "ratios": {
            "assurexray_vs_plain": seconds["assurexray"] / seconds["plain"],
            "contiguous_vs_channels_last": seconds["contiguous"] / seconds["plain"],
        },
        "ratio_range": [min(rounds), max(rounds)],
        "cpu_ratio": cpu["assurexray"] / cpu["plain"],  # all threads' CPU time: the work done
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(
        f"{args.arch} on {device} ({report['threads']} threads{', AMP' if report['amp'] else ''}"
        f"{', compiled' if args.compile else ''}): {images} images at {size} px, "
        f"batch {args.batch_size}, {args.repeats} rounds"
    )
    labels = {
        "plain": "(a) plain timm loop, ready tensors",
        "assurexray": "(b) assurexray loop",
        "contiguous": "(c) loop (a), contiguous layout",
    }
    for name, label in labels.items():
        figures = report["approaches"][name]
        rate = figures["images_per_second"]
        print(f"  {label:38s} {figures['seconds']:8.2f} s {rate:7.1f} img/s")
    low, high = report["ratio_range"]
    ratio = report["ratios"]["assurexray_vs_plain"]
    print(
        f"  (b)/(a) time: {ratio:.2f}x (rounds {low:.2f}-{high:.2f}; "
        f"CPU time {report['cpu_ratio']:.2f}x)"
    )
    print(f"  (c)/(a) time: {report['ratios']['contiguous_vs_channels_last']:.2f}x")
    print(f"  peak resident memory: {report['peak_rss_mib']:.0f} MiB")
    if args.json:
        write_json(args.json, report)
    return report


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


if __name__ == "__main__":
    main()
