"""The multi-objective indicators against independent computations.

pymoo 0.6.2's ``HV`` is a thin wrapper over ``moocore.hypervolume`` (the very call the module
makes), so it is no check here. The hypervolumes are checked instead against an exact cell count
on the grid the points' coordinates cut the reference box into (written below) and against
BoTorch's dimension-sweep ``Hypervolume`` (pure Python, Fonseca et al. 2006); dominance and
attainment against brute-force O(n²) checks written below.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunebench.reports.hypervolume import (
    anytime_hypervolume,
    as_losses,
    attainment_surfaces,
    hypervolume,
    hypervolume_regret,
    nondominated,
)
from tunebench.space import Direction

MIN, MAX = Direction.MINIMIZE, Direction.MAXIMIZE
REL = 1e-9


def to_min_form(points, reference, directions) -> tuple[np.ndarray, np.ndarray]:
    """The test's own flip into minimisation form (not the module's)."""
    flip = np.array([d == MAX for d in directions])
    points = np.asarray(points, dtype=float).reshape(-1, len(directions))
    return np.where(flip, -points, points), np.where(flip, -np.asarray(reference, float),
                                                     np.asarray(reference, float))


def in_box(loss: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return loss[np.isfinite(loss).all(axis=1) & (loss < ref).all(axis=1)]


def grid_hypervolume(points, reference, directions) -> float:
    """Exact hypervolume: cut the box at every coordinate, mark the cells whose lower corner a
    point weakly dominates (a cumulative OR along every axis from the cells holding a point), and
    sum the marked cells' volumes."""
    loss, ref = to_min_form(points, reference, directions)
    loss = in_box(loss, ref)
    if not len(loss):
        return 0.0
    cuts = [np.unique(np.append(loss[:, j], ref[j])) for j in range(len(ref))]
    covered = np.zeros([len(c) - 1 for c in cuts], dtype=bool)
    covered[tuple(np.searchsorted(c, loss[:, j]) for j, c in enumerate(cuts))] = True
    for axis in range(len(ref)):
        covered = np.logical_or.accumulate(covered, axis=axis)
    volume = covered.astype(float)
    for c in cuts:
        volume = np.tensordot(np.diff(c), volume, axes=([0], [0]))
    return float(volume)


def brute_nondominated(points, directions) -> np.ndarray:
    """Row i is kept iff it is finite, no finite row is at least as good everywhere and better
    somewhere, and no earlier finite row equals it."""
    loss, _ = to_min_form(points, np.zeros(len(directions)), directions)
    finite = np.isfinite(loss).all(axis=1)
    keep = np.zeros(len(loss), dtype=bool)
    for i in np.flatnonzero(finite):
        dominated = any(np.all(loss[j] <= loss[i]) and np.any(loss[j] < loss[i])
                        for j in np.flatnonzero(finite))
        repeated = any(np.array_equal(loss[j], loss[i]) for j in np.flatnonzero(finite) if j < i)
        keep[i] = not dominated and not repeated
    return keep


def botorch_hypervolume(points, reference, directions) -> float:
    """BoTorch's exact hypervolume (it maximises), given the non-dominated rows in the box."""
    torch = pytest.importorskip("torch")
    botorch_hv = pytest.importorskip("botorch.utils.multi_objective.hypervolume")
    loss, ref = to_min_form(points, reference, directions)
    loss = in_box(loss, ref)
    loss = loss[brute_nondominated(loss, [MIN] * len(ref))]
    hv = botorch_hv.Hypervolume(ref_point=torch.tensor(-ref, dtype=torch.float64))
    return float(hv.compute(torch.tensor(-loss, dtype=torch.float64).reshape(-1, len(ref))))


