"""Reading suite files: TOML (or a dict) in, a validated :class:`~tunebench.suite.spec.SuiteSpec`
out, or one :class:`~tunebench.suite.spec.SuiteError` naming the file, the key and the fix.

Every value is checked against its type and its range before anything runs, and every task and
runner name and option against the registry (:func:`check_names`).
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from tunebench.devices import PRECISIONS
from tunebench.suite.budget import Budget, BudgetKind, amount_problem
from tunebench.suite.objectives import ObjectivesError, study_objectives
from tunebench.suite.seeding import MAX_SUITE_SEED, SEED_MODES, SeedPolicy
from tunebench.suite.spec import (
    DEVICES_HELP,
    ISOLATION_MODES,
    MAX_IN_FLIGHT,
    MAX_NESTING,
    MAX_REPETITIONS,
    MAX_SUITE_BYTES,
    MAX_THREADS,
    MAX_TRIAL_TIMEOUT,
    MEMORY_LIMIT_MB,
    SIMULATED_TIMES,
    RunnerSpec,
    Settings,
    SuiteError,
    SuiteSpec,
    TaskSpec,
    check_study_count,
)

# ----------------------------------------------------------------------------- parsing

_SECTIONS = {"suite", "budget", "settings", "tasks", "runners"}
_SUITE_KEYS = {"name", "description", "seed", "repetitions", "plugins", "seeds", "exclude"}
_SEEDS_KEYS = {"evaluation", "runner"}
_BUDGET_KEYS = {"trials", "epochs", "device_seconds", "charge_optimizer"}
_SETTINGS_KEYS = {"device", "threads", "precision", "trial_timeout", "gpus_per_study",
                  "isolation", "memory_limit_mb", "in_flight",
                  "simulated_time"}
_TASK_KEYS = {"name", "label", "options", "budget", "smoke", "repetitions", "objectives",
              "references"}
_RUNNER_KEYS = {"name", "label", "options"}


class _Reader:
    """Typed access to one TOML table, raising SuiteError with the key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key: str, message: str) -> SuiteError:
        return SuiteError(message, self.source, key)

    def check_keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise self.error(
                    f"{where}.{key}" if where else key,
                    f"unknown key{hint} (allowed here: {', '.join(sorted(allowed))})",
                )

    def table(self, data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.error(f"{where}{key}", f"must be a table, got {type(value).__name__}")
        return dict(value)

    def integer(self, table: Mapping[str, Any], key: str, where: str, default: int | None,
                minimum: int, maximum: int) -> int:
        value = table.get(key, default)
        allowed = f"allowed: {minimum} to {maximum}"
        if value is None:
            raise self.error(f"{where}.{key}", f"is required (an integer; {allowed})")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{where}.{key}", f"must be an integer ({allowed}), got {value!r}")
        if value < minimum:
            raise self.error(f"{where}.{key}", f"must be at least {minimum} ({allowed}), got {value}")
        if value > maximum:
            raise self.error(f"{where}.{key}", f"must be at most {maximum} ({allowed}), got {value}")
        return value

    def string(self, table: Mapping[str, Any], key: str, where: str,
               default: str | None = None) -> str:
        value = table.get(key, default)
        if value is None:
            raise self.error(f"{where}.{key}", "is required (a string)")
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"{where}.{key}", f"must be a non-empty string, got {value!r}")
        return value


def _parse_budget(reader: _Reader, table: Mapping[str, Any], where: str) -> Budget:
    reader.check_keys(table, _BUDGET_KEYS, where)
    kinds = [k for k in ("trials", "epochs", "device_seconds") if k in table]
    if len(kinds) != 1:
        found = f"found {', '.join(kinds)}" if kinds else "found none"
        raise reader.error(where, "give exactly one of trials, epochs or device_seconds "
                                  f"({found}), e.g. `trials = 50`")
    kind = kinds[0]
    amount = table[kind]
    problem = amount_problem(kind, amount)
    if problem:
        raise reader.error(f"{where}.{kind}", problem)
    charge = table.get("charge_optimizer", False)
    if not isinstance(charge, bool):
        raise reader.error(f"{where}.charge_optimizer", f"must be true or false, got {charge!r}")
    if charge and kind != "device_seconds":
        raise reader.error(f"{where}.charge_optimizer", "only a device_seconds budget can charge "
                                                        "optimiser time; remove it or use "
                                                        "device_seconds")
    return Budget(BudgetKind(kind), int(amount) if kind != "device_seconds" else float(amount),
                  charge)


