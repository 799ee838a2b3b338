"""Cost per image of each Captum attribution method relative to Grad-CAM, in the same run.

Times ``Explainer.explain`` on one batch of random network-size inputs for
Grad-CAM (pytorch-grad-cam, not the forward-only path, and the forward-only
path) and for each Captum method at the config's default settings
(``explain.attributions``), best of ``--repeats`` runs, and prints seconds per
image and the ratio to Grad-CAM.

Usage: ``python benchmarks/bench_attributions.py [--arch efficientnet_b0] [--size 224]
[--batch 4] [--repeats 2]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assurexray.explain.attributions import ATTRIBUTION_METHODS  # noqa: E402
from assurexray.explain.explainer import Explainer  # noqa: E402


def seconds_per_image(explainer: Explainer, batch: torch.Tensor, repeats: int) -> float:
    explainer.explain(batch[:1])  # warm-up (and the layer probe)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        explainer.explain(batch)
        best = min(best, time.perf_counter() - start)
    return best / len(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="efficientnet_b0")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import timm

    torch.manual_seed(0)
    model = timm.create_model(args.arch, pretrained=False, num_classes=3).eval()
    batch = torch.randn(args.batch, 3, args.size, args.size)
    runs = {
        "gradcam (forward-only path)": Explainer(model, method="gradcam"),
        "gradcam": Explainer(model, method="gradcam", fast_path=False),
        **{m: Explainer(model, method=m) for m in ATTRIBUTION_METHODS},
    }
    times = {name: seconds_per_image(e, batch, args.repeats) for name, e in runs.items()}
    reference = times["gradcam"]
    print(f"{args.arch} at {args.size} px, batch {args.batch}, {torch.get_num_threads()} threads")
    print(f"{'method':28} {'s/image':>9} {'x Grad-CAM':>11}")
    for name, value in times.items():
        print(f"{name:28} {value:9.3f} {value / reference:11.1f}")


if __name__ == "__main__":
    main()
