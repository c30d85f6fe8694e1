"""The multi-fidelity Hartmann functions of ``mf-prior-bench`` (mfpbench 1.10.0) as tasks:
``mfh3/<correlation>`` and ``mfh6/<correlation>``.

Each is Hartmann-3 or -6 on [0, 1]^d over fidelities 1..100, with a bias that flattens the
function and a noise that shrinks (in log fidelity) to nothing at the last step, so the top
fidelity is the true Hartmann function. The correlation level — ``good``, ``moderate``, ``bad``,
``terrible`` — sets how far low fidelities mislead (mfpbench's bias/noise pairs, from
(0.5, 0.1) to (4.0, 5.0)): the benchmark PriorBand and NePS test multi-fidelity optimisers on.
Values are mfpbench's own, queried step by step (each step reported, so pruners and
runner-chosen fidelities act); the evaluation seed is the benchmark's seed, which sets its
noise. ``optimum`` is Hartmann's exact global minimum, reached at the top fidelity only.

Cite: Mallik, Bergman, Hvarfner, Stoll, Janowski, Lindauer, Nardi & Hutter, *PriorBand:
Practical Hyperparameter Optimization in the Age of Deep Learning*, NeurIPS 2023; mf-prior-bench
by E. Bergman (BSD-3-Clause). Installed by ``make install`` with ``--no-deps`` (it pins numpy<2,
but runs on numpy 2: its functions use numpy only).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from tunebench.space import Config, Float, Space
from tunebench.tasks.base import Direction, EvalContext, Result, Task, TaskError
from tunebench.tasks.synthetic import Hartmann3, Hartmann6

CORRELATIONS = ("good", "moderate", "bad", "terrible")


class MFHartmann(Task):
    """mfpbench's multi-fidelity Hartmann at one correlation level (see the module doc)."""

    dim: ClassVar[int]
    family: ClassVar[str]
    isolation = "none"  # microseconds of numpy per step
    metric = "f"
    direction = Direction.MINIMIZE
    min_fidelity = 1
    max_fidelity = 100
    fidelity_unit = "step"
    family_option: ClassVar[str] = "correlation"
    family_members: ClassVar[tuple[str, ...]] = CORRELATIONS
    citation: ClassVar[str] = ("Mallik et al., PriorBand: Practical Hyperparameter Optimization "
                               "in the Age of Deep Learning, NeurIPS 2023; mf-prior-bench 1.10.0")
    licence: ClassVar[str] = "BSD-3-Clause (mf-prior-bench)"

    def __init__(self, correlation: str = "good") -> None:
        if correlation not in CORRELATIONS:
            raise TaskError(f"{self.family}: correlation must be one of {', '.join(CORRELATIONS)}, "
                            f"got {correlation!r}")
        self.correlation = correlation
        self._space = Space({f"X_{i}": Float(0.0, 1.0) for i in range(self.dim)})

    @property
    def space(self) -> Space:
        return self._space

    @property
    def optimum(self) -> float:
        return (Hartmann3 if self.dim == 3 else Hartmann6)().optimum

    def benchmark(self, seed: int) -> Any:
        return _benchmark(f"{self.family}_{self.correlation}", seed)

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        bench = self.benchmark(seed)

        def at(step: int) -> float:  # mfpbench answers a Metric.Value holding the number
            return float(bench.query(dict(config), at=step).value.value)

        value = float("nan")
        for step in range(context.start + 1, fidelity + 1):
            value = at(step)
            context.report(step, value)
        # The top fidelity is the true function: the held-out value a runner never sees.
        return Result(value=value, test_value=at(self.max_fidelity) if fidelity < 100 else value)


@functools.cache
def _benchmark(name: str, seed: int) -> Any:
    try:
        import mfpbench
    except ImportError:
        raise TaskError(f"{name.split('_')[0]} tasks need mf-prior-bench 1.10.0: pip install "
                        "--no-deps mf-prior-bench==1.10.0 (make install does)") from None
    return mfpbench.get(name, seed=seed)


class MFHartmann3(MFHartmann):
    name = "mfh3"
    family = "mfh3"
    dim = 3
    description = ("mf-prior-bench's multi-fidelity Hartmann-3 (100 steps): mfh3/good, moderate, "
                   "bad, terrible fidelity correlation")


class MFHartmann6(MFHartmann):
    name = "mfh6"
    family = "mfh6"
    dim = 6
    description = ("mf-prior-bench's multi-fidelity Hartmann-6 (100 steps): mfh6/good, moderate, "
                   "bad, terrible fidelity correlation")