def _parse_seeds(reader: _Reader, table: Any) -> SeedPolicy:
    """``seeds = { evaluation = "fixed", runner = "per-repetition" }``: which seed repetitions vary."""
    example = 'e.g. seeds = { evaluation = "fixed", runner = "per-repetition" }'
    if not isinstance(table, Mapping):
        raise reader.error("suite.seeds", f"must be a table, {example}")
    reader.check_keys(table, _SEEDS_KEYS, "suite.seeds")
    for role, mode in table.items():
        if mode not in SEED_MODES:
            raise reader.error(f"suite.seeds.{role}", f"must be one of "
                               f"{', '.join(repr(m) for m in SEED_MODES)}, got {mode!r}; "
                               "'fixed' uses repetition 0's seed in every repetition")
    return SeedPolicy(**table)


def _parse_settings(reader: _Reader, table: Mapping[str, Any]) -> Settings:
    reader.check_keys(table, _SETTINGS_KEYS, "settings")
    device = reader.string(table, "device", "settings", "auto")
    base = device.split(":")[0]
    if base not in ("auto", "cpu", "cuda", "mps") or (
        ":" in device and not (base == "cuda" and device.split(":", 1)[1].isdigit())
    ):
        raise reader.error("settings.device", f"must be one of {DEVICES_HELP}, got {device!r}")
    threads = reader.integer(table, "threads", "settings", 1, 1, MAX_THREADS)
    precision = reader.string(table, "precision", "settings", "auto")
    if precision not in PRECISIONS:
        raise reader.error("settings.precision",
                           f"must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    timeout = table.get("trial_timeout")
    # Compared, never converted first: nan, inf and 10**400 all fall outside the range.
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout <= MAX_TRIAL_TIMEOUT):
        raise reader.error("settings.trial_timeout",
                           f"must be a positive number of seconds (allowed: above 0, at most "
                           f"{MAX_TRIAL_TIMEOUT:.0f}, 366 days), got {timeout!r}")
    gpus = table.get("gpus_per_study")
    if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, (int, float))
                             or not 0 <= gpus <= 8):
        raise reader.error("settings.gpus_per_study",
                           f"must be a number of GPUs between 0 and 8 (0.5 shares one), got {gpus!r}")
    isolation = table.get("isolation")
    if isolation is not None and isolation not in ISOLATION_MODES:
        raise reader.error("settings.isolation",
                           f"must be one of {', '.join(repr(m) for m in ISOLATION_MODES)}, got "
                           f"{isolation!r}; 'process' runs each evaluation in a child process (a "
                           "crash fails the trial only), 'none' in the study's own")
    memory = None
    if "memory_limit_mb" in table:
        low, high = MEMORY_LIMIT_MB
        memory = reader.integer(table, "memory_limit_mb", "settings", None, low, high)
        if isolation == "none":
            raise reader.error("settings.memory_limit_mb",
                               "needs isolation = \"process\" (a limit applies to the child "
                               "process an evaluation runs in); remove one of the two")
    in_flight = reader.integer(table, "in_flight", "settings", 1, 1, MAX_IN_FLIGHT)
    simulated = table.get("simulated_time", "steps")
    if simulated not in SIMULATED_TIMES:
        raise reader.error("settings.simulated_time",
                           f"must be one of {', '.join(repr(m) for m in SIMULATED_TIMES)}, got "
                           f"{simulated!r}; 'steps' counts each trained step as one unit of time, "
                           "'recorded' the seconds a table task's evaluations took when recorded")
    return Settings(device, threads, precision, float(timeout) if timeout is not None else None,
                    float(gpus) if gpus is not None else None, isolation, memory, in_flight,
                    simulated)


