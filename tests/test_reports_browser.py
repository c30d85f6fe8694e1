"""The HTML report in a real headless Chromium (Debian's ``chromium``), opened from disk.

Checks what a reader sees: every section, every figure decoded, no console error, no request
leaving the page, and names full of HTML special characters shown as text, never run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from report_fixtures import NASTY, rename, small_store

from tunebench.reports import build_report, write_report

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SECTIONS = ["Summary", "Sample efficiency", "Final test performance", "Normalised score",
            "Ranks over budget", "Significance", "Anytime performance", "Costs and failures",
            "Provenance"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists() and shutil.which("chromium") is None,
                       reason="Debian's chromium is not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def page_report(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    data = rename(small_store(), task={"acc": NASTY}, runner={"cma": NASTY})
    out = tmp_path_factory.mktemp("browser")
    written = write_report(build_report(data, n_boot=200), out)
    console, errors, outside = [], [], []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda message: console.append((message.type, message.text)))
            page.on("pageerror", lambda error: errors.append(str(error)))

            def guard(route):
                url = route.request.url
                if url.startswith(("file:", "data:")):
                    route.continue_()
                else:
                    outside.append(url)
                    route.abort()

            page.route("**/*", guard)
            page.goto(written.index.as_uri(), wait_until="load")
            state = page.evaluate("""() => ({
                headings: Array.from(document.querySelectorAll("h2")).map(h => h.textContent),
                images: Array.from(document.images).map(
                    i => ({complete: i.complete, width: i.naturalWidth, src: i.src.slice(0, 22)})),
                scripts: document.querySelectorAll("script").length,
                pwned: window.__pwned === undefined ? null : window.__pwned,
                text: document.body.innerText,
                title: document.title,
            })""")
            shot = out / "screenshot.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    return {"state": state, "console": console, "errors": errors, "outside": outside,
            "screenshot": shot, "written": written}


def test_every_section_is_there(page_report):
    headings = page_report["state"]["headings"]
    assert headings == SECTIONS


def test_every_figure_is_embedded_and_decodes(page_report):
    images = page_report["state"]["images"]
    assert len(images) >= 9
    for image in images:
        assert image["complete"] and image["width"] > 0, image
        assert image["src"].startswith("data:image/png;base64")


def test_no_console_errors_and_no_network(page_report):
    assert not page_report["errors"]
    assert [m for m in page_report["console"] if m[0] in ("error", "warning")] == []
    assert page_report["outside"] == []


def test_special_characters_are_shown_not_run(page_report):
    state = page_report["state"]
    assert state["scripts"] == 0
    assert state["pwned"] is None
    assert NASTY in state["text"]  # shown literally, as text


def test_screenshot_shows_a_page(page_report):
    from PIL import Image

    with Image.open(page_report["screenshot"]) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert width == 1280 and height > 3000
    assert pixels.std() > 20  # not a blank page
    assert (pixels < 100).mean() > 0.005  # dark text and lines are drawn
