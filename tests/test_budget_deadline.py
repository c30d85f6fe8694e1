"""A device-seconds budget is never overshot, whatever the trials cost (a hypothesis property).

Trials run on the fake clock of ``charge_plugin`` with step durations hypothesis draws, a pruner
that takes time (charged or not), uncharged work around each evaluation, and a runner that prunes
or does not. Each study is checked against an independent model of the rule in
tunebench.suite.budget: every step reported while the charged time is within what remains
counts; the trial the budget runs out in is clipped and charged exactly what remained. Durations
are multiples of 1/8 s, so every sum is exact in floating point and the model is checked exactly.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tunebench.registry import import_plugin_module
from tunebench.suite.spec_parse import load_suite
from tunebench.suite.study import StudyLoop

PLUGIN = Path(__file__).parent / "charge_plugin.py"
STEPS = 4
DEFAULT_STEP = 0.75  # trials past the drawn durations: the study always ends

eighths = st.integers(0, 16).map(lambda n: n / 8)


class ListSink:
    def __init__(self) -> None:
        self.records: list = []

    def study_started(self, key, info) -> None:
        pass

    def trial_finished(self, key, record) -> None:
        self.records.append(record)


def model(amount: float, durations: list[list[float]], prune_seconds: float, charge_optimizer: bool,
          prune_at: int) -> list[tuple[str, int, float, bool]]:
    """(status, steps counted, charge, clipped) of every trial, from the rule alone."""
    out: list[tuple[str, int, float, bool]] = []
    spent, i = 0.0, 0
    while spent < amount - 1e-9:
        drawn = durations[i] if i < len(durations) else [DEFAULT_STEP]
        steps = [drawn[k % len(drawn)] for k in range(STEPS)]
        left = amount - spent
        pruner = prune_seconds if charge_optimizer else 0.0
        charged, status, counted, cost, clipped = 0.0, "ok", 0, 0.0, False
        for k in range(1, STEPS + 1):
            charged += steps[k - 1]
            if charged > left:  # reported after the deadline: clipped here
                clipped = True
                break
            counted = k
            charged += pruner  # the pruner decides after every step reported
            if prune_at and k >= prune_at:
                status = "pruned"
                break
        if not clipped and status == "ok" and charged > left:
            clipped = True  # the result came after the deadline
        if clipped:
            status, cost = "pruned", left  # stopped by the harness, never a failure
        else:
            cost = min(charged, left)
        out.append((status, counted, cost, clipped))
        spent += cost
        i += 1
    return out


@settings(max_examples=80, deadline=None)
@given(
    amount=st.integers(1, 120).map(lambda n: n / 8),
    durations=st.lists(st.lists(eighths, min_size=1, max_size=STEPS), min_size=1, max_size=20),
    prune_seconds=st.sampled_from([0.0, 0.25, 1.0]),
    charge_optimizer=st.booleans(),
    prune_at=st.sampled_from([0, 2]),
    uncharged=st.sampled_from([0.0, 0.5]),
)
def test_a_device_seconds_study_never_spends_more_than_its_budget(
        amount, durations, prune_seconds, charge_optimizer, prune_at, uncharged) -> None:
    mod = import_plugin_module(PLUGIN)
    mod.reset()
    mod.DURATIONS.extend(list(d) for d in durations)
    spec = load_suite({
        "suite": {"name": "deadline", "plugins": [str(PLUGIN)]},
        "budget": {"device_seconds": amount, "charge_optimizer": charge_optimizer},
        "tasks": [{"name": "charge_steps", "options": {"step_seconds": DEFAULT_STEP,
                                                         "uncharged_seconds": uncharged}}],
        "runners": [{"name": "charge_pruner", "options": {"prune_seconds": prune_seconds,
                                                            "prune_at": prune_at}}],
    })
    sink = ListSink()
    loop = StudyLoop(spec.studies()[0], sink, clock=mod.clock)
    loop.run()
    records = sink.records
    charges = [r.charge for r in records]
    # The property: never more than the budget, and the budget is spent to the last digit.
    assert sum(charges) <= amount
    assert loop.spent == amount
    # Only the last trial can be clipped, and a clipped trial is charged what remained.
    clipped = [bool(r.extra.get("clipped")) for r in records]
    assert not any(clipped[:-1])
    if clipped[-1]:
        assert charges[-1] == amount - sum(charges[:-1])
    # Every trial is what the rule says, computed independently.
    seen = [(r.status.value, len(r.curve), r.charge, bool(r.extra.get("clipped"))) for r in records]
    assert seen == model(amount, durations, prune_seconds, charge_optimizer, prune_at)
