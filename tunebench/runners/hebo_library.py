"""HEBO's modules, imported without HEBO's process-wide side effect.

``hebo.optimizers.hebo`` sets torch to one thread when it is imported (``torch.set_num_threads``),
which would slow every torch task in the process. This module imports HEBO, remembers the count it
set (:data:`HEBO_THREADS`, what the runner runs HEBO's calls with) and restores the process's own.
"""

from __future__ import annotations

import torch

_threads = torch.get_num_threads()
from hebo.acq_optimizers import evolution_optimizer  # noqa: E402 - the import sets the threads
from hebo.design_space.design_space import DesignSpace  # noqa: E402
from hebo.models.model_factory import model_names  # noqa: E402
from hebo.optimizers.hebo import HEBO  # noqa: E402

HEBO_THREADS = torch.get_num_threads()
torch.set_num_threads(_threads)

__all__ = ["HEBO", "HEBO_THREADS", "DesignSpace", "evolution_optimizer", "model_names"]
