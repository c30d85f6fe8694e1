"""`tunebench eval`: evaluate one configuration of a task by hand and print the result as JSON."""

from __future__ import annotations

import json
import time
from typing import Any

import typer

from tunebench.cli.common import console, fail, parse_json, parse_options, user_errors


def evaluate(
    task: str = typer.Argument(..., help="Task name, e.g. branin or linreg."),
    config: str = typer.Option(None, "--config", "-c", help="Configuration as JSON, whole or in "
                               "part: what it leaves out is the task's default."),
    fidelity: int = typer.Option(None, "--fidelity", "-f", help="Epochs (default: maximum)."),
    seed: int = typer.Option(0, "--seed", "-s", help="Evaluation seed."),
    option: list[str] = typer.Option([], "--option", "-o", help="Task option KEY=VALUE (JSON "
                                     "value), repeatable, e.g. -o dim=4."),
    plugin: list[str] = typer.Option([], "--plugin", help="Load this plugin file first (for a "
                                     "task it defines); repeatable."),
) -> None:
    """Evaluate one configuration and print value, test value, curve and timing as JSON.

    Parameters the configuration leaves out take the task's defaults (`tunebench space TASK`
    shows them), and the output names them (`from_default`).

    Example: tunebench eval linreg -c '{"lr": 0.01}' -f 20
    """
    from tunebench.devices import resolve_device
    from tunebench.registry import load_plugin_file, make_task
    from tunebench.tasks.base import EvalContext

    with user_errors():
        for path in plugin:
            load_plugin_file(path)
        the_task = make_task(task, parse_options(option))
        given: dict = {}
        if config is not None:
            try:
                given = parse_json(config, "--config")
            except json.JSONDecodeError as exc:
                fail(f"--config is not valid JSON: {exc}")
            if not isinstance(given, dict):
                fail(f"--config must be a JSON object such as '{{\"x1\": 0.5}}', "
                     f"got {type(given).__name__} {config[:40]!r}")
        cfg, from_default = completed(the_task.space, given, task)
        cfg = the_task.space.validate(cfg)
        steps = fidelity or the_task.max_fidelity
        if not 1 <= steps <= the_task.max_fidelity:
            fail(f"--fidelity must be between 1 and {the_task.max_fidelity}, got {steps}")
        context = EvalContext(device=resolve_device("auto", the_task.uses_torch))
        started = time.perf_counter()
        try:
            result = the_task.evaluate(cfg, steps, seed, context)
        except Exception as exc:  # a failing evaluation is its result, told as one line
            fail(f"the evaluation failed after {len(context.curve)} reported step(s): "
                 f"{type(exc).__name__}: {exc}", code=1)
        seconds = time.perf_counter() - started
    console.print_json(json.dumps({
        "task": task, "config": cfg, "from_default": from_default, "fidelity": steps, "seed": seed,
        "metric": the_task.metric, "direction": str(the_task.direction),
        "value": result.value, "test_value": result.test_value,
        "fidelity_spent": result.fidelity_spent, "curve": list(result.curve or context.curve),
        "optimum": the_task.optimum, "seconds": round(seconds, 4), "extra": result.extra,
        # a table's answer: what the run cost when it was recorded (a device-seconds budget's charge)
        **({} if result.cost_seconds is None else {"cost_seconds": result.cost_seconds}),
        # a task with several objectives: each one's validation and test value, by name
        **({} if result.objectives is None else {"objectives": result.objectives}),
        **({} if result.test_objectives is None else {"test_objectives": result.test_objectives}),
    }, default=str))


def completed(space: Any, given: dict[str, Any], task: str) -> tuple[dict[str, Any], list[str]]:
    """``given`` with every active parameter it leaves out at the task's default (in the space's
    order, so a condition follows the values given), and the names so filled. Keys that are not
    parameters, or inactive under the values given, are one error naming all of them."""
    config: dict[str, Any] = {}
    from_default = []
    for name in space:
        if space.is_active(name, config):
            if name in given:
                config[name] = given[name]
            else:
                config[name] = space[name].default_value()
                from_default.append(name)
    unknown = sorted(k for k in given if k not in space)
    inactive = sorted(k for k in given if k in space and k not in config)
    if unknown or inactive:
        problems = ([f"not parameters of {task!r}: {', '.join(unknown)}"] if unknown else []) + (
            [f"inactive with the values given: {', '.join(inactive)}"] if inactive else [])
        fail(f"--config: {'; '.join(problems)}. Parameters: {', '.join(space)} (`tunebench "
             f"space {task}` shows them with their conditions and defaults)")
    return config, from_default


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)
