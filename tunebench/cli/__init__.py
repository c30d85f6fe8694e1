"""The command line: a thin face over the public Python API.

Each command group lives in its own module of this package and exposes ``register(app)``; this
module only assembles them, so adding a command never touches another command's code.
"""

from __future__ import annotations

import importlib
import importlib.util

import typer

app = typer.Typer(
    name="tunebench",
    help=(
        "Fair, reproducible benchmarks of hyperparameter optimisation libraries.\n\n"
        "Typical session:\n\n"
        "  tunebench list tasks              # what can be tuned\n\n"
        "  tunebench run quick --db r.db     # run the quick suite (resumes if interrupted)\n\n"
        "  tunebench show --db r.db          # summary table\n\n"
        "  tunebench report --db r.db -o out # the full comparative report"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)

#: Command modules, in the order their commands appear in --help.
COMMAND_MODULES = (
    "run", "listing", "show", "check", "evaluate", "space", "data", "report", "reproduce", "claims",
    "plugins", "tables", "distortion",
)

for _name in COMMAND_MODULES:
    _module_name = f"{__name__}.{_name}"
    if importlib.util.find_spec(_module_name) is not None:
        importlib.import_module(_module_name).register(app)


def main() -> None:
    app()
