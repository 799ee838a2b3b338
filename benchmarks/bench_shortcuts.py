"""Cost of ``assurexray shortcuts`` against plain batched inference on the same images.

Times, in turns in one run (see ``rounds.py``):

* (a) predict: assurexray's streamed batched prediction of every image (decode,
  preprocess, forward; no heatmap, nothing written);
* (a') predict as the job's passes run: the same, with the network's BatchNorms folded
  into its convolutions and its weights in ``channels_last``
  (:func:`assurexray.shortcuts.model_speed.faster_passes`): a faster baseline than plain
  inference, for a stricter second ratio;
* (b) shortcuts: the whole ``shortcuts`` job on the same images: prediction and heatmap
  in one pass, artefact detection, attention with its permutation null, inpainting and
  re-prediction of the images with artefacts (and their controls), strategies, the
  JSON/CSV report and the three pictures.

Prints the fastest time of each, the ratio (b)/(a) per round and of the CPU times. With
``--data`` (default: a synthetic BTXRD-layout data set of ``--images`` phantoms with
centers, half of them with a burned-in marker) the job also runs the subgroups and the
site probe; ``--input-dir`` analyses a bare folder (no labels: both skipped). The model
is an untrained ``--arch`` (the cost does not depend on the weights).

    python benchmarks/bench_shortcuts.py --images 48 --repeats 3
    python benchmarks/bench_shortcuts.py --input-dir ../shared/radiographs --repeats 2
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from rounds import time_in_turns

from assurexray.core.config import CLASS_NAMES
from assurexray.data.synthetic.writer import generate_dataset
from assurexray.engine.jobs import StreamOptions
from assurexray.engine.model_opening import ModelOptions, open_model
from assurexray.engine.streaming import DISPLAY_SIDE, input_from_copy, predict_paths
from assurexray.imaging.preprocess import PreprocessConfig, decode_floor
from assurexray.imaging.reading import is_image_file, read_image
from assurexray.models.checkpoint import save_checkpoint
from assurexray.models.model import build_model
from assurexray.shortcuts.artefacts import detect_artefacts
from assurexray.shortcuts.job import ShortcutsOptions, run
from assurexray.shortcuts.model_speed import faster_passes


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", type=Path, help="a folder of images (no labels)")
    parser.add_argument("--images", type=int, default=48, help="synthetic phantoms")
    parser.add_argument("--arch", default="efficientnet_b0")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench_shortcuts_"))
    config = PreprocessConfig(image_size=args.image_size)
    checkpoint = scratch / "model.pt"
    net = build_model(args.arch, num_classes=len(CLASS_NAMES))
    save_checkpoint(checkpoint, net, arch=args.arch, class_names=CLASS_NAMES, preprocess=config)
    model = open_model(ModelOptions(checkpoint=checkpoint), "cpu")
    stream = StreamOptions(batch_size=args.batch_size)
    options = ShortcutsOptions(output=scratch / "out", split="all", stream=stream)
    if args.input_dir is not None:
        files = sorted(p for p in args.input_dir.iterdir() if p.is_file() and is_image_file(p))
        options = replace(options, images=args.input_dir)
    else:
        data = scratch / "data"
        generate_dataset(data, num_images=args.images, seed=0)
        files = sorted((data / "images").iterdir())
        options = replace(options, data=data)

    def predict() -> None:
        for _ in predict_paths(files, model.checkpoint.model, model.preprocess, stream):
            pass

    def predict_fast() -> None:
        with faster_passes(model):
            predict()

    stages: list[dict[str, float]] = []
    passes: list[float] = []
    own_input = input_from_copy(model.preprocess)  # else each removal has a baseline re-predicted

    def shortcuts() -> None:
        result = run(model, options)
        stages.append(result.report["timings"])
        table = result.table
        counted = ("p_removed", "p_control") + (() if own_input else ("p_removed",))
        repredicted = sum(int(table[c].notna().sum()) for c in counted if c in table)
        passes.append(1 + repredicted / max(1, len(table)))

    approaches = {"predict": predict, "predict_fast": predict_fast, "shortcuts": shortcuts}
    rounds, cpu = time_in_turns(approaches, args.repeats)
    ratios = [r["shortcuts"] / r["predict"] for r in rounds]
    best = {name: min(r[name] for r in rounds) for name in approaches}
    print(f"{len(files)} images, {args.arch} at {args.image_size} px, batch {args.batch_size}")
    for name, seconds in best.items():
        print(f"  {name:10s} {seconds:7.2f} s  {len(files) / seconds:6.1f} images/s")
    print(
        f"  shortcuts / predict: {best['shortcuts'] / best['predict']:.2f} (fastest runs), "
        f"{min(ratios):.2f}-{max(ratios):.2f} over rounds, "
        f"{cpu['shortcuts'] / cpu['predict']:.2f} in CPU time"
    )
    against_fast = [r["shortcuts"] / r["predict_fast"] for r in rounds]
    print(
        f"  shortcuts / predict with the job's faster passes: "
        f"{best['shortcuts'] / best['predict_fast']:.2f} (fastest runs), "
        f"{min(against_fast):.2f}-{max(against_fast):.2f} over rounds, "
        f"{cpu['shortcuts'] / cpu['predict_fast']:.2f} in CPU time"
    )
    probe = min(s.get("site_probe", 0.0) for s in stages)
    image_pass = min(s["image_pass"] for s in stages)
    print(
        f"  of which the image pass (model, artefacts, attention, counterfactuals) "
        f"{image_pass:.2f} s ({image_pass / best['predict']:.2f} x predict) and the site probe "
        f"{probe:.2f} s ({options.probe_permutations} permutations x {options.probe_folds} folds)"
    )
    print(
        f"  model passes per image: {passes[-1]:.2f} (the prediction, and for each image with "
        f"artefacts its removal, its control and, with CLAHE or a stretch, its baseline): about "
        f"the least the job can cost, in predictions"
    )
    costs = _per_image_ms(files, model.preprocess)
    print(
        f"  per image: decoding for the job (kept at {DISPLAY_SIDE} px) "
        f"{costs['job_decode']:.1f} ms against {costs['predict_decode']:.1f} ms for the "
        f"prediction's reduced decode; artefact "
        f"detection {costs['detect']:.1f} ms; the whole prediction "
        f"{1000 * best['predict'] / len(files):.1f} ms"
    )
    shutil.rmtree(scratch, ignore_errors=True)
    return {"best": best, "ratios": ratios, "cpu_ratio": cpu["shortcuts"] / cpu["predict"],
            "median_ratio": float(np.median(ratios)), "passes_per_image": passes[-1],
            "ratio_fast_passes": best["shortcuts"] / best["predict_fast"]}  # fmt: skip


def _per_image_ms(files: list[Path], config: PreprocessConfig) -> dict[str, float]:
    """Milliseconds per image: the job's decode, the prediction's decode, and detection."""

    def each(step: Callable[[Path], Any]) -> tuple[float, list[Any]]:
        started = time.perf_counter()
        made = [step(f) for f in files]
        return 1000 * (time.perf_counter() - started) / max(1, len(files)), made

    job_floor = decode_floor(config, DISPLAY_SIDE)
    job_decode, copies = each(
        lambda f: read_image(f, reduce_to=job_floor).reduced(DISPLAY_SIDE).data
    )
    predict_decode, _ = each(lambda f: read_image(f, reduce_to=decode_floor(config)))
    started = time.perf_counter()
    for pixels in copies:
        detect_artefacts(pixels)
    detect = 1000 * (time.perf_counter() - started) / max(1, len(copies))
    return {"job_decode": job_decode, "predict_decode": predict_decode, "detect": detect}


if __name__ == "__main__":
    main()
