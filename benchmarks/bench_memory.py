"""Peak memory of a folder run on small files that declare huge images.

Writes one 10000×9999 grey PNG (about 97 KB on disk, 99,990,000 pixels: just
under the default ``max_pixels``), copies it ``--images`` times, and runs
``assurexray infer`` on the folder in a fresh process, once on a tenth of the
files and once on all of them, printing each run's peak resident memory
(``ru_maxrss``). With the pixel budget of the streaming module the two peaks
are the same: memory does not grow with the number of files, and one image is
decoded at a time however many decoding threads there are.

    python benchmarks/bench_memory.py --images 100 --json memory.json
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from bench_infer import random_checkpoint  # this folder is on sys.path when run as a script

from assurexray.core.files import write_json
from assurexray.imaging.preprocess import PreprocessConfig

ROOT = Path(__file__).resolve().parents[1]
# Runs the CLI in this process and prints its peak resident memory (KiB on Linux).
DRIVER = """
import resource, sys
from assurexray.cli.main import app
try:
    app(sys.argv[1:], prog_name="assurexray")
except SystemExit as stop:
    code = stop.code
print("PEAK_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "EXIT", code)
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100, help="copies of the large PNG")
    parser.add_argument("--arch", default="efficientnet_b0")
    parser.add_argument("--no-images", action="store_true", help="run infer --no-images")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def make_files(folder: Path, count: int) -> int:
    """``count`` copies of a mostly black 10000×9999 PNG; returns the file size."""
    folder.mkdir(parents=True)
    image = np.zeros((9999, 10000), np.uint8)
    image[::100] = 255  # a few lines, so it is not constant
    cv2.imwrite(str(folder / "big000.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    for index in range(1, count):
        shutil.copyfile(folder / "big000.png", folder / f"big{index:03d}.png")
    return (folder / "big000.png").stat().st_size


def infer_peak(folder: Path, checkpoint: Path, output: Path, no_images: bool) -> dict:
    """Run ``assurexray infer`` on ``folder`` in a fresh process; its peak memory and time."""
    args = ["infer", str(folder), "--checkpoint", str(checkpoint), "-o", str(output)]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, *args, *(["--no-images"] if no_images else [])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(output.parent)},
        check=False,
    )
    seconds = time.perf_counter() - start
    line = next((x for x in done.stdout.splitlines() if x.startswith("PEAK_KIB")), None)
    if line is None:
        sys.exit(f"infer failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    _, peak, _, code = line.split()
    return {
        "images": len(list(folder.iterdir())),
        "peak_rss_mib": int(peak) / 1024,
        "seconds": seconds,
        "exit_code": code,
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="bench_memory_"))
    size = make_files(scratch / "all", args.images)
    few = scratch / "tenth"
    few.mkdir()
    for path in sorted((scratch / "all").iterdir())[: max(1, args.images // 10)]:
        shutil.copyfile(path, few / path.name)
    checkpoint = random_checkpoint(scratch / "model.pt", args.arch, PreprocessConfig())
    runs = [
        infer_peak(folder, checkpoint, scratch / f"out_{folder.name}", args.no_images)
        for folder in (few, scratch / "all")
    ]
    report = {
        "file_kib": size / 1024,
        "declared_size": [9999, 10000],
        "arch": args.arch,
        "no_images": args.no_images,
        "runs": runs,
    }
    print(
        f"{size / 1024:.0f} KiB PNG files declaring 10000x9999 pixels, "
        f"assurexray infer{' --no-images' if args.no_images else ''} ({args.arch}):"
    )
    for run in runs:
        print(
            f"  {run['images']:4d} files: peak resident memory {run['peak_rss_mib']:6.0f} MiB"
            f"  ({run['seconds']:.0f} s, exit {run['exit_code']})"
        )
    if args.json:
        write_json(args.json, report)
    shutil.rmtree(scratch, ignore_errors=True)
    return report


if __name__ == "__main__":
    main()
