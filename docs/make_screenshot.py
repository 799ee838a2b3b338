"""Regenerate the README's screenshots of ``report.html`` in headless Chromium.

Writes ``docs/report.png`` (the top of the page: verdict and the first rows)
and ``docs/report_viewer.png`` (the image viewer opened on the first row).
By default it first runs a short demo-like chain in a temporary folder
(``assurexray demo`` with timm's tiny ``test_efficientnet`` at 64 px, 120
synthetic images, 4 epochs: under a minute on 2 cores, and a model barely
better than chance) and photographs its compare page; ``--from FOLDER``
photographs ``FOLDER/report.html`` instead, e.g. ``results/demo/compare``
after ``assurexray demo``.

    python docs/make_screenshot.py
    python docs/make_screenshot.py --from results/demo/compare
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from assurexray.reporting.browser import file_url, headless_chromium

DOCS = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, help="folder holding a report.html")
    parser.add_argument("--page", default="compare", help="which job's page of the demo run")
    parser.add_argument("--images", type=int, default=120, help="synthetic images of the run")
    parser.add_argument("--epochs", type=int, default=4, help="training epochs of the run")
    parser.add_argument("--arch", default="test_efficientnet", help="timm architecture")
    parser.add_argument("--image-size", type=int, default=64, help="network input side")
    parser.add_argument("--out", type=Path, default=DOCS, help="where the PNGs go")
    return parser.parse_args(argv)


def demo_run(folder: Path, args: argparse.Namespace) -> Path:
    """Run the demo chain into ``folder`` and return its output folder."""
    command = [
        sys.executable,
        "-m",
        "assurexray",
        "demo",
        "--images",
        str(args.images),
        "--epochs",
        str(args.epochs),
        "--arch",
        args.arch,
        "--image-size",
        str(args.image_size),
        "--output",
        str(folder / "demo"),
        "--data",
        str(folder / "data"),
    ]
    subprocess.run(command, check=True)
    return folder / "demo"


def photograph(report: Path, out: Path) -> list[Path]:
    """Screenshot the page's top and its viewer opened on the first row."""
    shots = [out / "report.png", out / "report_viewer.png"]
    with headless_chromium(width=1280, height=860) as context:
        page = context.new_page()
        page.goto(file_url(report), wait_until="load")
        page.evaluate(  # the rows in view load before the picture is taken
            """Promise.all(Array.from(document.images).filter(i => i.getAttribute("src"))
                .map(i => { i.loading = "eager"; return i.decode().catch(() => null); }))"""
        )
        page.screenshot(path=str(shots[0]))
        page.locator("#rows tbody tr").first.click()
        page.wait_for_function("document.getElementById('v-image').complete")
        page.screenshot(path=str(shots[1]))
    return shots


def main(argv: list[str] | None = None) -> list[Path]:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="assurexray-shot-") as scratch:
        folder = args.source or demo_run(Path(scratch), args) / args.page
        shots = photograph(folder / "report.html", args.out)
    for shot in shots:
        print(f"wrote {shot}")
    return shots


if __name__ == "__main__":
    main()
