"""How long the audit takes, against running each candidate on its own through pytorch-grad-cam.

On the demo's test true positives (run ``assurexray demo`` first) with the
default CAM candidates (6 methods x the 3 default layers and their combination),
it times, in the same run:

* ``engine``: every CAM candidate's maps from one shared forward and backward pass
  per batch (what ``assurexray audit`` does);
* ``naive``: one pytorch-grad-cam object per candidate, each run over every
  batch (what a user would write by hand);
* ``audit``: the whole ``audit`` job with every default candidate (the CAMs and
  the two attributions: maps, scores in the original frame, sanity, ROAD
  faithfulness, stability, adversarial stability, and the files).

Usage: ``python benchmarks/bench_audit.py [--checkpoint C] [--data D] [--json F]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assurexray.audit import job as audit  # noqa: E402
from assurexray.core.config import load_settings  # noqa: E402
from assurexray.engine.model_opening import ModelOptions, open_model  # noqa: E402
from assurexray.engine.streaming import LoadedImage, batched, load_images  # noqa: E402
from assurexray.explain.cam_engine import CandidateMaps  # noqa: E402
from assurexray.explain.cam_methods import CAM_METHODS  # noqa: E402
from assurexray.explain.explainer import resolve_target_layers  # noqa: E402
from assurexray.localisation.annotated_images import choose_annotated  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("results/demo/checkpoints/best.pt"))
    parser.add_argument("--data", type=Path, default=Path("data/demo"))
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--skip-audit", action="store_true", help="Time only the maps.")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    settings = load_settings()
    options = audit.AuditOptions.from_settings(
        settings,
        data=args.data,
        split="test",
        per_class=args.per_class,
        device="cpu",
        batch_size=args.batch_size,
        output=Path(tempfile.mkdtemp()),
    )
    model = open_model(ModelOptions.from_settings(settings, checkpoint=args.checkpoint), "cpu")
    network = model.checkpoint.model.eval()
    chosen, _, _ = choose_annotated(model, options.choice)
    lookup = {name: i for i, name in enumerate(model.class_names)}
    loaded = [
        i for i in load_images(chosen["path"], model.preprocess) if isinstance(i, LoadedImage)
    ]
    targets = [lookup[label] for label in chosen["label"]]
    batches = [
        (torch.from_numpy(np.stack([i.tensor for i in part])), targets[n : n + len(part)])
        for n, part in zip(
            range(0, len(loaded), args.batch_size), batched(loaded, args.batch_size), strict=True
        )
    ]
    final = resolve_target_layers(network, model.checkpoint.target_layer or "auto")[0][0]
    size = model.preprocess.image_size
    candidates = audit.build_candidates(
        network, methods=options.methods, layers=(), final_layer=final, input_size=(3, size, size)
    )
    cams = [c for c in candidates if c.method in CAM_METHODS]
    engine = CandidateMaps(network, cams, final_layer=final)

    started = time.perf_counter()
    for x, wanted in batches:
        engine(x, wanted)
    engine_seconds = time.perf_counter() - started

    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    started = time.perf_counter()
    for candidate in cams:
        layers = [network.get_submodule(n) for n in candidate.layers]
        cam = CAM_METHODS[candidate.method](network, layers)
        for x, wanted in batches:
            cam(x, [ClassifierOutputTarget(t) for t in wanted])
        cam.activations_and_grads.release()
    naive_seconds = time.perf_counter() - started

    result = {
        "images": len(loaded),
        "candidates": len(candidates),
        "cam_candidates": len(cams),
        "image_size": size,
        "engine_seconds": engine_seconds,
        "naive_seconds": naive_seconds,
        "ratios": {"naive_vs_engine": naive_seconds / engine_seconds},
    }
    print(f"{len(loaded)} true positives, {len(cams)} CAM candidates at {size} px")
    print(f"shared-pass engine : {engine_seconds:7.1f} s  1.00x")
    print(f"pytorch-grad-cam   : {naive_seconds:7.1f} s  {naive_seconds / engine_seconds:.2f}x")
    if not args.skip_audit:
        started = time.perf_counter()
        audit.run(model, replace(options))
        result["audit_seconds"] = time.perf_counter() - started
        print(
            f"whole audit job    : {result['audit_seconds']:7.1f} s ({len(candidates)} candidates:"
            " maps, scores, checks, files)"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