def random_problem(seed: int, n: int, m: int):
    """Points around a reference at 0.8 (min) / -0.8 (max): some beyond it, some tied."""
    rng = np.random.default_rng(seed)
    directions = [MIN if d else MAX for d in rng.integers(0, 2, m)]
    loss = rng.uniform(0.0, 1.0, (n, m))
    tied = rng.random((n, m)) < 0.3
    loss[tied] = np.round(loss[tied], 1)  # coordinates shared between rows
    repeated = np.arange(n // 2, n, 5)
    loss[repeated] = loss[repeated - n // 2]  # rows repeating earlier ones
    flip = np.array([d == MAX for d in directions])
    points = np.where(flip, -loss, loss)
    reference = np.where(flip, -0.8, 0.8)
    return points, reference, directions


@pytest.mark.parametrize("m, n", [(2, 40), (3, 30), (4, 18)])
@pytest.mark.parametrize("seed", range(4))
def test_hypervolume_agrees_with_a_grid_count_and_botorch(seed, m, n):
    points, reference, directions = random_problem(seed, n, m)
    loss, ref = to_min_form(points, reference, directions)
    beyond = ~(loss < ref).all(axis=1)
    assert beyond.any() and not beyond.all()
    value = hypervolume(points, reference, directions)
    assert value > 0
    assert value == pytest.approx(grid_hypervolume(points, reference, directions), rel=REL)
    assert value == pytest.approx(botorch_hypervolume(points, reference, directions), rel=REL)


def test_hypervolume_of_a_hand_worked_staircase():
    # f1 minimised, f2 maximised, reference (10, 0). (8, 3) is dominated by (6, 9); (11, 20) and
    # (5, -1) lie beyond the reference; (7, 0) sits on its boundary; the NaN row failed and the
    # infinite one is no result either.
    points = [[2, 5], [4, 7], [6, 9], [8, 3], [11, 20], [5, -1], [7, 0], [np.nan, 4], [-np.inf, 1]]
    by_hand = (4 - 2) * (5 - 0) + (6 - 4) * (7 - 0) + (10 - 6) * (9 - 0)  # = 60
    assert hypervolume(points, [10, 0], [MIN, MAX]) == pytest.approx(by_hand, rel=1e-15)
    assert hypervolume(points, [10, 0], ["minimize", "maximize"]) == pytest.approx(60.0)
    assert hypervolume([[11, 20], [5, -1], [7, 0]], [10, 0], [MIN, MAX]) == 0.0
    assert hypervolume(np.empty((0, 2)), [10, 0], [MIN, MAX]) == 0.0
    assert hypervolume([], [10, 0], [MIN, MAX]) == 0.0


def test_as_losses_and_bad_inputs():
    losses = as_losses([[1.0, 2.0, 3.0]], [MIN, MAX, "maximize"])
    np.testing.assert_array_equal(losses, [[1.0, -2.0, -3.0]])
    with pytest.raises(ValueError, match="one column per direction"):
        as_losses([[1.0, 2.0]], [MIN])
    with pytest.raises(ValueError, match="finite values"):
        hypervolume([[1.0, 2.0]], [np.nan, 3.0], [MIN, MIN])
    with pytest.raises(ValueError, match="finite values"):
        hypervolume([[1.0, 2.0]], [3.0], [MIN, MIN])


@pytest.mark.parametrize("m, n", [(2, 60), (3, 40), (4, 25)])
def test_anytime_hypervolume_is_every_prefix_recomputed(m, n):
    points, reference, directions = random_problem(10 + m, n, m)
    points[[3, 11, 17]] = np.nan  # failed trials
    points[13, -1] = -np.inf if directions[-1] == MIN else np.inf  # not a result either
    points[5] = points[2]  # a repeat of an earlier trial
    points[8, 0] = reference[0] + (0.1 if directions[0] == MIN else -0.1)  # beyond the reference
    curve = anytime_hypervolume(points, reference, directions)
    assert curve.shape == (n,)
    grid = [grid_hypervolume(points[:k], reference, directions) for k in range(1, n + 1)]
    np.testing.assert_allclose(curve, grid, rtol=REL, atol=0)
    botorch = [botorch_hypervolume(points[:k], reference, directions) for k in range(1, n + 1)]
    np.testing.assert_allclose(curve, botorch, rtol=REL, atol=0)
    assert curve[3] == curve[2] and curve[5] == curve[4]  # failed and repeated rows carry over
    assert curve[13] == curve[12]


def test_anytime_hypervolume_starts_at_zero_and_handles_empty_input():
    curve = anytime_hypervolume([[np.nan, np.nan], [12, 1], [4, 4], [1, 9]], [10, 10], [MIN, MIN])
    np.testing.assert_allclose(curve, [0.0, 0.0, 36.0, 36.0 + 3 * 1])
    assert anytime_hypervolume(np.empty((0, 3)), [1, 1, 1], [MIN] * 3).shape == (0,)


def test_anytime_hypervolume_scales_to_thousands_of_trials():
    rng = np.random.default_rng(5)
    points = rng.uniform(0, 1, (3000, 4))
    curve = anytime_hypervolume(points, [1, 1, 1, 1], [MIN] * 4)
    assert np.all(np.diff(curve) >= 0) and 0.5 < curve[-1] < 1.0


@pytest.mark.parametrize("m, n", [(2, 40), (3, 40), (4, 12), (4, 50), (5, 60)])
@pytest.mark.parametrize("seed", range(3))
def test_nondominated_agrees_with_brute_force(seed, m, n):
    rng = np.random.default_rng(seed)
    directions = [MIN if d else MAX for d in rng.integers(0, 2, m)]
    points = rng.integers(0, 4, (n, m)).astype(float)  # many ties and duplicates
    points[rng.random(n) < 0.1, rng.integers(0, m)] = np.nan
    mask = nondominated(points, directions)
    expected = brute_nondominated(points, directions)
    np.testing.assert_array_equal(mask, expected)
    assert nondominated(np.full((3, m), np.nan), directions).tolist() == [False] * 3


def test_nondominated_keeps_only_the_first_duplicate():
    points = [[1, 1], [0, 2], [1, 1], [0, 2], [2, 0], [3, 3]]
    assert nondominated(points, [MIN, MIN]).tolist() == [True, True, False, False, True, False]
    assert nondominated(points, [MAX, MAX]).tolist() == [False] * 5 + [True]


def test_hypervolume_regret_sign():
    assert hypervolume_regret(7.5, 10.0) == 2.5
    assert hypervolume_regret(10.0, 10.0) == 0.0
    assert hypervolume_regret(11.0, 10.0) == -1.0


def better_or_equal(p: np.ndarray, z: np.ndarray, directions) -> bool:
    return all(a <= b if d == MIN else a >= b for a, b, d in zip(p, z, directions, strict=True))


def attaining_sets(z: np.ndarray, sets, directions) -> int:
    return sum(any(better_or_equal(p, z, directions) for p in s if np.isfinite(p).all())
               for s in sets)


@pytest.mark.parametrize("seed", range(8))
def test_attainment_surfaces_agree_with_a_brute_force_eaf(seed):
    rng = np.random.default_rng(seed)
    directions = [MIN if d else MAX for d in rng.integers(0, 2, 2)]
    sets = [rng.integers(0, 8, (rng.integers(1, 7), 2)).astype(float)
            for _ in range(rng.integers(3, 6))]
    sets[0][0] = np.nan  # a failed trial
    if seed % 4 == 0:
        sets[-1] = np.full((2, 2), np.nan)  # a repetition where every trial failed
    levels = (20.0, 25.0, 50.0, 75.0, 100.0)
    surfaces = attainment_surfaces(sets, directions, levels)
    assert list(surfaces) == list(levels)
    step = np.array([-0.5 if d == MIN else 0.5 for d in directions])
    values = [np.unique(np.r_[[v for s in sets for v in s[:, j] if np.isfinite(v)]])
              for j in range(2)]
    probes = [np.unique(np.r_[v, v + 0.5, v - 0.5]) for v in values]
    for level, corners in surfaces.items():
        needed = max(1, math.ceil(Fraction(len(sets)) * Fraction(level) / 100))
        assert corners.shape[1] == 2 and np.all(np.diff(corners[:, 0]) > 0)
        for z in corners:
            assert attaining_sets(z, sets, directions) >= needed
            for j in range(2):  # slightly better in either objective: no longer attained
                better = z.copy()
                better[j] += step[j]
                assert attaining_sets(better, sets, directions) < needed
        for z in itertools.product(*probes):  # the surface bounds exactly the attained region
            z = np.array(z)
            inside = any(better_or_equal(c, z, directions) for c in corners)
            assert inside == (attaining_sets(z, sets, directions) >= needed)


def test_attainment_surfaces_of_hand_worked_sets():
    # Two sets: with n = 2, 25% and 50% need 1 set (the union's front); 75% and 100% need both,
    # whose corners are the componentwise worse of one point from each set.
    a, b = [[1, 3], [3, 1]], [[2, 2]]
    surfaces = attainment_surfaces([a, b], [MIN, MIN], (25, 50, 75, 100))
    for level in (25.0, 50.0):
        np.testing.assert_array_equal(surfaces[level], [[1, 3], [2, 2], [3, 1]])
    for level in (75.0, 100.0):
        np.testing.assert_array_equal(surfaces[level], [[2, 3], [3, 2]])
    flipped = attainment_surfaces([[[1, -3], [3, -1]], [[2, -2]]], [MIN, MAX], (100,))
    np.testing.assert_array_equal(flipped[100.0], [[2, -3], [3, -2]])
    # Three sets: 50% needs 2 of them (ceil(1.5)); pairs' worse points, then their front.
    sets = [[[1, 5], [3, 3], [5, 1]], [[2, 4], [4, 2]], [[0, 6], [6, 0]]]
    median = attainment_surfaces(sets, [MIN, MIN], (50,))[50.0]
    np.testing.assert_array_equal(median, [[1, 6], [2, 5], [3, 4], [4, 3], [5, 2], [6, 1]])
    # Four sets, one all failed: 75% needs 3 sets, but only two have points.
    four = attainment_surfaces([a, b, [[np.nan, 1]], []], [MIN, MIN], (50, 75))
    np.testing.assert_array_equal(four[50.0], [[2, 3], [3, 2]])
    assert four[75.0].shape == (0, 2)
    with pytest.raises(ValueError, match="exactly 2 objectives"):
        attainment_surfaces([[[1, 2, 3]]], [MIN, MIN, MIN])
    with pytest.raises(ValueError, match="percentage"):
        attainment_surfaces([a], [MIN, MIN], (0,))


coordinate = st.integers(-16, 16).map(lambda v: v / 4)  # coarse: ties and duplicates happen


@st.composite
def point_sets(draw):
    m = draw(st.integers(2, 4))
    directions = draw(st.lists(st.sampled_from([MIN, MAX]), min_size=m, max_size=m))
    row = st.lists(coordinate, min_size=m, max_size=m)
    rows = draw(st.lists(row, min_size=0, max_size=12))
    extra = draw(row)
    reference = [3.0 if d == MIN else -3.0 for d in directions]  # some rows lie beyond it
    order = draw(st.permutations(range(len(rows))))
    repeats = draw(st.lists(st.sampled_from(range(len(rows))), max_size=5)) if rows else []
    return directions, reference, rows, extra, order, repeats


@settings(max_examples=150, deadline=None)
@given(point_sets())
def test_hypervolume_is_monotone_and_ignores_order_and_duplicates(problem):
    directions, reference, rows, extra, order, repeats = problem
    points = np.array(rows, dtype=float).reshape(-1, len(directions))
    value = hypervolume(points, reference, directions)
    assert value >= 0.0
    grown = hypervolume(np.vstack([points, extra]), reference, directions)
    assert grown >= value - 1e-12 * max(1.0, value)
    assert hypervolume(points[list(order)], reference, directions) == pytest.approx(value,
                                                                                     rel=1e-12,
                                                                                     abs=1e-12)
    doubled = np.vstack([points, points[repeats]])
    assert hypervolume(doubled, reference, directions) == pytest.approx(value, rel=1e-12,
                                                                        abs=1e-12)
