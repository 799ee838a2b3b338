"""report.html: pictures, the page structure, escaping, and the adapters per job."""

from __future__ import annotations

import hashlib
import json
import math
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from skimage.segmentation import find_boundaries

from assurexray.core.text import with_interval
from assurexray.demo.report import demo_page
from assurexray.reporting.html_report import (
    PICTURE_SIDE,
    THUMBNAIL_SIDE,
    ImageRow,
    Pictures,
    ReportPage,
    Section,
    Table,
    picture_key,
    render_html,
    run_facts,
    write_pictures,
    write_report,
)
from assurexray.reporting.page_parts import PageContext, classification_sections
from assurexray.reporting.report_pages import audit_page, compare_page, gallery_page, infer_page


class _Page(HTMLParser):
    """Tags with their attributes, the text of each element id, and the row data."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text_by_id: dict[str, str] = {}
        self.row_headers: list[str] = []  # the image table's column headers
        self._open: list[str | None] = []
        self._in_header = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_header = tag == "th" and "rows" in self._open
        if self._in_header:
            self.row_headers.append("")
        if tag not in ("img", "meta", "link", "input", "br"):
            self._open.append(dict(attrs).get("id"))
            if self._open[-1]:
                self.text_by_id[self._open[-1]] = ""

    def handle_endtag(self, tag: str) -> None:
        self._in_header = False
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._in_header:
            self.row_headers[-1] += data.strip()
        for element_id in filter(None, self._open):
            self.text_by_id[element_id] += data

    def rows(self) -> list[dict]:
        return json.loads(self.text_by_id["row-data"])

    def links(self) -> list[str]:
        return [
            a.get("src") or a.get("href") or ""
            for tag, a in self.tags
            if tag in ("img", "a", "link", "script") and (a.get("src") or a.get("href"))
        ]


def _radiograph(height: int = 300, width: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gray = np.tile(np.linspace(0, 1, width, dtype=np.float32), (height, 1))
    heat = np.zeros((height, width), np.float32)
    heat[100:200, 50:150] = 1.0
    mask = np.zeros((height, width), bool)
    mask[120:220, 60:160] = True
    return gray, heat, mask


def test_pictures_are_written_at_display_size_beside_the_page(tmp_path: Path) -> None:
    gray, heat, mask = _radiograph(1200, 800)
    pictures = write_pictures(tmp_path, "case 1/left", gray, heat, mask)
    assert all(
        not Path(p).is_absolute() and p.startswith("report_images/") for p in pictures.paths()
    )
    assert len(pictures.paths()) == 4 and "/" not in picture_key("case 1/left")
    shown = {
        k: cv2.imread(str(tmp_path / p), cv2.IMREAD_UNCHANGED) for k, p in vars(pictures).items()
    }
    assert shown["radiograph"].shape == (PICTURE_SIDE, PICTURE_SIDE * 2 // 3)  # grey, aspect kept
    assert shown["overlay"].shape == (*shown["radiograph"].shape, 3)
    assert max(shown["thumbnail"].shape[:2]) == THUMBNAIL_SIDE
    # The overlay is red where the heatmap is high and bluish where it is zero (jet).
    overlay_rgb = shown["overlay"][:, :, ::-1].astype(int)
    scale = PICTURE_SIDE / 1200  # the heat square is rows 100-200, columns 50-150
    inside = overlay_rgb[round(150 * scale), round(100 * scale)]
    outside = overlay_rgb[400, 300]
    assert inside[0] > inside[2] and outside[2] > outside[0]


def test_an_overlay_already_drawn_is_shrunk_not_drawn_again(tmp_path: Path) -> None:
    from assurexray.reporting import render

    gray, heat, _ = _radiograph(1200, 800)
    drawn = render.overlay(gray, heat, alpha=0.4, colormap="jet")  # as infer draws it
    given = write_pictures(tmp_path / "given", "a", gray, overlay=drawn)
    fresh = write_pictures(tmp_path / "fresh", "a", gray, heat)
    pair = [cv2.imread(str(tmp_path / f / given.overlay)).astype(float) for f in ("given", "fresh")]
    assert given.overlay == fresh.overlay and pair[0].shape == pair[1].shape
    assert np.abs(pair[0] - pair[1]).mean() < 1  # JPEG at quality 92 and the order of resizing


def test_outline_layer_traces_the_mask_boundary(tmp_path: Path) -> None:
    gray, heat, mask = _radiograph()
    pictures = write_pictures(tmp_path, "a", gray, heat, mask)
    layer = cv2.imread(str(tmp_path / pictures.outline), cv2.IMREAD_UNCHANGED)
    assert layer.shape == (300, 200, 4)  # transparent, same frame as the radiograph
    drawn = layer[:, :, 3] > 0
    boundary = find_boundaries(mask, mode="inner")  # scikit-image's boundary of the mask
    assert drawn[boundary].mean() > 0.95  # the outline covers the boundary ...
    far = cv2.dilate(boundary.astype(np.uint8), np.ones((7, 7), np.uint8)) == 0
    assert not drawn[far].any()  # ... and nothing away from it


def test_heatmap_and_mask_in_another_frame_are_brought_to_the_picture(tmp_path: Path) -> None:
    gray, heat, mask = _radiograph()
    half_heat = cv2.resize(heat, (100, 150), interpolation=cv2.INTER_NEAREST)
    pictures = write_pictures(tmp_path, "b", gray, half_heat, mask=None)
    assert pictures.outline is None
    overlay = cv2.imread(str(tmp_path / pictures.overlay))
    assert overlay.shape[:2] == (300, 200)


def _rows() -> list[ImageRow]:
    return [
        ImageRow("IMG1", "Malignant", "Malignant", 0.91, 0.4, True, 0.5),
        ImageRow("IMG2", "Malignant", "Benign", 0.83, float("nan"), False, 0.1),
        ImageRow("IMG3", "Benign", "Malignant", 0.99, 0.2, True, 0.3),
        ImageRow("<b>x</b>", "Normal", "Normal", None, facts={"note": "</script><b>"}),
    ]


def test_outcome_is_tp_or_a_miss_and_unknown_without_truth() -> None:
    assert [r.outcome for r in _rows()] == ["TP", "FN/FP", "FN/FP", "TP"]
    assert ImageRow("a", None, "Benign", 0.5).outcome == ""


def test_page_escapes_text_and_embeds_facts_as_valid_json() -> None:
    page = ReportPage("Title <i>", "compare", rows=_rows(), class_names=["Normal", "Benign"])
    text = render_html(page)
    assert "<b>x</b>" not in text and "<i>" not in text
    parsed = _Page(text)
    rows = parsed.rows()
    assert [r["image_id"] for r in rows] == [
        "IMG3",
        "IMG1",
        "IMG2",
        "<b>x</b>",
    ]  # most confident first
    assert rows[2]["iou"] is None  # NaN is not valid JSON
    assert rows[3]["facts"] == {"note": "</script><b>"}
    assert [r["outcome"] for r in rows] == ["FN/FP", "TP", "FN/FP", "TP"]


def test_page_is_self_contained_and_links_relative(tmp_path: Path) -> None:
    gray, heat, mask = _radiograph()
    pictures = write_pictures(tmp_path, "IMG1", gray, heat, mask)
    rows = [ImageRow("IMG1", "Benign", "Benign", 0.7, pictures=pictures)]
    sections = [Section("Links", links=[("gallery", "gallery/report.html")])]
    path = write_report(ReportPage("t", "demo", sections=sections, rows=rows), tmp_path)
    parsed = _Page(path.read_text())
    links = parsed.links()
    assert "report_images/IMG1_thumb.jpg" in links and "gallery/report.html" in links
    assert not [link for link in links if ":" in link and not link.startswith("data:")]
    assert not [t for t, a in parsed.tags if t == "link" and a.get("rel") == "stylesheet"]
    assert all((tmp_path / p).is_file() for p in parsed.rows()[0]["pictures"].values() if p)


def test_columns_follow_the_data() -> None:
    no_truth = [ImageRow("a", None, "Benign", 0.5), ImageRow("b", None, "Normal", 0.6)]
    parsed = _Page(render_html(ReportPage("t", "infer", rows=no_truth, class_names=["Benign"])))
    assert parsed.row_headers == ["", "Image", "Predicted", "Confidence"]
    assert "outcome-filter" not in parsed.text_by_id and "class-filter" in parsed.text_by_id
    full = _Page(render_html(ReportPage("t", "compare", rows=_rows(), iou_label="IoU @0.5")))
    assert full.row_headers[1:] == [
        "Image",
        "True class",
        "Predicted",
        "Confidence",
        "IoU @0.5",
        "Hit",
        "Relevance mass",
        "Outcome",
    ]
    assert "outcome-filter" in full.text_by_id
    audit_like = [ImageRow("a", "Benign", None, iou=0.2), ImageRow("b", "Normal", None, iou=0.1)]
    scored = _Page(render_html(ReportPage("t", "audit", rows=audit_like)))
    assert scored.row_headers == ["", "Image", "True class", "IoU"]
    assert "outcome-filter" not in scored.text_by_id


def test_verdict_tables_and_footer_are_shown() -> None:
    table = Table(["a", "b"], [["x", "1"]], shades=[[None, 0.5]])
    footer = {"checkpoint": "/x/best.pt", "method": "gradcam"}
    text = render_html(
        ReportPage("t", "gallery", sections=[Section("S", "said", tables=[table])], footer=footer)
    )
    parsed = _Page(text)
    assert (
        "said" in parsed.text_by_id["verdict"] and "/x/best.pt" in parsed.text_by_id["facts-footer"]
    )
    assert "rgba(30,150,60,0.33)" in text  # a shade of 0.5 tints the cell green
    assert "images" not in parsed.text_by_id  # no image table without rows


def test_run_facts_hash_the_checkpoint(tmp_path: Path) -> None:
    checkpoint = tmp_path / "best.pt"
    checkpoint.write_bytes(b"weights")
    facts = run_facts(
        checkpoint=checkpoint,
        method="gradcam",
        target_layers=["bn2", "conv_head"],
        settings={"alpha": 0.4},
    )
    assert facts["checkpoint SHA-256"] == hashlib.sha256(b"weights").hexdigest()
    assert facts["target layer"] == "bn2, conv_head" and facts["alpha"] == "0.4"
    assert "assurexray version" in facts


METRICS = {
    "num_images": 10,
    "class_names": ["Normal", "Benign", "Malignant"],
    "accuracy": 0.7,
    "macro_f1": 0.65,
    "macro_roc_auc": 0.8,
    "per_class": {
        n: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": s, "roc_auc": None}
        for n, s in (("Normal", 5), ("Benign", 3), ("Malignant", 2))
    },
    "confusion_matrix": [[4, 1, 0], [1, 2, 0], [0, 1, 1]],
}


def test_classification_sections_state_chance_and_the_matrix() -> None:
    summary, confusion = classification_sections(METRICS)
    assert summary.tables[0].rows[0] == ["accuracy", "70.0%", "50.0% (commonest class)"]
    matrix = confusion.tables[0]
    assert matrix.rows[2] == ["Malignant", "0", "1", "1"]
    assert matrix.shades[2][1:] == [None, -0.5, 0.5]  # row shares; wrong cells negative, 0 plain


def test_gallery_page_has_every_prediction() -> None:
    predictions = pd.DataFrame(
        {
            "image_id": ["a", "b"],
            "path": ["/d/a.png", "/d/b.png"],
            "true_label": ["Benign", "Malignant"],
            "predicted_label": ["Benign", "Benign"],
            "p_Normal": [0.1, 0.2],
            "p_Benign": [0.8, 0.7],
            "p_Malignant": [0.1, 0.1],
            "correct": [True, False],
        }
    )
    page = gallery_page(predictions, METRICS, PageContext({"a": Pictures(overlay="o.png")}))
    assert [(r.image_id, r.confidence, r.outcome) for r in page.rows] == [
        ("a", 0.8, "TP"),
        ("b", 0.7, "FN/FP"),
    ]
    assert page.rows[0].pictures.overlay == "o.png" and page.rows[1].pictures.overlay is None
    assert "1 of 2 images have a heatmap" in page.sections[-1].text


def test_infer_page_from_batch_results() -> None:
    summary = {
        "num_processed": 1,
        "num_failed": 1,
        "counts_per_class": {"Normal": 0, "Benign": 1},
        "results": [{"image_path": "/x/a.png", "predicted_class": "Benign", "confidence": 0.6}],
        "errors": [{"image_path": "/x/b.png", "error": "/x/b.png: not an image"}],
    }
    page = infer_page(summary, pictures={"/x/a.png": Pictures(thumbnail="t.png")})
    assert page.rows[0].image_id == "a.png" and page.rows[0].pictures.thumbnail == "t.png"
    assert page.rows[0].true_class is None and page.notes == ["/x/b.png: not an image"]
    assert page.sections[0].tables[0].rows[-1] == ["could not be read", "1"]


def test_audit_page_shows_cis_baselines_and_recommendation() -> None:
    report = {  # the layout of audit_report.json
        "candidates": [
            {
                "name": "gradcam@bn2",
                "method": "gradcam",
                "layers": ["bn2"],
                "hit_rate": 0.6,
                "hit_rate_ci": [0.45, 0.74],
                "relevance_mass": 0.3,
                "relevance_mass_ci": [0.2, 0.4],
                "mean_iou": 0.21,
                "mean_iou_ci": [0.15, 0.27],
                "mean_otsu_iou": 0.2,
            },
            {"name": "layercam@bn2", "method": "layercam", "layers": ["bn2"], "hit_rate": 0.4},
        ],
        "baselines": [{"name": "centre", "method": "centre", "layers": [], "hit_rate": 0.2}],
        "recommended": "gradcam@bn2",
        "verdict": ["Grad-CAM at bn2 beats every baseline.", "It passes the sanity check."],
        "chance_level": 0.08,
        "iou_thresholds": [0.3, 0.5],
        "per_image": [
            {
                "image_id": "a",
                "class": "Benign",
                "mask_fraction": 0.1,
                "scores": {
                    "gradcam@bn2": {"iou": {"0.3": 0.4}, "hit": True, "relevance_mass": 0.5},
                    "layercam@bn2": {"iou": {"0.3": 0.1}, "hit": False, "relevance_mass": 0.2},
                },
            }
        ],
    }
    page = audit_page(report)
    verdict = page.sections[0]
    assert verdict.highlight == "Recommended heatmap: gradcam@bn2"
    assert (
        verdict.text.startswith("Grad-CAM at bn2 beats every baseline. It passes")
        and "8%" in verdict.text
    )
    table = verdict.tables[0]
    assert table.rows[0][2] == "60% [45%–74%]" and table.rows[0][4] == "0.21 [0.15–0.27]"
    assert table.shades[0][0] == 0.3 and table.shades[1] == [None] * len(table.columns)
    assert table.rows[2][:2] == ["centre", "baseline"] and table.rows[2][4] == "n/a"
    row = page.rows[0]  # the recommended candidate's scores at the first threshold
    assert (row.iou, row.hit, row.relevance_mass, row.true_class) == (0.4, True, 0.5, "Benign")
    assert page.iou_label == "IoU @0.3 (gradcam@bn2)" and page.class_names == ["Benign"]
    assert row.facts["scores"]["layercam@bn2"]["hit"] is False  # every candidate in the facts


def test_with_interval_leaves_out_missing_intervals() -> None:
    assert with_interval(0.5, None, as_percent=True) == "50%"
    assert with_interval(0.5, [None, 0.6]) == "0.50"
    assert with_interval(0.5, [0.25, 0.75], as_percent=True) == "50% [25%–75%]"
    assert with_interval(None, [0.25, 0.75]) == "n/a [0.25–0.75]"


def test_demo_page_shows_the_terminal_summary_and_links() -> None:
    report = {
        "iou_threshold": 0.5,
        "mean_iou": 0.14,
        "hit_rate": 0.5,
        "mean_relevance_mass": 0.12,
        "chance_level": 0.08,
    }
    page = demo_page(METRICS, report, links=[("gallery", "gallery/report.html")], minutes=1.25)
    summary = page.sections[0]
    assert summary.title == "assurexray demo finished in 1.2 min"
    assert summary.tables[0].rows[0] == ["test accuracy", "70%", "50%"]
    assert summary.tables[0].rows[3] == ["hit rate (pointing game)", "50%", "8%"]
    assert page.sections[1].links == [("gallery", "gallery/report.html")]


@pytest.mark.slow
def test_compare_page_from_a_real_compare_run(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path
) -> None:
    from typer.testing import CliRunner

    from assurexray.cli.main import app

    out = tmp_path / "cmp"
    result = CliRunner().invoke(
        app,
        [
            "compare",
            "--data",
            str(tiny_dataset),
            "--split",
            "all",
            "--all",
            "--checkpoint",
            str(tiny_checkpoint),
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "annotation_report.json").read_text())
    written = _Page((out / "report.html").read_text())  # the page the job wrote
    rows = written.rows()
    assert len(rows) == report["num_images"] > 0
    assert (
        hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
        in written.text_by_id["facts-footer"]
    )
    for row in rows:
        assert all(
            (out / row["pictures"][k]).is_file() for k in ("radiograph", "overlay", "outline")
        )
    by_id = {r["image_id"]: r for r in rows}
    for entry in report["per_image"]:
        row = by_id[entry["image_id"]]
        expected_iou = entry["iou"]["0.5"]
        assert row["iou"] == expected_iou or (
            row["iou"] is None and (expected_iou is None or math.isnan(expected_iou))
        )
        assert row["hit"] == entry["hit"] and row["true_class"] == entry["class"]


@pytest.mark.parametrize("image_id", ["IMG 1", "../x", "a/b\\c", ""])
def test_picture_keys_stay_inside_the_folder(image_id: str) -> None:
    key = picture_key(image_id)
    assert key and "/" not in key and "\\" not in key and not key.startswith(".")


@pytest.mark.slow
def test_compare_page_of_unlabelled_images_claims_no_outcome(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path
) -> None:
    from typer.testing import CliRunner

    from assurexray.cli.main import app

    out = tmp_path / "cmp"
    arguments = ["--images", tiny_dataset / "images", "--annotations", tiny_dataset / "Annotations"]
    result = CliRunner().invoke(
        app, ["compare", *map(str, arguments), "--checkpoint", str(tiny_checkpoint), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "annotation_report.json").read_text())
    assert report["per_image"] and not any(e["class_known"] for e in report["per_image"])
    rows = compare_page(report).rows
    assert all(r.true_class is None and r.outcome == "" for r in rows)
    assert (out / "report.html").is_file()


@pytest.mark.slow
def test_infer_writes_a_page_for_several_images_only(tmp_path: Path, tiny_checkpoint: Path) -> None:
    from typer.testing import CliRunner

    from assurexray.cli.main import app
    from tests.conftest import write_gray_png

    folder = tmp_path / "scans"
    for n in range(3):
        write_gray_png(folder / f"scan{n}.png", seed=n)
    (folder / "broken.png").write_bytes(b"not a png")
    runner = CliRunner()
    common = ["--checkpoint", str(tiny_checkpoint)]
    several = runner.invoke(app, ["infer", str(folder), *common, "-o", str(tmp_path / "many")])
    assert several.exit_code == 1, several.output  # one file failed, the others are written
    assert str(tmp_path / "many" / "report.html") in several.output.replace("\n", "")
    page = _Page((tmp_path / "many" / "report.html").read_text())
    rows = page.rows()
    assert sorted(r["image_id"] for r in rows) == ["scan0.png", "scan1.png", "scan2.png"]
    assert all((tmp_path / "many" / r["pictures"]["overlay"]).is_file() for r in rows)
    assert "broken.png" in page.text_by_id["notes"]
    one = runner.invoke(
        app, ["infer", str(folder / "scan0.png"), *common, "-o", str(tmp_path / "one")]
    )
    assert one.exit_code == 0, one.output
    assert not (tmp_path / "one" / "report.html").exists()
    assert not (tmp_path / "one" / "report_images").exists()


@pytest.mark.slow
def test_gallery_writes_its_page(tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path) -> None:
    from typer.testing import CliRunner

    from assurexray.cli.main import app

    out = tmp_path / "g"
    arguments = ["--data", str(tiny_dataset), "--checkpoint", str(tiny_checkpoint), "-o", str(out)]
    result = CliRunner().invoke(app, ["gallery", *arguments, "--k", "1"])
    assert result.exit_code == 0, result.output
    predictions = pd.read_csv(out / "predictions.csv")
    page = _Page((out / "report.html").read_text())
    rows = page.rows()
    assert sorted(r["image_id"] for r in rows) == sorted(predictions["image_id"])
    with_pictures = [r for r in rows if r["pictures"]["overlay"]]
    assert 0 < len(with_pictures) <= 3 * 3  # at most k per category and class
    assert all((out / r["pictures"]["overlay"]).is_file() for r in with_pictures)
    metrics = json.loads((out / "metrics.json").read_text())
    assert f"{metrics['accuracy']:.1%}" in page.text_by_id["verdict"]


@pytest.mark.slow
def test_audit_page_from_a_real_audit_report(
    tmp_path: Path, tiny_dataset: Path, tiny_checkpoint: Path
) -> None:
    from typer.testing import CliRunner

    from assurexray.cli.main import app

    out = tmp_path / "audit"
    arguments = ["--data", str(tiny_dataset), "--split", "all", "--all", "--check-images", "3"]
    arguments += ["--checkpoint", str(tiny_checkpoint), "--method", "gradcam", "-o", str(out)]
    result = CliRunner().invoke(app, ["audit", *arguments])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "audit_report.json").read_text())
    page = audit_page(report)  # the footer comes from the report's checkpoint and settings
    assert (
        page.footer["checkpoint SHA-256"]
        == run_facts(checkpoint=tiny_checkpoint)["checkpoint SHA-256"]
    )
    assert page.footer["rank_by"] == report["settings"]["rank_by"]
    table = page.sections[0].tables[0]
    names = [row[0] for row in table.rows]
    assert names == [e["name"] for e in report["candidates"] + report["baselines"]]
    assert len(page.rows) == report["num_images"] > 0
    shown = report["recommended"] or report["candidates"][0]["name"]
    first = report["per_image"][0]
    assert page.rows[0].hit == first["scores"][shown]["hit"]
    rows = _Page(render_html(page)).rows()
    assert len(rows) == len(page.rows)


def test_demo_summary_states_the_audit_as_the_terminal_does() -> None:
    from assurexray.demo.report import demo_summary_rows

    report = {"iou_threshold": 0.5, "mean_iou": 0.1, "hit_rate": 0.5, "chance_level": 0.08}
    audit = {
        "recommended": "layercam@bn2",
        "seed_candidate": "gradcam@bn2",
        "chance_level": 0.09,
        "candidates": [
            {"name": "gradcam@bn2", "hit_rate": 0.3, "relevance_mass": 0.2},
            {"name": "layercam@bn2", "hit_rate": 0.6, "hit_rate_ci": [0.4, 0.8]},
            {"name": "eigencam@bn2", "hit_rate": 0.9},
        ],
    }
    rows = demo_summary_rows(METRICS, report, audit)[5:]
    assert rows == [
        ["audit, configured: gradcam@bn2 hit rate (pointing game)", "30%", "9%"],
        ["audit, configured: gradcam@bn2 relevance mass", "20%", "9%"],
        ["audit, recommended: layercam@bn2 hit rate (pointing game)", "60% [40%–80%]", "9%"],
        ["audit, recommended: layercam@bn2 relevance mass", "n/a", "9%"],
    ]
    assert demo_summary_rows(METRICS, report, {**audit, "recommended": None})[-1] == [
        "audit",
        "no trustworthy candidate",
        "",
    ]
    assert demo_summary_rows(METRICS, report)[-1][0] == "audit"  # skipped
    page = demo_page(METRICS, report, audit=audit)
    assert page.sections[0].highlight == "Recommended heatmap (audit): layercam@bn2"
