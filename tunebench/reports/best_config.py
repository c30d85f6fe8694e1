"""The best configuration each runner found on each task: what a user copies into their own code.

Works on a trials frame as :func:`tunebench.suite.store.load_trials` returns it (``task``,
``runner``, ``repetition``, ``trial``, ``status``, ``value``, ``direction``, ``config`` and, where
present, ``test_value``), so ``tunebench show`` and the report name the same configuration.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ["repetition", "trial", "value", "test_value", "config"]


def best_configurations(trials: pd.DataFrame, keys: tuple[str, ...] = ("task", "runner")
                        ) -> pd.DataFrame:
    """Per ``keys`` (task, runner): the successful trial with the best validation value over all
    repetitions, as ``keys`` + :data:`COLUMNS`.

    Ties go to the earliest repetition and trial. A (task, runner) without any successful trial
    has no row.
    """
    keys = list(keys)
    ok = trials[(trials["status"].astype(str) == "ok")]
    ok = ok[pd.to_numeric(ok["value"], errors="coerce").notna()]
    if ok.empty:
        return pd.DataFrame(columns=keys + COLUMNS)
    sign = np.where(ok["direction"].astype(str).to_numpy() == "maximize", -1.0, 1.0)
    ranked = ok.assign(_loss=pd.to_numeric(ok["value"]).to_numpy(dtype=float) * sign)
    ranked = ranked.sort_values(["_loss", "repetition", "trial"], kind="stable")
    best = ranked.groupby(keys, sort=False).head(1)
    if "test_value" not in best:
        best = best.assign(test_value=np.nan)
    order = list(dict.fromkeys(trials["task"].astype(str)))
    best = best.assign(_t=best["task"].astype(str).map(order.index))
    best = best.sort_values(["_t", "runner"], kind="stable")
    return best[keys + COLUMNS].reset_index(drop=True)


def format_value(value: Any, digits: int = 4) -> str:
    """A hyperparameter value, short: floats to ``digits`` significant digits."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.{digits}g}"
    return str(value)


def format_config(config: Any, digits: int = 4) -> str:
    """``name=value, …`` in the config's own order (nested dicts flattened as ``a.b``)."""
    if not isinstance(config, dict):
        return str(config)
    parts = []
    for key, value in _flatten(config):
        parts.append(f"{key}={format_value(value, digits)}")
    return ", ".join(parts) if parts else "(no hyperparameters)"


def _flatten(config: dict, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out += _flatten(value, name + ".")
        else:
            out.append((name, value))
    return out
