"""`tunebench eval`: evaluate one configuration of a task by hand and print the result as JSON."""

from __future__ import annotations

import json
import time

import typer

from tunebench.cli.common import console, fail, parse_json, parse_options, user_errors


def evaluate(
    task: str = typer.Argument(..., help="Task name, e.g. branin or linreg."),
    config: str = typer.Option(None, "--config", "-c", help="Configuration as JSON; default: "
                               "the task's default configuration."),
    fidelity: int = typer.Option(None, "--fidelity", "-f", help="Epochs (default: maximum)."),
    seed: int = typer.Option(0, "--seed", "-s", help="Evaluation seed."),
    option: list[str] = typer.Option([], "--option", "-o", help="Task option KEY=VALUE (JSON "
                                     "value), repeatable, e.g. -o dim=4."),
) -> None:
    """Evaluate one configuration and print value, test value, curve and timing as JSON.

    Example: tunebench eval linreg -c '{"learning_rate": 0.01, ...}' -f 20
    """
    from tunebench.devices import resolve_device
    from tunebench.registry import make_task
    from tunebench.tasks.base import EvalContext

    with user_errors():
        the_task = make_task(task, parse_options(option))
        if config is None:
            cfg = the_task.default_config()
        else:
            try:
                cfg = parse_json(config, "--config")
            except json.JSONDecodeError as exc:
                fail(f"--config is not valid JSON: {exc}")
            if not isinstance(cfg, dict):
                fail(f"--config must be a JSON object such as '{{\"x1\": 0.5}}', "
                     f"got {type(cfg).__name__} {config[:40]!r}")
        cfg = the_task.space.validate(cfg)
        steps = fidelity or the_task.max_fidelity
        if not 1 <= steps <= the_task.max_fidelity:
            fail(f"--fidelity must be between 1 and {the_task.max_fidelity}, got {steps}")
        context = EvalContext(device=resolve_device("auto", the_task.uses_torch))
        started = time.perf_counter()
        result = the_task.evaluate(cfg, steps, seed, context)
        seconds = time.perf_counter() - started
    console.print_json(json.dumps({
        "task": task, "config": cfg, "fidelity": steps, "seed": seed,
        "metric": the_task.metric, "direction": str(the_task.direction),
        "value": result.value, "test_value": result.test_value,
        "fidelity_spent": result.fidelity_spent, "curve": list(result.curve or context.curve),
        "optimum": the_task.optimum, "seconds": round(seconds, 4), "extra": result.extra,
        # a table's answer: what the run cost when it was recorded (a device-seconds budget's charge)
        **({} if result.cost_seconds is None else {"cost_seconds": result.cost_seconds}),
    }, default=str))


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)
