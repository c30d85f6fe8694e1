"""Space-filling designs over a task's space: which configurations a table holds.

A Sobol point has one coordinate in [0, 1) per parameter of the space, in the space's (parents
first) order; :meth:`~tunebench.space.Space.from_unit` maps it into the space exactly as random
search maps its uniform draws: log-uniform for log parameters, equal mass per integer, equal mass
per categorical choice, and a conditional parameter's coordinate ignored where it is inactive. So
the design covers the space as uniformly as random search would, with less clumping.

The sequence is scipy's Sobol, scrambled (Owen scrambling with a digital shift) from a fixed
``design_seed``: the same seed gives the same design on every machine. The first ``n`` points are
taken; a power of two keeps Sobol's balance properties (scipy warns otherwise; the warning is
silenced here because any ``n`` is allowed, and said so in the table's metadata). Points that map
to a configuration already in the design (integers and categoricals can collide) are dropped,
keeping the first, so a table never holds the same configuration twice.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from tunebench.space import Config, Space, config_key

#: The designs ``tunebench tabulate --design`` knows.
DESIGNS = ("sobol",)
#: The most configurations one table may hold (a typo guard: 2**20 rows per seed and step).
MAX_POINTS = 1 << 20


@dataclass(frozen=True)
class Design:
    """A design's recipe and the distinct configurations it produced, in design order."""

    kind: str
    n: int
    design_seed: int
    configs: tuple[Config, ...]

    def to_dict(self) -> dict[str, Any]:
        """The recipe as recorded in a table's metadata (enough to rebuild the design)."""
        return {"kind": self.kind, "n": self.n, "design_seed": self.design_seed,
                "scramble": True, "distinct": len(self.configs),
                "power_of_two": self.n & (self.n - 1) == 0}


def sobol_design(space: Space, n: int, design_seed: int = 0) -> Design:
    """The first ``n`` points of a scrambled Sobol sequence, mapped into ``space``."""
    from scipy.stats import qmc

    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_POINTS:
        raise ValueError(f"--n must be an integer from 1 to {MAX_POINTS}, got {n!r}")
    if isinstance(design_seed, bool) or not isinstance(design_seed, int) or design_seed < 0:
        raise ValueError(f"the design seed must be a non-negative integer, got {design_seed!r}")
    names = list(space)
    sampler = qmc.Sobol(d=len(names), scramble=True, seed=design_seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*balance properties.*")
        points = sampler.random(n)
    configs: list[Config] = []
    seen: set[str] = set()
    for row in points:
        config = space.validate(space.from_unit(dict(zip(names, map(float, row), strict=True))))
        key = config_key(config)
        if key not in seen:
            seen.add(key)
            configs.append(config)
    return Design("sobol", n, design_seed, tuple(configs))


def make_design(kind: str, space: Space, n: int, design_seed: int = 0) -> Design:
    """The design ``kind`` (one of :data:`DESIGNS`) of ``n`` points over ``space``."""
    if kind != "sobol":
        raise ValueError(f"unknown design {kind!r}; known: {', '.join(DESIGNS)}")
    return sobol_design(space, n, design_seed)
