"""The multi-objective section of the HTML report in headless Chromium (as
tests/test_reports_browser.py opens the single-objective one): the hypervolume curves, the
attainment plot and the Pareto tables rendered — images decoded, tables with their rows, the
attainment figure's axes named with the objectives' directions and every runner in its legend."""

from __future__ import annotations

import pytest
from test_reports_browser import SVG_TEXTS, _launch, pytestmark  # noqa: F401  (skip + slow)
from test_reports_multi_objective import (
    MULTI,
    RUNNERS,
    brute_front,
    losses,
    report,  # noqa: F401  (fixtures)
    store,  # noqa: F401
    written,  # noqa: F401
)

from tunebench.suite.store import load_trials


@pytest.fixture(scope="module")
def mo_page(written):  # noqa: F811
    sync_api = pytest.importorskip("playwright.sync_api")
    errors, console, outside = [], [], []
    with sync_api.sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            tab.on("pageerror", lambda error: errors.append(str(error)))
            tab.on("console", lambda message: console.append((message.type, message.text)))

            def guard(route):
                if route.request.url.startswith(("file:", "data:")):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            tab.route("**/*", guard)
            tab.goto((written.directory / "figures" / "attainment_schaffer.svg").as_uri(),
                     wait_until="load")
            attainment_svg = tab.evaluate(SVG_TEXTS)
            tab.goto(written.index.as_uri(), wait_until="load")
            tab.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
            state = tab.evaluate("""() => {
                const section = document.querySelector("#multi-objective");
                const image = id => {
                    const img = document.querySelector(`#figure-${id} img`);
                    if (!img) return null;
                    const box = img.getBoundingClientRect();
                    return {complete: img.complete, width: img.naturalWidth,
                            shown: box.width, src: img.src.slice(0, 22)};
                };
                const tables = {};
                section.querySelectorAll(".table-wrap").forEach(w => {
                    const t = w.querySelector("table");
                    tables[w.id] = {rows: t.tBodies[0].rows.length,
                                    visible: t.getBoundingClientRect().height > 0,
                                    head: Array.from(t.tHead.rows[0].cells).map(c => c.textContent),
                                    first: Array.from(t.tBodies[0].rows).map(
                                        r => [r.cells[0].textContent, r.cells[1].textContent])};
                });
                return {
                    headings: Array.from(document.querySelectorAll("h2")).map(h => h.textContent),
                    nav: Array.from(document.querySelectorAll("nav a")).map(a => a.textContent),
                    curves: image("hypervolume_curves"),
                    attainment: image("attainment_schaffer"),
                    parallel: image("pareto_parallel_schaffer3"),
                    images: Array.from(section.querySelectorAll("img")).length,
                    tables,
                    text: section.innerText,
                    page_width: document.documentElement.scrollWidth,
                };
            }""")
        finally:
            browser.close()
    return {"state": state, "svg": attainment_svg, "errors": errors, "console": console,
            "outside": outside}


def test_the_section_is_shown_and_linked(mo_page):
    state = mo_page["state"]
    assert "Multi-objective" in state["headings"] and "Multi-objective" in state["nav"]
    assert state["headings"].index("Multi-objective") < state["headings"].index(
        "Costs and failures")
    assert not mo_page["errors"] and mo_page["outside"] == []
    assert state["page_width"] <= 1280  # its figures and tables fit the window
    assert [m for m in mo_page["console"] if m[0] in ("error", "warning")] == []


@pytest.mark.parametrize("figure", ["curves", "attainment", "parallel"])
def test_the_figures_are_decoded_and_drawn(mo_page, figure):
    image = mo_page["state"][figure]
    assert image is not None, figure
    assert image["complete"] and image["width"] > 300 and image["shown"] > 300, image
    assert image["src"].startswith("data:image/png;base64")


def test_the_attainment_plot_names_its_objectives_and_runners(mo_page):
    svg = mo_page["svg"]
    texts = [t["text"] for t in svg["texts"]]
    assert "f1 (minimize)" in texts and "f2 (minimize)" in texts and "schaffer" in texts
    assert sorted(t["text"] for t in svg["texts"] if t["legend"] and t["text"] != "runner") == \
        sorted(RUNNERS)
    for t in svg["texts"]:  # nothing cut at the figure's edge
        assert t["left"] >= 0 and t["right"] <= svg["width"] + 0.5, t


def test_the_hypervolume_and_pareto_tables_are_rendered(mo_page, store):  # noqa: F811
    tables = mo_page["state"]["tables"]
    final = tables["table-final_hypervolume"]
    assert final["visible"] and final["rows"] == len(MULTI)
    assert final["head"] == ["task", *RUNNERS]
    trials = load_trials(store)
    for task in MULTI:
        for runner in RUNNERS:
            shown = tables[f"table-pareto_{task}_{runner.replace('.', '_')}"]
            mine = trials[(trials["task"] == task) & (trials["runner"] == runner)
                          & (trials["status"] == "ok")]
            front = brute_front(losses(mine, task)[0])
            assert shown["visible"] and shown["rows"] == int(front.sum()), (task, runner)
            expected = set(zip(mine["repetition"][front].astype(str),
                               mine["trial"][front].astype(str), strict=True))
            assert {tuple(r) for r in shown["first"]} == expected
    assert "Non-dominated trials of random on schaffer" in mo_page["state"]["text"]
