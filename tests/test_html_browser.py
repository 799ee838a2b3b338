"""report.html in a real browser: headless Chromium driven by Playwright.

Skipped only when no Chromium executable can be found (``.ci/run`` installs
Debian's ``chromium``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from assurexray.cli.main import app
from assurexray.reporting.browser import (
    CHROMIUM_NAMES,
    file_url,
    find_chromium,
    headless_chromium,
    page_timings,
)
from assurexray.reporting.html_report import ImageRow, ReportPage, write_pictures, write_report

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason=f"no Chromium executable found (looked for $CHROMIUM, {', '.join(CHROMIUM_NAMES)}); "
    "install Debian's chromium package to run the browser tests",
)
CLASSES = ("Normal", "Benign", "Malignant")


@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as context:
        yield context


class Opened:
    """A page and every console error, page error and failed request seen on it."""

    def __init__(self, context, path: Path) -> None:
        self.errors: list[str] = []
        self.page = context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.page.goto(file_url(path), wait_until="load")

    def visible_ids(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "#rows tbody tr:not([hidden]) td:nth-child(2)", "cells => cells.map(c => c.textContent)"
        )

    def column(self, label: str) -> list[str]:
        index = self.page.eval_on_selector_all(
            "#rows th", f"hs => hs.findIndex(h => h.textContent.trim().startsWith({label!r}))"
        )
        return self.page.eval_on_selector_all(
            f"#rows tbody tr:not([hidden]) td:nth-child({index + 1})",
            "cells => cells.map(c => c.dataset.v ?? c.textContent)",
        )

    def click_header(self, label: str) -> None:
        self.page.locator("#rows th", has_text=label).first.click()


@pytest.fixture(scope="module")
def job_pages(tmp_path_factory, tiny_dataset: Path, tiny_checkpoint: Path) -> dict[str, Path]:
    """report.html of a real compare run and a real gallery run with the tiny model."""
    out = tmp_path_factory.mktemp("jobs")
    runner = CliRunner()
    common = ["--data", str(tiny_dataset), "--checkpoint", str(tiny_checkpoint)]
    compare = runner.invoke(
        app, ["compare", *common, "--split", "all", "--all", "-o", str(out / "c")]
    )
    assert compare.exit_code == 0, compare.output
    gallery = runner.invoke(app, ["gallery", *common, "--k", "2", "-o", str(out / "g")])
    assert gallery.exit_code == 0, gallery.output
    return {"compare": out / "c" / "report.html", "gallery": out / "g" / "report.html"}


def synthetic_page(folder: Path, count: int, seed: int = 0) -> Path:
    """A page of ``count`` images with known classes, scores and small pictures."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in range(count):
        gray = rng.random((40, 30)).astype(np.float32)
        mask = np.zeros((40, 30), bool)
        mask[10:25, 8:20] = True
        truth, predicted = rng.choice(CLASSES, 2)
        rows.append(
            ImageRow(
                f"IMG{n:05d}",
                str(truth),
                str(predicted),
                float(rng.random()),
                iou=float(rng.random()) if n % 7 else None,
                hit=bool(rng.random() > 0.5),
                relevance_mass=float(rng.random()),
                pictures=write_pictures(folder, f"IMG{n:05d}", gray, gray, mask),
                facts={"image_id": f"IMG{n:05d}"},
            )
        )
    page = ReportPage("synthetic", "compare", rows=rows, class_names=list(CLASSES))
    return write_report(page, folder)


@pytest.fixture(scope="module")
def big_page(tmp_path_factory) -> Path:
    return synthetic_page(tmp_path_factory.mktemp("big"), 500)


@pytest.mark.slow
@pytest.mark.parametrize("job", ["compare", "gallery"])
def test_every_image_loads_without_console_errors(browser, job_pages, job: str) -> None:
    opened = Opened(browser, job_pages[job])
    widths = opened.page.evaluate(
        """async () => {
        const shown = Array.from(document.images).filter(i => i.getAttribute("src"));
        const sources = shown.map(i => i.src);
        const data = JSON.parse(document.getElementById("row-data").textContent);
        for (const row of data) {
          for (const path of Object.values(row.pictures)) {
            if (path) { sources.push(path.split("/").map(encodeURIComponent).join("/")); }
          }
        }
        const widths = await Promise.all(sources.map(src => new Promise(done => {
          const img = new Image();
          img.onload = () => done(img.naturalWidth);
          img.onerror = () => done(0);
          img.src = src;
        })));
        return {count: sources.length, loaded: widths.filter(w => w > 0).length};
    }"""
    )
    assert widths["count"] > 10 and widths["loaded"] == widths["count"]
    opened.page.locator("#rows tbody tr").first.click()
    assert opened.page.evaluate("document.getElementById('v-image').naturalWidth") > 0
    assert opened.errors == []


def test_sorting_a_column_reorders_the_rows(browser, big_page: Path) -> None:
    opened = Opened(browser, big_page)
    confidences = [float(v) for v in opened.column("Confidence")]
    assert confidences == sorted(confidences, reverse=True)  # the page opens most confident first
    opened.click_header("Image")
    ids = opened.visible_ids()
    assert ids == sorted(ids) and len(ids) == 500
    opened.click_header("Image")
    assert opened.visible_ids() == sorted(ids, reverse=True)
    opened.click_header("IoU")
    values = opened.column("IoU")
    numbers = [float(v) for v in values if v != ""]
    assert numbers == sorted(numbers, reverse=True) and values[len(numbers) :] == [""] * (
        500 - len(numbers)
    )
    assert opened.errors == []


