import math

import cma
import numpy as np

from tunebench import Capabilities, Runner
from tunebench.space import config_key


class PyCMA(Runner):
    name = "pycma"
    description = "CMA-ES from pycma over the unit cube of the space, one population at a time"
    capabilities = Capabilities(library="cma", family="evolutionary", notes="unit-cube encoding")

    def __init__(self, space, direction, seed, budget_info=None, sigma0: float = 0.3):
        super().__init__(space, direction, seed, budget_info)
        rng = np.random.default_rng(self.seed)  # pycma's own noise, not numpy's global state
        self.es = cma.CMAEvolutionStrategy([0.5] * len(space), sigma0, {
            "bounds": [0, 1], "seed": math.nan, "verbose": -9,
            "randn": lambda *shape: rng.standard_normal(shape)})
        self.queue, self.asked, self.told = [], {}, []

    def ask(self):
        if not self.queue:
            self.queue = list(self.es.ask())[::-1]
        x = self.queue.pop()
        config = self.space.from_unit(dict(zip(self.space, x, strict=True)))
        self.asked[config_key(config)] = x
        return config

    def tell(self, config, outcome):
        x = self.asked.pop(config_key(config), None)
        if x is None:  # not proposed here (a resumed study): place it in the unit cube
            x = [self.space[p].to_unit(config[p]) if p in config else 0.5 for p in self.space]
        self.told.append((x, self.direction.sign * outcome.value if outcome.ok else math.inf))
        if len(self.told) == self.es.popsize:
            worst = max([f for _, f in self.told if f < math.inf], default=0.0)
            self.es.tell([x for x, _ in self.told], [min(f, worst + 1) for _, f in self.told])
            self.told = []
