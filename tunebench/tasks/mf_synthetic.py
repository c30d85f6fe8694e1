"""Multi-fidelity Hartmann-6: a cheap task whose low fidelities are informative and that can
continue, for multi-fidelity methods (Successive Halving, Hyperband, BOHB, DEHB, ASHA).

The fidelity is a number of steps ``t`` of ``1 .. T`` (``max_steps``, 27 by default: four
Hyperband brackets at η = 3). At step t the function is the Hartmann-6 of the multi-fidelity
formulation of Kandasamy et al. (BOCA, ICML 2017): its weights are α(z) = α − δ(1 − z) with
z = t / T and δ = 0.1, so the last step is the standard Hartmann-6 (optimum −3.32237) and earlier
steps are correlated approximations of it. On top, like the bias-and-noise generators of
mf-prior-bench, each step adds noise of standard deviation ``noise · (1 − z)`` that shrinks to
nothing at the last step, drawn from a generator seeded by (evaluation seed, configuration) and
advanced once per step — the stand-in for a training run's randomness.

It can continue (``can_continue``): an evaluation saves the step it reached and its generator's
state, and one continuing from that checkpoint reports exactly what an evaluation run to the end
in one go reports. ``value`` is the last step's noisy value (what the optimiser sees);
``test_value`` is the noise-free Hartmann-6 at the point, so regrets are exact.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tunebench.space import Config, config_key
from tunebench.tasks.base import EvalContext, Result, TaskError
from tunebench.tasks.synthetic import _HARTMANN_ALPHA, Hartmann6

#: BOCA's fidelity shift of the Hartmann weights: α(z) = α − δ(1 − z).
DELTA = 0.1


class MultiFidelityHartmann6(Hartmann6):
    name = "mf_hartmann6"
    description = "Hartmann 6-d over T steps (BOCA's fidelity weights, shrinking noise); continues"
    min_fidelity = 1
    max_fidelity = 27  # the default; set per instance by ``max_steps``
    fidelity_unit = "step"
    can_continue = True

    def __init__(self, max_steps: int = 27, noise: float = 0.1) -> None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) \
                or not 1 <= max_steps <= 10_000:
            raise TaskError(f"{self.name}: max_steps must be a whole number from 1 "
                            f"to 10000, got {max_steps!r}")
        super().__init__(noise=noise)
        self.max_fidelity = max_steps  # type: ignore[misc]  # per instance, from the option

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_steps={self.max_fidelity}, noise={self.noise})"

    def at_step(self, x: np.ndarray, step: int) -> float:
        """The noise-free function of step ``step`` (the standard Hartmann-6 at the last)."""
        z = step / self.max_fidelity
        inner = np.sum(self.A * (x[..., None, :] - self.P) ** 2, axis=-1)
        return float(-(np.exp(-inner) @ (_HARTMANN_ALPHA - DELTA * (1 - z))))

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        x = self.to_array(config)
        start = context.start
        rng = np.random.default_rng([seed % 2**64, int(config_key(config)[:16], 16)])
        if start:
            checkpoint: dict[str, Any] = context.checkpoint
            if not isinstance(checkpoint, dict) or checkpoint.get("step") != start:
                raise TaskError(f"{self.name}: asked to continue from step {start} with the "
                                f"checkpoint {checkpoint!r:.80}")
            rng.bit_generator.state = checkpoint["rng"]
        value = math.nan
        for step in range(start + 1, fidelity + 1):
            scale = self.noise * (1 - step / self.max_fidelity)
            draw = float(rng.normal())  # drawn at every step, so continuing changes nothing
            value = self.at_step(x, step) + scale * draw
            context.report(step, value)
        context.save_checkpoint({"step": fidelity, "rng": rng.bit_generator.state})
        return Result(value=value, test_value=float(self.function(x)), fidelity_spent=fidelity)
