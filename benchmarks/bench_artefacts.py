"""Box precision and recall of the label-free artefact detector on real radiographs.

The burned-in markers, text and rulers of the 12 real BTXRD films in
``../shared/radiographs`` were outlined by hand as LabelMe rectangles in
``benchmarks/artefact_outlines/IMGxxxxxx.json`` (original pixels, x1/y1
exclusive). A drawn artefact is found when a detected box overlaps it with
IoU >= 0.3 or covers at least half of it; a detection is right when it hits an
outlined artefact that way. Time is per image, decode excluded.

Then stamps are planted on the same films, one at a time, in each corner (3 % of the
short side in from the edges): a letter "R", a word "SITE A", a filled square and a
dot, white, 4 % of the short side high (the word 3 %). Planted recall is per stamp
kind over every placement that does not touch an outlined artefact (a corner may
hold anatomy: those count too); planted precision counts the detections that hit
neither the stamp nor an outlined artefact.

An "R" is also planted at 15 points inside each film (3 rows x 5 columns), and its
recall is given by what lies around it: air (median level of the surroundings below
0.2 of the film's range), soft tissue (below 0.5) or bone; extra detections are new
boxes that miss the letter.

Last, each film is framed by a uniform bright border (5 % of its short side, a
site's frame) and its outlined artefacts are sought again.

Usage: ``python benchmarks/bench_artefacts.py [--radiographs DIR] [--show DIR]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assurexray.shortcuts.artefacts import detect_artefacts  # noqa: E402
from assurexray.shortcuts.film_levels import normalise  # noqa: E402


def hits(det: tuple[int, int, int, int], ref: tuple[int, int, int, int]) -> bool:
    """IoU >= 0.3, or the detection covers at least half of the reference box."""
    ix = max(0, min(det[2], ref[2]) - max(det[0], ref[0]))
    iy = max(0, min(det[3], ref[3]) - max(det[1], ref[1]))
    inter = ix * iy
    a_det = (det[2] - det[0]) * (det[3] - det[1])
    a_ref = (ref[2] - ref[0]) * (ref[3] - ref[1])
    return inter / max(a_det + a_ref - inter, 1) >= 0.3 or inter >= 0.5 * a_ref


def matched(dets: list[tuple[int, ...]], refs: list[tuple[int, ...]]) -> tuple[int, int]:
    """How many outlined artefacts some detection hits, and how many detections hit one."""
    found = sum(any(hits(d, r) for d in dets) for r in refs)
    return found, sum(any(hits(d, r) for r in refs) for d in dets)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--radiographs",
        type=Path,
        default=None,
        help="default: ../shared/radiographs from the repo root (or from a worktree's parent)",
    )
    p.add_argument("--outlines", type=Path, default=ROOT / "benchmarks" / "artefact_outlines")
    p.add_argument("--show", type=Path, default=None, help="write annotated PNGs here")
    args = p.parse_args()
    if args.radiographs is None:
        near = [d / "shared" / "radiographs" for d in (ROOT.parent, ROOT.parent.parent)]
        args.radiographs = next((d for d in near if d.is_dir()), near[0])
    tp_r = n_ref = tp_p = n_det = 0
    times = []
    films = []
    for js in sorted(args.outlines.glob("*.json")):
        meta = json.loads(js.read_text())
        path = args.radiographs / meta["imagePath"]
        if not path.exists():
            print(f"{js.stem}: missing {path}")
            continue
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        refs = [tuple(int(v) for v in np.ravel(s["points"])) for s in meta["shapes"]]
        films.append((image, refs))
        t = time.perf_counter()
        dets = detect_artefacts(image)
        times.append(time.perf_counter() - t)
        found, right = matched([d.box for d in dets], refs)
        tp_r, n_ref, tp_p, n_det = tp_r + found, n_ref + len(refs), tp_p + right, n_det + len(dets)
        print(
            f"{js.stem} {image.shape[1]}x{image.shape[0]}: {found}/{len(refs)} found, "
            f"{right}/{len(dets)} right, {times[-1] * 1000:.0f} ms "
            + " ".join(f"{d.kind}{list(d.box)}" for d in dets)
        )
        if args.show:
            args.show.mkdir(parents=True, exist_ok=True)
            v = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            lw = max(2, min(image.shape) // 300)
            for r in refs:
                cv2.rectangle(v, r[:2], (r[2] - 1, r[3] - 1), (0, 255, 0), lw)
            for d in dets:
                cv2.rectangle(v, d.box[:2], (d.box[2] - 1, d.box[3] - 1), (0, 0, 255), lw)
            cv2.imwrite(str(args.show / f"{js.stem}.png"), v)
    if n_ref:
        print(
            f"overall: recall {tp_r / n_ref:.2f} ({tp_r}/{n_ref}), precision "
            f"{tp_p / max(n_det, 1):.2f} ({tp_p}/{n_det}), "
            f"median {np.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms per image"
        )
        planted(films)
        interior(films)
        framed(films)


STAMPS = ("R", "SITE A", "square", "dot")


def stamp_size(kind: str, short: int) -> tuple[int, int, float, int]:
    """Width, height, text scale and stroke of a stamp on a film with this short side."""
    side = int((0.03 if kind == "SITE A" else 0.04) * short)
    thick = max(2, side // 8)
    if kind not in ("R", "SITE A"):
        return side, side, 0.0, thick
    scale = side / cv2.getTextSize("R", cv2.FONT_HERSHEY_SIMPLEX, 1.0, thick)[0][1]
    (bw, bh), _ = cv2.getTextSize(kind, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    return bw, bh, scale, thick


def draw_stamp(image: np.ndarray, kind: str, x: int, y: int) -> tuple[np.ndarray, tuple]:
    """The film with one white stamp whose box starts at (x, y), and that box."""
    bw, bh, scale, thick = stamp_size(kind, min(image.shape))
    out = image.copy()
    if kind == "square":
        cv2.rectangle(out, (x, y), (x + bw - 1, y + bh - 1), 255, -1)
    elif kind == "dot":
        cv2.circle(out, (x + bw // 2, y + bh // 2), bw // 2, 255, -1, cv2.LINE_AA)
    else:
        cv2.putText(out, kind, (x, y + bh), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick,
                    cv2.LINE_AA)  # fmt: skip
    return out, (x, y, x + bw, y + bh)


def stamp(image: np.ndarray, kind: str, corner: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """The film with one white stamp in corner 0-3 (tl, tr, bl, br), and the stamp's box."""
    h, w = image.shape
    bw, bh, _, _ = stamp_size(kind, min(h, w))
    margin = int(0.03 * min(h, w))
    x = margin if corner % 2 == 0 else w - margin - bw
    y = margin if corner < 2 else h - margin - bh
    return draw_stamp(image, kind, x, y)


