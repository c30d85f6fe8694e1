"""The BBOB suite (COCO's 24 noiseless functions, Hansen et al. 2009) as tasks: ``bbob/f<k>``.

Each function is evaluated by ``ioh`` (IOHprofiler's C++ implementation, pinned), on the box
[−5, 5]^d with parameters ``x1 .. xd``; ``instance`` picks COCO's transformation (shift, rotation,
f_opt) and ``dim`` the dimension. ``optimum`` is the instance's exact f_opt, so a regret is COCO's
precision Δf = f − f_opt. The values agree with COCO's own C code (``cocoex``) to 1e-9 relative,
f_opt included (``tests/test_bbob.py``; f19 differs in the 13th digit: the order of operations).

Cite: N. Hansen, S. Finck, R. Ros, A. Auger, *Real-Parameter Black-Box Optimization
Benchmarking 2009: Noiseless Functions Definitions*, INRIA RR-6829; ioh: J. de Nobel et al.,
*IOHexperimenter*, ACM TELO 2024 (BSD licence).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import numpy as np

from tunebench.space import Config, Float, Space
from tunebench.tasks.base import Direction, EvalContext, Result, Task, TaskError

#: BBOB's 24 noiseless functions, in COCO's order (groups: separable 1–5, low or moderate
#: conditioning 6–9, high conditioning 10–14, multi-modal with global structure 15–19, with weak
#: global structure 20–24).
FUNCTIONS = (
    "Sphere", "Ellipsoid separable", "Rastrigin separable", "Büche-Rastrigin", "Linear slope",
    "Attractive sector", "Step ellipsoid", "Rosenbrock", "Rosenbrock rotated", "Ellipsoid",
    "Discus", "Bent cigar", "Sharp ridge", "Different powers", "Rastrigin", "Weierstrass",
    "Schaffer F7", "Schaffer F7 ill-conditioned", "Griewank-Rosenbrock", "Schwefel",
    "Gallagher 101 peaks", "Gallagher 21 peaks", "Katsuura", "Lunacek bi-Rastrigin",
)
MAX_DIM = 100
MAX_INSTANCE = 10_000


def _whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise TaskError(f"bbob: {name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def function_number(value: Any) -> int:
    """``7``, ``"7"`` or ``"f7"`` → 7 (checked against 1..24)."""
    text = str(value)
    digits = text[1:] if text[:1] in ("f", "F") else text
    if isinstance(value, bool) or not digits.isdigit():
        raise TaskError(f"bbob: function must be f1 .. f24 (or 1 .. 24), got {value!r}")
    return _whole("function", int(digits), 1, len(FUNCTIONS))


class BBOBFunction(Task):
    name = "bbob"
    isolation = "none"  # microseconds of C++ per evaluation: a child process would cost more
    description = "COCO's BBOB noiseless functions f1–f24 (via ioh): bbob/f<k>, options dim, instance"
    metric = "f"
    direction = Direction.MINIMIZE
    #: ``bbob/f7`` names this task with ``function = "f7"`` (see tunebench.registry).
    family_option: ClassVar[str] = "function"
    family_members: ClassVar[tuple[str, ...]] = tuple(f"f{k}" for k in range(1, 25))
    citation: ClassVar[str] = ("Hansen, Finck, Ros & Auger, Real-Parameter Black-Box Optimization "
                               "Benchmarking 2009: Noiseless Functions Definitions, INRIA RR-6829; "
                               "evaluated by ioh (de Nobel et al., IOHexperimenter, ACM TELO 2024)")
    licence: ClassVar[str] = "BSD-3-Clause (ioh)"

    def __init__(self, function: int | str = 1, dim: int = 2, instance: int = 1) -> None:
        self.function = function_number(function)
        self.dim = _whole("dim", dim, 2, MAX_DIM)
        self.instance = _whole("instance", instance, 1, MAX_INSTANCE)
        self._names = tuple(f"x{i + 1}" for i in range(self.dim))
        self._space = Space({n: Float(-5.0, 5.0) for n in self._names})

    def __repr__(self) -> str:
        return f"BBOBFunction(function={self.function}, dim={self.dim}, instance={self.instance})"

    @functools.cached_property
    def problem(self) -> Any:
        try:
            import ioh
        except ImportError:
            raise TaskError("bbob tasks need ioh 0.4.2: pip install 'tunebench[benchmarks]' "
                            "(make install does)") from None
        return ioh.get_problem(self.function, instance=self.instance, dimension=self.dim,
                               problem_class=ioh.ProblemClass.BBOB)

    @property
    def label(self) -> str:
        return f"f{self.function} {FUNCTIONS[self.function - 1]}"

    @property
    def space(self) -> Space:
        return self._space

    @property
    def optimum(self) -> float:
        return float(self.problem.optimum.y)

    @property
    def minimizers(self) -> list[Config]:
        """The instance's optimum x_opt (for f5, the linear slope, the corner it points to)."""
        return [dict(zip(self._names, map(float, self.problem.optimum.x), strict=True))]

    def __call__(self, config: Config) -> float:
        return float(self.problem(np.array([config[n] for n in self._names], dtype=float)))

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        value = self(config)
        return Result(value=value, test_value=value, fidelity_spent=1)


class MABBOB(BBOBFunction):
    """MA-BBOB (Vermetten et al. 2023): an affine combination of BBOB functions, one per instance
    number, with its own shift x_opt — many landscapes between BBOB's 24 (``instance`` picks it;
    ioh's ``ManyAffine``). ``optimum`` is ioh's f(x_opt), 0 up to rounding."""

    name = "ma_bbob"
    description = ("MA-BBOB: affine combinations of the BBOB functions (via ioh): ma_bbob, "
                   "options dim, instance")
    family_option: ClassVar[str | None] = None
    family_members: ClassVar[tuple[str, ...]] = ()
    citation: ClassVar[str] = ("D. Vermetten, F. Ye, T. Bäck, C. Doerr, MA-BBOB: Many-Affine "
                               "Combinations of BBOB Functions for Evaluating AutoML Approaches "
                               "in Noiseless Numerical Black-Box Optimization Contexts, AutoML "
                               "2023; evaluated by ioh")

    def __init__(self, dim: int = 2, instance: int = 1) -> None:
        super().__init__(1, dim, instance)

    def __repr__(self) -> str:
        return f"MABBOB(dim={self.dim}, instance={self.instance})"

    @functools.cached_property
    def problem(self) -> Any:
        try:
            import ioh
        except ImportError:
            raise TaskError("ma_bbob needs ioh 0.4.2: pip install 'tunebench[benchmarks]' "
                            "(make install does)") from None
        return ioh.problem.ManyAffine(instance=self.instance, n_variables=self.dim)

    @property
    def label(self) -> str:
        return f"MA-BBOB instance {self.instance}"
