"""Open report pages in headless Chromium: for the browser tests, the README's
screenshot (``docs/make_screenshot.py``) and ``benchmarks/bench_report.py``.

Drives Debian's ``chromium`` (or another Chromium/Chrome found on the PATH) with
Playwright's Python API (a test extra); nothing is downloaded, and each session
gets a fresh, throw-away profile.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    """The Chromium executable: ``$CHROMIUM`` if set, else the first of :data:`CHROMIUM_NAMES`."""
    for name in (os.environ.get("CHROMIUM"), *CHROMIUM_NAMES):
        found = name and shutil.which(name)
        if found:
            return found
    return None


@contextmanager
def headless_chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A Playwright browser context of headless Chromium with a fresh profile.

    Raises:
        FileNotFoundError: No Chromium executable was found.
    """
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    if executable is None:
        raise FileNotFoundError(
            f"no Chromium found (looked for $CHROMIUM, {', '.join(CHROMIUM_NAMES)}); "
            "install it, e.g. apt-get install chromium"
        )
    with tempfile.TemporaryDirectory(prefix="assurexray-chromium-") as profile:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": width, "height": height},
            )
            try:
                yield context
            finally:
                context.close()


def file_url(path: str | Path) -> str:
    """The ``file://`` URL of a page on disk."""
    return Path(path).resolve().as_uri()


LOAD_MS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  return nav.loadEventEnd - nav.startTime;
}"""

SORT_MS = """(label) => {
  const headers = Array.from(document.querySelectorAll("#rows th"));
  const th = headers.find((h) => h.textContent.trim().startsWith(label));
  const start = performance.now();
  th.click();
  document.body.offsetHeight;  // include the layout of the reordered rows
  return performance.now() - start;
}"""


def page_timings(context: Any, path: str | Path, sort_column: str = "Image") -> dict[str, float]:
    """Milliseconds to load the page (navigation start to load end) and to sort one column."""
    page = context.new_page()
    try:
        page.goto(file_url(path), wait_until="load")
        return {"load_ms": page.evaluate(LOAD_MS), "sort_ms": page.evaluate(SORT_MS, sort_column)}
    finally:
        page.close()