def _parse_entries(reader: _Reader, data: Mapping[str, Any], section: str,
                   allowed: set[str]) -> list[dict[str, Any]]:
    entries = data.get(section)
    example = {"tasks": 'name = "branin"', "runners": 'name = "random"'}[section]
    if entries is None or (isinstance(entries, list) and not entries):
        raise reader.error(section, f"the suite needs at least one entry: add\n  [[{section}]]\n"
                                    f"  {example}")
    if not isinstance(entries, list):
        raise reader.error(section, f"must be an array of tables ([[{section}]]), "
                                    f"got {type(entries).__name__}")
    parsed = []
    labels: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{section}[{i}]"
        if not isinstance(entry, Mapping):
            raise reader.error(where, f"must be a table, got {entry!r}")
        reader.check_keys(entry, allowed, where)
        name = reader.string(entry, "name", where)
        label = reader.string(entry, "label", where, name)
        if label in labels:
            raise reader.error(where, f"{section[:-1]} label {label!r} appears twice; give one "
                                      "of them a distinct `label = \"...\"`")
        labels.add(label)
        options = entry.get("options", {})
        if not isinstance(options, Mapping):
            raise reader.error(f"{where}.options", f"must be a table, got {options!r}")
        if section == "runners" and "seed" in options:
            from tunebench.registry import check_seed

            try:
                check_seed(options["seed"])
            except ValueError as exc:
                raise reader.error(f"{where}.options.seed", f"{exc} (the runner's own seed, "
                                   "recorded as its runner_seed; e.g. seed = 12)") from None
        item = {"name": name, "label": label, "options": dict(options)}
        if "smoke" in entry:
            if not isinstance(entry["smoke"], bool):
                raise reader.error(f"{where}.smoke", f"must be true or false, got {entry['smoke']!r}")
            item["smoke"] = entry["smoke"]
        if section == "tasks" and "objectives" in entry:
            item["objectives"] = _parse_objectives(reader, entry["objectives"],
                                                   f"{where}.objectives")
        if section == "tasks" and "references" in entry:
            item["references"] = _parse_references(reader, entry["references"],
                                                   f"{where}.references")
        if section == "tasks" and "repetitions" in entry:
            item["repetitions"] = reader.integer(entry, "repetitions", where, None, 1,
                                                 MAX_REPETITIONS)
        if "budget" in entry:
            if not isinstance(entry["budget"], Mapping):
                raise reader.error(f"{where}.budget", "must be a table, e.g. { trials = 20 }")
            item["budget"] = _parse_budget(reader, entry["budget"], f"{where}.budget")
        parsed.append(item)
    return parsed


def _parse_references(reader: _Reader, value: Any, where: str) -> dict[str, float]:
    """``references = { train_seconds = 300 }``: reference coordinates the suite fixes."""
    if (not isinstance(value, Mapping) or not value or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in value.values())):
        raise reader.error(where, "must be a table of objective names to finite numbers, e.g. "
                                  f"references = {{ train_seconds = 300 }}; got {value!r}")
    return {str(k): float(v) for k, v in value.items()}


def _parse_objectives(reader: _Reader, value: Any, where: str) -> tuple[str, ...]:
    """``objectives = ["f1", "f2"]`` or ``"all"``: the names a multi-objective study optimises."""
    if value == "all":
        return ("all",)
    if (not isinstance(value, list) or not value
            or not all(isinstance(name, str) and name for name in value)):
        raise reader.error(where, f"must be a list of the task's objective names or \"all\", "
                                  f"e.g. objectives = [\"f1\", \"f2\"]; got {value!r}")
    return tuple(value)


