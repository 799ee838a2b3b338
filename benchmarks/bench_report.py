"""How fast ``report.html`` opens and sorts with many images, in headless Chromium.

Writes a report of ``--rows`` images (synthetic radiographs, real per-image
pictures from :func:`~assurexray.reporting.html_report.write_pictures`) and, as the
baseline measured in the same run, a plain HTML table of the same rows and
thumbnails with no script and no styles. Times, best of ``--repeats``:

* load: navigation start to the ``load`` event (lazy thumbnails below the fold
  load later, as in any browser);
* sort: clicking a column header until the reordered rows are laid out; the
  baseline reverses the plain table's rows (the same DOM move and layout,
  with no comparisons).

Prints milliseconds and the ratios to the baseline; ``--json PATH`` writes them.

    python benchmarks/bench_report.py --rows 500
"""

from __future__ import annotations

import argparse
import html
import json
import tempfile
from pathlib import Path

import numpy as np

from assurexray.core.files import write_json, write_text
from assurexray.reporting.browser import LOAD_MS, file_url, headless_chromium, page_timings
from assurexray.reporting.html_report import ImageRow, ReportPage, write_pictures, write_report

CLASSES = ("Normal", "Benign", "Malignant")
REVERSE_MS = """() => {
  const body = document.querySelector("#rows tbody");
  const start = performance.now();
  for (const tr of Array.from(body.rows).reverse()) { body.appendChild(tr); }
  document.body.offsetHeight;
  return performance.now() - start;
}"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500, help="images in the report")
    parser.add_argument("--side", type=int, default=1024, help="radiograph height in pixels")
    parser.add_argument("--repeats", type=int, default=5, help="timed loads; the fastest counts")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def build_report(folder: Path, rows: int, side: int, seed: int = 0) -> tuple[Path, Path]:
    """The report of ``rows`` synthetic images, and the plain-table baseline beside it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0 : side * 3 // 4].astype(np.float32) / side
    image_rows = []
    for n in range(rows):
        centre = rng.uniform(0.2, 0.6, 2)
        heat = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / 0.01)
        gray = np.clip(0.3 + 0.4 * xx + rng.normal(0, 0.05, xx.shape), 0, 1).astype(np.float32)
        truth, predicted = rng.choice(CLASSES, 2)
        image_id = f"IMG{n:06d}"
        image_rows.append(
            ImageRow(
                image_id,
                str(truth),
                str(predicted),
                float(rng.uniform(0.34, 1.0)),
                iou=float(rng.random()),
                hit=bool(rng.random() > 0.5),
                relevance_mass=float(rng.random()),
                pictures=write_pictures(folder, image_id, gray, heat, heat > 0.5),
                facts={"image_id": image_id, "path": f"/data/{image_id}.png"},
            )
        )
    report = write_report(ReportPage("bench", "compare", rows=image_rows), folder)
    cells = "\n".join(
        f'<tr><td><img src="{html.escape(r.pictures.thumbnail)}" loading="lazy"></td>'
        f"<td>{r.image_id}</td><td>{r.true_class}</td><td>{r.predicted_class}</td>"
        f"<td>{r.confidence:.3f}</td><td>{r.iou:.3f}</td></tr>"
        for r in image_rows
    )
    baseline = write_text(
        folder / "baseline.html",
        f'<!doctype html><title>baseline</title><table id="rows"><tbody>{cells}</tbody></table>',
    )
    return report, baseline


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="bench_report_"))
    report, baseline = build_report(folder, args.rows, args.side)
    with headless_chromium() as context:
        timed = [page_timings(context, report, "IoU") for _ in range(args.repeats)]
        plain = []
        for _ in range(args.repeats):
            page = context.new_page()
            page.goto(file_url(report.with_name("baseline.html")), wait_until="load")
            plain.append({"load_ms": page.evaluate(LOAD_MS), "sort_ms": page.evaluate(REVERSE_MS)})
            page.close()
    best = {key: min(t[key] for t in timed) for key in ("load_ms", "sort_ms")}
    base = {key: min(t[key] for t in plain) for key in ("load_ms", "sort_ms")}
    figures = {
        "rows": args.rows,
        "report_bytes": report.stat().st_size,
        "report": best,
        "baseline": base,
        "ratios": {key: best[key] / base[key] for key in best},
    }
    print(f"report.html with {args.rows} images ({figures['report_bytes'] / 1e6:.1f} MB of HTML)")
    for key, label in (("load_ms", "load"), ("sort_ms", "sort")):
        print(
            f"  {label}: {best[key]:7.1f} ms   plain table {base[key]:7.1f} ms   "
            f"ratio {figures['ratios'][key]:.2f}"
        )
    if args.json:
        write_json(args.json, figures)
    print(json.dumps(figures["ratios"]))
    return figures


if __name__ == "__main__":
    main()
