"""`tunebench eval` with a partial configuration, and `tunebench space` with defaults: what a
user porting a configuration by hand needs, in one round trip."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tunebench.cli import app
from tunebench.registry import make_task

PLUGIN = Path(__file__).parent / "plugin_tasks.py"


def _json(output: str) -> dict:
    return json.loads(output[output.index("{"):])


def test_a_partial_configuration_takes_the_tasks_defaults_for_the_rest() -> None:
    result = CliRunner().invoke(app, ["eval", "linreg", "-c", '{"optimizer": "adam", '
                                      '"learning_rate": 0.01}', "-f", "2"])
    assert result.exit_code == 0, result.output
    out = _json(result.output)
    defaults = make_task("linreg").default_config()
    assert out["config"]["optimizer"] == "adam" and out["config"]["learning_rate"] == 0.01
    assert "momentum" not in out["config"]  # inactive under adam: not filled in
    assert set(out["from_default"]) == set(out["config"]) - {"optimizer", "learning_rate"}
    assert all(out["config"][name] == defaults[name] for name in out["from_default"])


def test_every_unknown_or_inactive_key_is_named_at_once() -> None:
    result = CliRunner().invoke(app, ["eval", "linreg", "-c", '{"lr": 1, "optimizer": "adam", '
                                      '"momentum": 0.9, "batchsize": 3}'])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "not parameters of 'linreg': batchsize, lr" in text
    assert "inactive with the values given: momentum" in text
    assert "Traceback" not in result.output


def test_space_shows_each_parameters_default() -> None:
    result = CliRunner().invoke(app, ["space", "linreg", "--format", "table"],
                                env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    defaults = make_task("linreg").default_config()
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines()
            if line.count("│") >= 3 and line.split("│")[1].strip()}
    for name, value in defaults.items():
        assert json.dumps(value) in rows[name], (name, rows[name])
    piped = CliRunner().invoke(app, ["space", "linreg"])  # not a terminal: one line each
    plain = {line.split()[0]: line for line in piped.output.splitlines()}
    assert list(plain) == list(make_task("linreg").space)
    for name, value in defaults.items():
        assert plain[name].endswith(json.dumps(value)), plain[name]
    listed = json.loads(CliRunner().invoke(app, ["space", "linreg", "--format", "json"]).output)
    assert {r["parameter"]: r["default"] for r in listed} == defaults


def test_eval_and_space_load_a_plugin_file() -> None:
    result = CliRunner().invoke(app, ["space", "curve", "--plugin", str(PLUGIN)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["eval", "curve", "--plugin", str(PLUGIN), "-f", "2"])
    assert result.exit_code == 0, result.output
    assert _json(result.output)["fidelity"] == 2
