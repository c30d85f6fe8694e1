"""Property-based fuzz of suite files through the real CLI: every generated file either runs (exit
0, tiny budgets) or is refused with exit 2 and an ``error:`` line; never a traceback, never a hang.

Files are valid skeletons mutated: wrong types, huge, negative, NaN and infinite numbers, unknown
keys, deep nesting, unicode, empty tables and huge strings. Generated budgets stay tiny (or
invalid), so a file that is accepted finishes in well under a second.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tunebench.cli import app

#: Numbers that break things: none of them is a valid *and* large budget, so nothing runs long.
EDGE_NUMBERS = [-1, 0, 1, 2, 2.5, -0.0, math.nan, math.inf, -math.inf, 1e300, 2**32 + 5, 2**62,
                10**30, -(10**30), 2**63, "3", True, [], {}]
TINY_BUDGETS = [1, 2, 3]
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


def toml_value(value: Any) -> str:
    """One value as TOML (floats' nan and inf included; strings as JSON, a subset of TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) \
            else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def table(header: str, body: dict[str, Any]) -> str:
    return header + "\n" + "".join(f"{toml_value(k)} = {toml_value(v)}\n" for k, v in body.items())


def rarely(draw: st.DrawFn, odds: int) -> bool:
    """True about once in ``odds + 1`` draws (last in the list: Hypothesis favours the first)."""
    return draw(st.sampled_from([False] * odds + [True]))


def maybe(draw: st.DrawFn, valid: Any, *wrong: Any) -> Any:
    """Mostly the valid value (so most files break one thing at most), sometimes an edge number or
    one of the wrong values given."""
    if draw(st.sampled_from([True] * 5 + [False])):
        return valid
    return draw(st.sampled_from(EDGE_NUMBERS + list(wrong)))


@st.composite
def suite_files(draw: st.DrawFn) -> str:
    suite: dict[str, Any] = {"name": draw(st.sampled_from(["fuzz"] * 6 + ["", "x" * 100_000]))
                             if draw(st.sampled_from([True] * 5 + [False])) else draw(TEXT)}
    if draw(st.booleans()):
        suite["seed"] = maybe(draw, 7, 2**32, -5)
    if draw(st.booleans()):
        suite["repetitions"] = maybe(draw, 2, 10**9, 100_001)
    if rarely(draw, 9):
        suite["plugins"] = draw(st.sampled_from([["nope.py"], ["\x00"], [1], "x.py", ["/"]]))
    kind = draw(st.sampled_from(["trials", "epochs", "device_seconds"]))
    amount = draw(st.sampled_from(TINY_BUDGETS if draw(st.sampled_from([True] * 3 + [False]))
                                  else EDGE_NUMBERS))
    budget: dict[str, Any] = {kind: amount if kind != "device_seconds" else
                              (0.05 if amount in TINY_BUDGETS else amount)}
    if rarely(draw, 5):
        budget["charge_optimizer"] = maybe(draw, kind == "device_seconds", "yes")
    settings_table: dict[str, Any] = {}
    if draw(st.booleans()):
        settings_table["threads"] = maybe(draw, 1, 513, 10**6)
    if draw(st.booleans()):
        settings_table["trial_timeout"] = maybe(draw, 5.0, 10**12)
    if rarely(draw, 5):
        settings_table["device"] = draw(st.sampled_from(["cpu", "cuda:x", "tpu", "", "cpu:0"]))
    task_name = draw(st.sampled_from(["branin", "rosenbrock", "ackley", "nosuch"]))
    options: dict[str, Any] = {}
    if task_name in ("rosenbrock", "ackley") and draw(st.booleans()):
        options["dim"] = maybe(draw, 3, 10_001, 2**31)
    if rarely(draw, 3):
        options["noise"] = maybe(draw, 0.1)
    task: dict[str, Any] = {"name": task_name, "options": options}
    if rarely(draw, 4):
        task["repetitions"] = maybe(draw, 1, 10**9)
    if rarely(draw, 4):
        task["budget"] = {"trials": maybe(draw, 2, 2**33)}
    runner_name = draw(st.sampled_from(["random", "grid", "nosuch"]))
    runner: dict[str, Any] = {"name": runner_name}
    if runner_name == "grid" and draw(st.booleans()):
        runner["options"] = {"resolution": maybe(draw, 2, 2**62, 100_001)}
    if rarely(draw, 5):
        runner["options"] = {"seed": maybe(draw, 3, 2**40)}
    sections = [table("[suite]", suite), table("[budget]", budget), table("[settings]", settings_table),
                table("[[tasks]]", task), table("[[runners]]", runner)]
    mutation = draw(st.sampled_from(["none"] * 4 + ["unknown key", "deep", "empty table", "unicode",
                                                    "drop section", "wrong type", "duplicate"]))
    if mutation == "unknown key":
        where = draw(st.integers(0, len(sections) - 1))
        sections[where] += f"{toml_value(draw(TEXT) or 'k')} = 1\n"
    elif mutation == "deep":
        depth = draw(st.sampled_from([31, 40, 500, 5000]))
        sections[3] += f'"deep" = {"[" * depth}{"]" * depth}\n'
    elif mutation == "empty table":
        sections[draw(st.integers(0, len(sections) - 1))] = draw(st.sampled_from(["[suite]\n",
                                                                                  "[budget]\n",
                                                                                  "[[tasks]]\n"]))
    elif mutation == "unicode":
        description = toml_value(draw(TEXT) + "é☃\u202e\U0001f600")
        sections[0] += f"description = {description}\n"
    elif mutation == "drop section":
        del sections[draw(st.integers(0, len(sections) - 1))]
    elif mutation == "wrong type":
        sections[draw(st.integers(0, len(sections) - 1))] = draw(st.sampled_from(
            ["suite = 3\n", "tasks = 1\n", 'runners = ["random"]\n', "budget = []\n"]))
    elif mutation == "duplicate":
        sections.append(sections[3])
    return "\n".join(sections)


#: CI runs 300 derandomised cases; a checker runs more, from a seed of their own:
#: TUNEBENCH_FUZZ_EXAMPLES=1000 TUNEBENCH_FUZZ_SEED=20261204 pytest tests/test_suite_fuzz.py
EXAMPLES = int(os.environ.get("TUNEBENCH_FUZZ_EXAMPLES", "300"))
FUZZ_SEED = os.environ.get("TUNEBENCH_FUZZ_SEED")


@pytest.mark.timeout(max(150, EXAMPLES // 2), method="thread")
@settings(max_examples=EXAMPLES, derandomize=FUZZ_SEED is None, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@seed(int(FUZZ_SEED or 0))
@given(text=suite_files())
def test_any_suite_file_runs_or_is_refused_cleanly(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    db = tmp_path / "fuzz.db"
    for old in tmp_path.glob("fuzz.db*"):
        old.unlink()
    result = CliRunner().invoke(app, ["run", str(path), "--db", str(db), "-q", "--no-cache"])
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed, f"{type(result.exception).__name__}: {result.exception}\n{text[:2000]}"
    assert "Traceback" not in result.output, text[:2000]
    assert result.exit_code in (0, 2), f"exit {result.exit_code}: {result.output[-2000:]}\n{text[:2000]}"
    if result.exit_code == 2:
        assert "error:" in result.output, result.output[-2000:]