def planted(films: list[tuple[np.ndarray, list]]) -> None:
    """Recall of stamps planted in each corner of every film, and precision around them."""
    found = {k: [0, 0] for k in STAMPS}
    right = n_det = 0
    for image, refs in films:
        for kind in STAMPS:
            for corner in range(4):
                out, box = stamp(image, kind, corner)
                if any(hits(box, r) or hits(r, box) for r in refs):
                    continue
                dets = [d.box for d in detect_artefacts(out)]
                found[kind][0] += any(hits(d, box) for d in dets)
                found[kind][1] += 1
                right += sum(hits(d, box) or any(hits(d, r) for r in refs) for d in dets)
                n_det += len(dets)
    print(
        "planted: "
        + ", ".join(f"{k!r} recall {a / max(n, 1):.2f} ({a}/{n})" for k, (a, n) in found.items())
        + f"; precision {right / max(n_det, 1):.2f} ({right}/{n_det})"
    )


def interior(films: list[tuple[np.ndarray, list]]) -> None:
    """Recall of an "R" planted inside the film, by what surrounds it."""
    found: dict[str, list[int]] = {"air": [0, 0], "soft tissue": [0, 0], "bone": [0, 0]}
    extra = 0
    for image, _ in films:
        h, w = image.shape
        side = int(0.04 * min(h, w))
        bw, bh, _, _ = stamp_size("R", min(h, w))
        before = {d.box for d in detect_artefacts(image)}
        level = normalise(image)
        for fy in (0.3, 0.5, 0.7):
            for fx in (0.15, 0.3, 0.5, 0.7, 0.85):
                x, y = int(fx * w), int(fy * h)
                out, box = draw_stamp(image, "R", x, y)
                around = float(np.median(level[max(0, y - side) : y + bh + side,
                                               max(0, x - side) : x + bw + side]))  # fmt: skip
                where = "air" if around < 0.2 else "soft tissue" if around < 0.5 else "bone"
                dets = [d.box for d in detect_artefacts(out)]
                found[where][0] += any(hits(d, box) for d in dets)
                found[where][1] += 1
                extra += sum(d not in before and not hits(d, box) for d in dets)
    print(
        "inside: "
        + ", ".join(f"on {k} {a / max(n, 1):.2f} ({a}/{n})" for k, (a, n) in found.items())
        + f"; extra detections {extra}"
    )


def framed(films: list[tuple[np.ndarray, list]]) -> None:
    """Recall and precision of the outlined artefacts on films inside a bright frame."""
    found = n_ref = right = n_det = 0
    for image, refs in films:
        b = int(0.05 * min(image.shape))
        out = cv2.copyMakeBorder(image, b, b, b, b, cv2.BORDER_CONSTANT, value=235)
        shifted = [(x0 + b, y0 + b, x1 + b, y1 + b) for x0, y0, x1, y1 in refs]
        dets = [d.box for d in detect_artefacts(out)]
        hit, ok = matched(dets, shifted)
        found, right = found + hit, right + ok
        n_ref, n_det = n_ref + len(refs), n_det + len(dets)
    print(
        f"framed: recall {found / max(n_ref, 1):.2f} ({found}/{n_ref}), "
        f"precision {right / max(n_det, 1):.2f} ({right}/{n_det})"
    )


if __name__ == "__main__":
    main()