def parse_suite(data: Mapping[str, Any], source: str = "<suite>", base_dir: Path | None = None,
                source_text: str | None = None, check: bool = True) -> SuiteSpec:
    """Validate a suite given as a dict (as read from TOML) and resolve it."""
    reader = _Reader(source)
    check_nesting(data, source)
    reader.check_keys(data, _SECTIONS, "")
    suite = reader.table(data, "suite", "")
    if "suite" not in data:
        raise reader.error("suite", 'missing [suite] table: add\n  [suite]\n  name = "my-suite"')
    reader.check_keys(suite, _SUITE_KEYS, "suite")
    name = reader.string(suite, "name", "suite")
    description = suite.get("description", "")
    if not isinstance(description, str):
        raise reader.error("suite.description", "must be a string")
    seed = reader.integer(suite, "seed", "suite", 0, 0, MAX_SUITE_SEED)
    repetitions = reader.integer(suite, "repetitions", "suite", 1, 1, MAX_REPETITIONS)
    seeds = _parse_seeds(reader, suite.get("seeds", {}))
    plugins_raw = suite.get("plugins", [])
    if not isinstance(plugins_raw, list) or not all(isinstance(p, str) for p in plugins_raw):
        raise reader.error("suite.plugins", 'must be a list of file paths, e.g. ["my_tasks.py"]')
    base = base_dir or Path.cwd()
    plugins = []
    for p in plugins_raw:
        try:
            path = (base / p).expanduser().resolve()
        except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte
            raise reader.error("suite.plugins", f"plugin path {p!r} cannot be resolved: {exc}; "
                                                "give the path of a Python file") from None
        if not path.is_file():
            raise reader.error("suite.plugins", f"plugin file {p!r} not found (looked at {path})")
        plugins.append(str(path))
    if "budget" not in data:
        raise reader.error("budget", "missing [budget] table: add e.g.\n  [budget]\n  trials = 50")
    budget = _parse_budget(reader, reader.table(data, "budget", ""), "budget")
    settings = _parse_settings(reader, reader.table(data, "settings", ""))
    tasks = tuple(TaskSpec(**t) for t in _parse_entries(reader, data, "tasks", _TASK_KEYS))
    runners = tuple(RunnerSpec(**r) for r in _parse_entries(reader, data, "runners", _RUNNER_KEYS))
    exclude = _parse_exclude(reader, suite.get("exclude", []), tasks, runners)
    spec = SuiteSpec(name=name, seed=seed, repetitions=repetitions, budget=budget, tasks=tasks,
                     runners=runners, settings=settings, plugins=tuple(plugins),
                     description=description, source=source, source_text=source_text,
                     seeds=seeds, exclude=exclude)
    check_study_count(spec, "suite.repetitions")
    if check:
        check_names(spec)
    return spec


def _parse_exclude(reader: _Reader, raw: Any, tasks: tuple[TaskSpec, ...],
                   runners: tuple[RunnerSpec, ...]) -> tuple[tuple[str, str], ...]:
    """``exclude = [{ task = "…", runner = "…" }, …]``: pairs of labels that exist."""
    example = 'exclude = [{ task = "mnist_cnn", runner = "optuna.gp" }]'
    if not isinstance(raw, list):
        raise reader.error("suite.exclude", f"must be a list of tables, e.g. {example}")
    task_labels, runner_labels = {t.label for t in tasks}, {r.label for r in runners}
    pairs = []
    for i, item in enumerate(raw):
        where = f"suite.exclude[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"task", "runner"}:
            raise reader.error(where, f"must name a task and a runner label, e.g. {example}")
        task, runner = item["task"], item["runner"]
        for value, labels, what in ((task, task_labels, "task"), (runner, runner_labels, "runner")):
            if value not in labels:
                raise reader.error(f"{where}.{what}", f"{value!r} is not a {what} label of this "
                                   f"suite; its {what}s are {', '.join(sorted(labels))}")
        pairs.append((task, runner))
    return tuple(pairs)


