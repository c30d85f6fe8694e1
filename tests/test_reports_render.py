"""The written report: files, escaping, rounding, edge cases, the CLI and the real store."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_fixtures import NASTY, fail_study, rename, small_store, subset
from typer.testing import CliRunner

from tunebench.reports import build_report, write_report
from tunebench.reports.frames import StoreData
from tunebench.reports.render import best_mask, fmt, fmt_pm, latex_table, md_escape, tex_escape

FAST = {"n_boot": 200}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    data = rename(small_store(), task={"acc": NASTY}, runner={"cma": NASTY})
    out = tmp_path_factory.mktemp("report")
    report = build_report(data, **FAST)
    return report, write_report(report, out)


def _text(report) -> str:
    """Everything a report says in prose, section by section."""
    return "\n".join(str(payload) for section in report.sections
                     for kind, payload in section.items if kind in ("p", "note", "warn"))


def test_every_output_file_is_written(written):
    report, files = written
    assert files.index.is_file() and files.markdown.is_file() and files.latex.is_file()
    names = {p.name for p in files.figures}
    for figure in report.figures:
        assert f"{figure}.png" in names and f"{figure}.svg" in names
        assert (files.directory / "figures" / f"{figure}.png").stat().st_size > 1000
    for table in report.tables:
        assert (files.directory / "tables" / f"{table}.csv").is_file()
    expected = {"sample_efficiency_trials", "final_test", "normalised_score",
                "ranks_over_budget", "critical_difference", "win_rates", "ecdf",
                "optimizer_overhead", "eval_seconds"}
    assert expected <= set(report.figures)


def test_html_is_self_contained(written):
    _, files = written
    html = files.index.read_text()
    assert "<script" not in html.replace("&lt;script", "")
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert html.count('src="data:image/png;base64,') == len(list(
        files.directory.glob("figures/*.png")))


def test_names_with_html_special_characters_are_escaped(written):
    _, files = written
    html = files.index.read_text()
    assert NASTY not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;&amp;&#34;$x$" in html
    markdown = files.markdown.read_text()
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
    latex = files.latex.read_text()
    assert r"\textless{}script\textgreater{}" in latex and "<script>" not in latex
    assert r"\&''\$x\$" in latex  # & " $ escaped


def test_latex_tables_are_booktabs_with_bold_best(written):
    _, files = written
    latex = files.latex.read_text()
    assert latex.count(r"\toprule") == latex.count(r"\bottomrule") >= 4
    assert r"\midrule" in latex and r"\textbf{" in latex
    assert r"\hline" not in latex


def test_csv_tables_hold_unrounded_numbers(written):
    report, files = written
    with open(files.directory / "tables" / "final_test.csv") as handle:
        rows = list(csv.DictReader(handle))
    frame = report.frames["final_test"]
    assert len(rows) == len(frame)
    assert float(rows[0]["mean"]) == pytest.approx(frame["mean"].iloc[0], rel=1e-12)


def test_the_report_says_what_the_normalised_score_is(written):
    report, _ = written
    text = _text(report)
    assert "0 is the reference, 1 no better than one random evaluation" in text
    assert "100 × (1 − mean)" in text  # Bayesmark's leaderboard figure
    # "acc" (renamed NASTY) has no known optimum: its reference is per repetition
    assert "best value any runner reached in the repetition is the reference: " + NASTY in text


def test_only_a_significantly_best_runner_is_bold_in_the_final_table(written):
    # Five paired repetitions cannot make a two-sided signed-rank test reach p < 0.05 (the
    # smallest exact p is 2/32), so no runner may be bold, however far ahead its median is.
    report, _ = written
    table = report.tables["final_test"]
    assert not any(cell.bold for row in table.rows for cell in row[1:])
    assert not report.frames["final_test_best"].drop(columns="task").to_numpy().any()
    assert "without bold, no runner is" in _text(report)


def test_python_api_exposes_frames_and_figures(written):
    report, _ = written
    for name in ("final_test", "curves_trials", "normalised_scores", "ranks_over_budget",
                 "wilcoxon", "win_rates", "ecdf", "costs", "failures", "studies"):
        assert isinstance(report.frames[name], pd.DataFrame), name
    assert report.statistics["friedman"].n_runners == 3
    assert report.statistics["critical_difference"] > 0


# -- rounding ------------------------------------------------------------------------------

def test_numbers_are_rounded_sensibly():
    assert fmt(0.123456) == "0.1235"
    assert fmt(12345.678) == "12346"
    assert fmt(0.99999) == "1.000"
    assert fmt(2.5e-7) == "2.500e-07"
    assert fmt(-0.0) == "0" and fmt(float("nan")) == "—"
    assert fmt_pm(0.91234, 0.01234) == "0.912 ± 0.012"
    assert fmt_pm(152.3, 14.9) == "152 ± 15"
    assert fmt_pm(0.5, float("nan")) == "0.5000"


def test_best_mask_follows_each_rows_direction_and_marks_ties():
    values = pd.DataFrame([[1.0, 2.0, 1.0], [0.2, 0.9, np.nan], [np.nan, 3.0, np.nan]])
    mask = best_mask(values, [False, True, False])
    np.testing.assert_array_equal(mask, [[True, False, True], [False, True, False],
                                         [False, False, False]])


def test_markdown_and_latex_escaping():
    assert md_escape("a|b*c_d<e>&") == r"a\|b\*c\_d&lt;e&gt;&amp;"
    assert tex_escape("50% of $x_1$ & {y} ~ #") == \
        r"50\% of \$x\_1\$ \& \{y\} \textasciitilde{} \#"
    assert tex_escape("0.91 ± 0.01") == r"0.91 $\pm$ 0.01"


def test_latex_table_alignment_follows_the_columns(written):
    report, _ = written
    text = latex_table(report.tables["wilcoxon"])
    assert r"\begin{tabular}{ll" in text


# -- edge cases ----------------------------------------------------------------------------

def test_one_runner_only(tmp_path):
    report = build_report(subset(small_store(), runners=["tpe"]), **FAST)
    text = _text(report)
    assert "Only one runner" in text
    assert "No runner named 'random'" in text
    assert "critical_difference" not in report.figures
    write_report(report, tmp_path)
    assert (tmp_path / "index.html").is_file()


def test_one_repetition_has_no_bands_and_says_so(tmp_path):
    report = build_report(subset(small_store(), repetitions=[0], tasks=["sphere"]), **FAST)
    text = _text(report)
    assert "Only one repetition per runner and task: no confidence bands." in text
    assert "too few for any test" in text
    assert "friedman" not in report.statistics
    curves = report.frames["curves_trials"]
    assert curves["lo"].isna().all() and curves["hi"].isna().all()
    write_report(report, tmp_path)


def test_two_runners_skip_friedman_but_test_the_pair():
    report = build_report(subset(small_store(), runners=["random", "tpe"]), **FAST)
    assert "friedman" not in report.statistics
    assert len(report.frames["wilcoxon"]) == 1
    assert "Friedman's test needs three or more runners" in _text(report)


def test_a_study_with_only_failed_trials():
    data = small_store()
    sid = int(data.studies.loc[data.studies["runner"] == "tpe", "study_id"].iloc[0])
    report = build_report(fail_study(data, sid, "MemoryError: simulated\nsecond line"), **FAST)
    failures = report.frames["failures"]
    assert "MemoryError: simulated" in set(failures["error"])
    counts = report.frames["failure_counts"].set_index("runner")
    assert counts.loc["tpe", "studies_without_success"] == 1
    assert "counts as the worst" in _text(report)


def test_every_study_failed(tmp_path):
    data = small_store(repetitions=2)
    for sid in data.studies["study_id"]:
        data = fail_study(data, int(sid))
    report = build_report(data, **FAST)
    text = _text(report)
    assert "No study has a test value" in text
    assert "Every runner ties in every block" in text
    write_report(report, tmp_path)
    assert (tmp_path / "index.html").is_file()


def test_unequal_budgets_and_devices_are_loud_warnings():
    data = small_store()
    studies = data.studies.copy()
    trials = data.trials.copy()
    first = studies["runner"] == "tpe"
    studies.loc[first, "budget_amount"] = 10.0
    studies.loc[studies["runner"] == "cma", "device"] = "cuda:0"
    report = build_report(StoreData(trials, studies, data.environments, data.suite_specs),
                          **FAST)
    warnings = " ".join(report.warnings)
    assert "Unequal budgets on task 'sphere'" in warnings
    assert "Different devices on task 'sphere'" in warnings


def test_unfinished_studies_are_flagged():
    data = small_store()
    studies = data.studies.copy()
    studies.loc[studies.index[:2], "status"] = "running"
    studies.loc[studies.index[:2], "budget_met"] = False
    report = build_report(StoreData(data.trials, studies), **FAST)
    assert any("did not spend their whole budget" in w for w in report.warnings)
    assert "no environment record" in _text(report)


def test_bad_center_is_a_user_error():
    with pytest.raises(ValueError, match="center"):
        build_report(small_store(), center="mode")


# -- the real store and the command line ---------------------------------------------------

@pytest.fixture(scope="module")
def store_db(tmp_path_factory) -> tuple[Path, StoreData]:
    from tunebench.testing.synthetic_store import write_store

    data = subset(small_store(), runners=["random", "tpe"])
    db = tmp_path_factory.mktemp("store") / "results.db"
    write_store(data, db)
    return db, data


def test_report_from_the_sqlite_store_equals_report_from_frames(store_db):
    db, data = store_db
    from_db = build_report(db, **FAST)
    from_frames = build_report(data, **FAST)
    columns = ["task", "runner", "repetition", "final_value", "final_test", "n_failed"]
    pd.testing.assert_frame_equal(from_db.data.final[columns], from_frames.data.final[columns])
    pd.testing.assert_frame_equal(from_db.frames["final_test"], from_frames.frames["final_test"])
    assert ("Store", str(db)) in from_db.summary


def test_cli_writes_the_report_and_says_where(store_db, tmp_path):
    from tunebench.cli import app

    db, _ = store_db
    result = CliRunner().invoke(app, ["report", "--db", str(db), "-o", str(tmp_path / "out"),
                                      "--bootstrap", "200"])
    assert result.exit_code == 0, result.output
    assert "Report written to" in result.output
    assert str(tmp_path / "out" / "index.html") in result.output.replace("\n", "")
    assert (tmp_path / "out" / "report.md").is_file()


def test_cli_missing_store_is_one_line_and_exit_2(tmp_path):
    from tunebench.cli import app

    result = CliRunner().invoke(app, ["report", "--db", str(tmp_path / "nope.db"),
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "error:" in result.output and "no results store" in result.output
    assert "Traceback" not in result.output


def test_cli_default_output_is_beside_the_store():
    from tunebench.cli.report import default_out_dir

    assert default_out_dir(Path("results/quick.db")) == Path("results/quick-report")


def test_a_study_that_never_started(tmp_path):
    data = small_store(repetitions=2)
    sid = int(data.studies["study_id"].iloc[-1])
    trials = data.trials[data.trials["study_id"] != sid].reset_index(drop=True)
    studies = data.studies.copy()
    row = studies["study_id"] == sid
    studies.loc[row, ["status", "n_trials", "budget_spent"]] = ["pending", 0, 0.0]
    studies.loc[row, "budget_met"] = False
    report = build_report(StoreData(trials, studies, data.environments, data.suite_specs),
                          **FAST)
    assert any("1 of 12 studies did not spend their whole budget" in w for w in report.warnings)
    assert report.data.final.set_index("study_id").loc[sid, "n_trials"] == 0
    write_report(report, tmp_path)


def test_suite_source_in_markdown_keeps_its_backticks_inside_the_fence(tmp_path):
    data = small_store(repetitions=2)
    data.suite_specs[0]["source_text"] = 'name = "x"\n# ``` a fence in a comment\n'
    report = build_report(data, **FAST)
    report.figures.clear()  # only the pages matter here
    for section in report.sections:
        section.items = [item for item in section.items if item[0] != "figure"]
    files = write_report(report, tmp_path)
    markdown = files.markdown.read_text()
    assert "````\nname = \"x\"\n# ``` a fence in a comment\n\n````" in markdown


def test_a_comparison_mixing_resolved_precisions_or_device_models_is_warned_about() -> None:
    """Facts, not requests: every study asked for precision "auto", but one ran in bf16; and
    cuda:0 / cuda:1 of one GPU model is the same device (no warning for the index alone)."""
    from dataclasses import replace

    data = small_store()
    studies = data.studies.copy()
    first = studies["task"] == studies["task"].iloc[0]
    studies["precision"] = "auto"
    studies["precision_resolved"] = "fp32"
    studies.loc[first & (studies["repetition"] == 0), "precision_resolved"] = "bf16"
    studies["device"] = ["cuda:0" if i % 2 else "cuda:1" for i in range(len(studies))]
    studies["device_model"] = "NVIDIA A100-SXM4-40GB"
    studies["device_memory"] = 40 * 2**30
    report = build_report(replace(data, studies=studies))
    mixes = [w for w in report.warnings if "mixes" in w]
    assert len(mixes) == 1 and "numeric precisions" in mixes[0] and "bf16" in mixes[0]
    assert not any("Different devices" in w or "device models" in w for w in report.warnings)
    # Two models behind the same requested device string are told apart.
    studies.loc[first & (studies["repetition"] == 1), "device_model"] = "NVIDIA H100 80GB HBM3"
    report = build_report(replace(data, studies=studies))
    assert any("device models" in w for w in report.warnings)
