"""`tunebench new claim NAME`: a ready-to-run claim manifest to edit into one's own.

The template states the commonest published form — mean ± sd of the final best value over n runs
— on a task and runner that ship with tunebench, so it runs as written (`tunebench claims
FILE`) and gives a verdict before anything is edited. Every key is explained in a comment.
"""

from __future__ import annotations

import re
from pathlib import Path

from tunebench.claims.spec import ClaimError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

TEMPLATE = '''\
# A claim: one published result, the setting it is measured in, and the numbers expected.
# Run it:   tunebench claims {file}
# Keep its runs and add repetitions later (only the new ones run):
#           tunebench claims {file} --store claim-runs --repetitions 200
[claim]
id = "{name}"
title = "Random search on Branin, 200 evaluations: mean best value 0.657 ± 0.257 (sd, n = 100)"
known_verdict = "replicated"   # the verdict tunebench reached when you added the claim (a
                               # regression check: `tunebench claims` exits 1 when it changes)
notes = "What differs from the source, if anything, and why."

[source]
kind = "paper"                 # paper | textbook | documentation | repository | website | derivation
citation = "Authors (year), Title, Venue"
url = "https://doi.org/..."
where = "Table 2, p. 7"        # section, table, figure or page the numbers come from
numbers_from = "Table 2, row 'random search', column 'Branin'"

[setting]                      # a suite, in suite-file form (`tunebench list tasks` / `list runners`)
suite = {{ name = "claim-{name}", seed = 0, repetitions = 100 }}
budget = {{ trials = 200 }}
tasks = [{{ name = "branin" }}]
runners = [{{ name = "random" }}]

[[expect]]
what = "mean best value after 200 evaluations"
measure = "runs"               # one number per repetition: the best trial's value
runner = "random"
# at_trial = 100               # anytime instead of final: the best among the first 100 trials
published = {{ mean = 0.657, sd = 0.257, n = 100 }}   # or {{ median = m, iqr = q, n = k }}
margin = 0.1                   # equivalence margin: a difference this small is the same result
# Other criteria: threshold = {{ below = 1.0, fraction = 0.8 }}  (a fraction ≥ p of runs below v)
#                 beats = "other_runner"                         (needs both runners in [setting])
#                 repetition = 0 with published = x and tolerance = t  (one seeded run, exact)
'''


def new_claim(name: str, directory: Path | None = None, force: bool = False) -> Path:
    """Write ``NAME.toml`` in ``directory`` (default: here); refuse to overwrite unless ``force``."""
    if not _NAME.match(name):
        raise ClaimError(f"claim name {name!r}: use letters, digits, '-', '_' or '.', starting with "
                         "a letter or digit (it becomes claim.id and the file name)")
    path = (directory or Path.cwd()) / f"{name}.toml"
    if path.exists() and not force:
        raise ClaimError(f"{path} exists; choose another name or pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEMPLATE.format(name=name, file=path.name), encoding="utf-8")
    return path