def check_nesting(data: Any, source: str, limit: int = MAX_NESTING) -> None:
    """Refuse tables and arrays nested deeper than ``limit``, naming where: checked with an explicit
    stack, so a 100,000-deep value is an error here, not a RecursionError in whatever reads it."""
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, Mapping):
            children = [(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            children = [(v, f"{where}[{i}]") for i, v in enumerate(value)]
        else:
            continue
        if depth > limit:
            raise SuiteError(f"tables and arrays nest more than {limit} deep here (allowed: at "
                             f"most {limit} levels); flatten the value", source, where or None)
        stack.extend((child, path, depth + 1) for child, path in children)


def check_names(spec: SuiteSpec) -> None:
    """Resolve every task and runner name and option against the registry, before any trial runs.

    Builds each task and, for each task, each runner once, so a bad option value or an unsupported
    (task, runner) pair is reported now rather than hours into a run.
    """
    from tunebench.registry import (
        RegistryError,
        get_runner_class,
        load_plugin_file,
        make_runner,
        make_task,
    )

    source = spec.source or "<suite>"
    for plugin in spec.plugins:
        try:
            load_plugin_file(plugin)
        except RegistryError as exc:
            raise SuiteError(str(exc), source, "suite.plugins") from None
    for i, task_spec in enumerate(spec.tasks):
        try:
            task = make_task(task_spec.name, task_spec.options)
        except RegistryError as exc:
            raise SuiteError(str(exc), source, f"tasks[{i}]") from None
        except Exception as exc:  # a task's own constructor crashed: its options are still at fault
            raise SuiteError(f"task {task_spec.name!r} could not be built with options "
                             f"{dict(task_spec.options)}: {type(exc).__name__}: {exc}", source,
                             f"tasks[{i}]") from None
        try:
            objectives = study_objectives(task, task_spec.objectives, task_spec.references)
        except ObjectivesError as exc:
            raise SuiteError(str(exc), source, f"tasks[{i}].objectives") from None
        if spec.settings.simulated_time == "recorded" and not type(task).recorded_costs:
            raise SuiteError(f"settings.simulated_time = \"recorded\" needs tasks that answer "
                             f"with the seconds their evaluations took when recorded (a table "
                             f"task); task {task_spec.label!r} does not: remove it, or use "
                             f"simulated_time = \"steps\"", source, f"tasks[{i}]")
        for j, runner_spec in enumerate(spec.runners):
            if spec.excluded(task_spec.label, runner_spec.label):
                continue  # left out by declaration: it need not work
            try:
                runner_cls = get_runner_class(runner_spec.name)
                if task.space.is_conditional and not runner_cls.capabilities.conditional:
                    raise RegistryError(
                        f"runner {runner_spec.name!r} does not support conditional search "
                        f"spaces, and task {task_spec.label!r} has one; remove the pair"
                    )
                if objectives and not runner_cls.capabilities.multi_objective:
                    raise RegistryError(
                        f"runner {runner_spec.name!r} optimises one objective, and task "
                        f"{task_spec.label!r} asks for {len(objectives)} "
                        f"({', '.join(o.name for o in objectives)}); use a runner whose "
                        "`tunebench list runners` row shows multi-objective, or exclude the pair")
                budget = task_spec.budget or spec.budget
                problem = _in_flight_problem(spec.settings.in_flight, runner_spec.name,
                                             runner_cls, budget)
                if problem:
                    raise RegistryError(problem)
                make_runner(runner_spec.name, task.space, task.direction, 0,
                            budget.info_for(task, spec.settings.in_flight, objectives),
                            runner_spec.options)
            except RegistryError as exc:
                raise SuiteError(str(exc), source, f"runners[{j}]") from None
            except Exception as exc:  # a runner's own constructor crashed on these options
                raise SuiteError(f"runner {runner_spec.name!r} could not be built for task "
                                 f"{task_spec.label!r} with options {dict(runner_spec.options)}: "
                                 f"{type(exc).__name__}: {exc}", source, f"runners[{j}]") from None


def _in_flight_problem(in_flight: int, name: str, runner_cls: Any, budget: Budget) -> str | None:
    """Why this runner and budget cannot keep ``in_flight`` evaluations running (None: they
    can): that needs a runner that proposes before it hears back, and a budget whose charge is
    known when a trial starts."""
    if in_flight == 1:
        return None
    if not runner_cls.capabilities.batch:
        return (
            f"runner {name!r} cannot propose a configuration before it hears back from the last "
            f"one, so it cannot keep settings.in_flight = {in_flight} evaluations running; use "
            "a runner whose `tunebench list runners` row shows batch, or in_flight = 1")
    if budget.kind is BudgetKind.DEVICE_SECONDS:
        return (
            f"settings.in_flight = {in_flight} with a device-seconds budget: trials in flight "
            "are charged what they measure when they end, so the budget could not stop the "
            "last ones in time; use a trials or epochs budget, or in_flight = 1")
    return None


def shipped_suites() -> dict[str, Path]:
    """Suites shipped inside the package, by name (``tunebench run quick``)."""
    folder = resources.files("tunebench") / "suites"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir()
            if str(p).endswith(".toml")}


def resolve_suite_path(path_or_name: str | Path) -> Path:
    path = Path(path_or_name).expanduser()
    if path.is_file():
        return path
    shipped = shipped_suites()
    if str(path_or_name) in shipped:
        return shipped[str(path_or_name)]
    close = difflib.get_close_matches(str(path_or_name), list(shipped), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise SuiteError(
        f"no suite file at {str(path)!r} and no shipped suite of that name.{hint} "
        f"Shipped suites: {', '.join(sorted(shipped)) or 'none'}"
    )


def load_suite(path_or_name: str | Path | Mapping[str, Any], check: bool = True) -> SuiteSpec:
    """Read and validate a suite: a TOML path, a shipped suite's name, or a dict. ``check=False``
    leaves out what needs the tasks and runners built (their names and options)."""
    if isinstance(path_or_name, Mapping):
        return parse_suite(path_or_name, check=check)
    path = resolve_suite_path(path_or_name)
    try:
        if path.stat().st_size > MAX_SUITE_BYTES:
            raise SuiteError(f"the file holds {path.stat().st_size} bytes (allowed: at most "
                             f"{MAX_SUITE_BYTES}); is it a suite?", str(path))
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(f"cannot read the file: {exc.strerror}", str(path)) from None
    except UnicodeDecodeError as exc:
        raise SuiteError(f"not UTF-8 text (byte {exc.start}): save the suite as UTF-8",
                         str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"not valid TOML: {exc}", str(path)) from None
    except RecursionError:  # the parser recurses into nested arrays and inline tables
        raise SuiteError(f"tables and arrays nest too deep to read (allowed: at most {MAX_NESTING} "
                         "levels); flatten the value", str(path)) from None
    return parse_suite(data, source=str(path), base_dir=path.parent, source_text=text, check=check)


def suite_from_dict(data: Mapping[str, Any]) -> SuiteSpec:
    """Rebuild a suite from its stored resolved form (:meth:`SuiteSpec.to_dict`)."""
    toml_like: dict[str, Any] = {
        "suite": {"name": data["name"], "seed": data["seed"], "repetitions": data["repetitions"],
                  "seeds": dict(data.get("seeds") or {}),
                  "description": data.get("description", ""),
                  "plugins": list(data.get("plugins", [])),
                  **({"exclude": data["exclude"]} if data.get("exclude") else {})},
        "budget": _budget_table(data["budget"]),
        "settings": {k: v for k, v in data["settings"].items() if v is not None},
        "tasks": [{"name": t["name"], "label": t["label"], "options": t["options"],
                   "smoke": bool(t.get("smoke", False)),
                   **({"repetitions": t["repetitions"]} if t.get("repetitions") else {}),
                   **({"objectives": list(t["objectives"])} if t.get("objectives") else {}),
                   **({"references": dict(t["references"])} if t.get("references") else {}),
                   **({"budget": _budget_table(t["budget"])} if t.get("budget") else {})}
                  for t in data["tasks"]],
        "runners": data["runners"],
    }
    return parse_suite(toml_like, source="<stored suite>")


def _budget_table(budget: Mapping[str, Any]) -> dict[str, Any]:
    return {budget["kind"]: budget["amount"], "charge_optimizer": budget["charge_optimizer"]}
