"""Regenerate docs/demo_comparison.png from the demo's comparison panel.

Run from the project folder after ``assurexray demo``:

    python docs/make_figure.py [results/demo/compare/annotation_comparison.png]

Keeps the title band and the first ``--rows`` image rows, shrunk to a width a
README shows well.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2

from assurexray.core.files import write_png
from assurexray.localisation.compare import PANEL_SIDE
from assurexray.reporting.render import fit_display

ROW_HEIGHT = PANEL_SIDE + 40 + 8  # panel, caption band, grid padding above and below


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "panel",
        nargs="?",
        type=Path,
        default=Path("results/demo/compare/annotation_comparison.png"),
    )
    parser.add_argument("--rows", type=int, default=2)
    parser.add_argument("--output", type=Path, default=Path("docs/demo_comparison.png"))
    parser.add_argument("--width", type=int, default=900)
    args = parser.parse_args()
    image = cv2.imread(str(args.panel))
    if image is None:
        raise SystemExit(f"{args.panel}: not found; run 'assurexray demo' first")
    title = image.shape[0] - image.shape[0] // ROW_HEIGHT * ROW_HEIGHT  # the caption band
    crop = image[: title + args.rows * ROW_HEIGHT]
    small = fit_display(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB), args.width)
    write_png(args.output, small)
    print(f"wrote {args.output} ({small.shape[1]}x{small.shape[0]})")


if __name__ == "__main__":
    main()