def test_filters_show_malignant_false_negatives_in_two_clicks(browser, big_page: Path) -> None:
    opened = Opened(browser, big_page)
    rows = opened.page.evaluate("JSON.parse(document.getElementById('row-data').textContent)")
    opened.page.click("#class-filter button[data-value=Malignant]")
    opened.page.click("#outcome-filter button[data-value=FN]")
    expected = [
        r["image_id"]
        for r in sorted(rows, key=lambda r: -r["confidence"])
        if r["true_class"] == "Malignant" and r["predicted_class"] != "Malignant"
    ]
    assert 0 < len(expected) < 500
    assert opened.visible_ids() == expected  # most confident first, the others hidden
    assert set(opened.column("Outcome")) == {"FN"}
    assert opened.page.inner_text("#count") == f"{len(expected)} of 500 images"
    opened.page.click("#outcome-filter button[data-value=FP]")
    assert set(opened.column("Predicted")) == {"Malignant"} and set(opened.column("Outcome")) == {
        "FP"
    }


@pytest.mark.slow
def test_image_viewer_opens_switches_views_and_closes(browser, job_pages) -> None:
    opened = Opened(browser, job_pages["compare"])
    page = opened.page
    page.locator("#rows tbody tr").nth(1).click()
    assert page.is_visible("#viewer")
    assert page.get_attribute("#v-image", "src").endswith("_overlay.jpg")
    assert page.is_visible("#v-layer")  # the expert outline is on by default
    assert '"relevance_mass"' in page.inner_text("#v-json")
    page.click("button[data-view=radiograph]")
    assert page.get_attribute("#v-image", "src").endswith("_radiograph.jpg")
    page.click("#v-outline")
    assert not page.is_visible("#v-layer")
    first = page.inner_text("#v-title")
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#v-title") != first
    page.keyboard.press("Escape")
    assert not page.is_visible("#viewer")
    assert opened.errors == []


@pytest.mark.slow
def test_screenshot_is_not_blank(browser, job_pages) -> None:
    opened = Opened(browser, job_pages["gallery"])
    shot = cv2.imdecode(np.frombuffer(opened.page.screenshot(), np.uint8), cv2.IMREAD_COLOR)
    assert shot.shape[:2] == (900, 1280)
    assert shot.std() > 20 and len(np.unique(shot.reshape(-1, 3), axis=0)) > 100


def test_500_rows_load_and_sort(browser, big_page: Path) -> None:
    timings = [page_timings(browser, big_page, "IoU") for _ in range(3)]
    best = {key: min(t[key] for t in timings) for key in timings[0]}
    load, sort = best["load_ms"], best["sort_ms"]
    print(f"\n500-row report: load {load:.0f} ms, sort {sort:.1f} ms (best of 3)")
    opened = Opened(browser, big_page)
    assert len(opened.visible_ids()) == 500 and opened.errors == []


def test_pictures_of_awkward_image_ids_load(browser, tmp_path: Path) -> None:
    ids = ["scan #1", "50% ü", "a b?c", "x&y<z>", "..hidden"]
    gray = np.linspace(0, 1, 1200, dtype=np.float32).reshape(40, 30)
    rows = [
        ImageRow(i, "Benign", "Benign", 0.5, pictures=write_pictures(tmp_path, i, gray, gray))
        for i in ids
    ]
    opened = Opened(browser, write_report(ReportPage("t", "compare", rows=rows), tmp_path))
    page = opened.page
    page.evaluate(
        "Promise.all(Array.from(document.images).filter(i => i.getAttribute('src'))"
        ".map(i => { i.loading = 'eager'; return i.decode(); }))"
    )
    widths = page.eval_on_selector_all("#rows img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == len(ids) and min(widths) > 0
    for n in range(len(ids)):
        page.locator("#rows tbody tr").nth(n).click()
        page.wait_for_function("document.getElementById('v-image').complete")
        assert page.evaluate("document.getElementById('v-image').naturalWidth") > 0
        page.keyboard.press("Escape")
    assert opened.errors == []


def test_shortcuts_page_shows_its_pictures(browser, tmp_path: Path) -> None:
    from assurexray.core.files import write_png
    from assurexray.reporting.page_parts import PageContext
    from assurexray.reporting.shortcut_page import FIGURES, shortcuts_page
    from tests.test_shortcut_page import _report, _table

    for name, _ in FIGURES:
        write_png(tmp_path / name, np.full((60, 90, 3), 128, np.uint8))
    table = _table()
    page = shortcuts_page(_report(table), PageContext(), table, [n for n, _ in FIGURES])
    opened = Opened(browser, write_report(page, tmp_path))
    widths = opened.page.eval_on_selector_all("figure img", "imgs => imgs.map(i => i.naturalWidth)")
    assert widths == [90, 90, 90] and not opened.errors
    assert len(opened.visible_ids()) == 40
    opened.click_header("Δp removed")
    values = [float(v) for v in opened.column("Δp removed") if v]
    assert values == sorted(values, reverse=True) and len(values) == 14
